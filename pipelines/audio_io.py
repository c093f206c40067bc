"""Reading and writing single audio files: WAV, FLAC, OGG/Vorbis and MP3 through libsndfile.

Every reader returns float32 mono samples in [-1, 1], resampled when a rate is asked for::

    samples, rate = read_audio("clip.flac", sample_rate=16000)   # any channels, any rate
    header = audio_header("clip.flac")                            # frames, rate, ... (no decode)
    probe_audio("broken.wav")                                     # a header, or why not ("Format not recognised")
    wav = to_wav_bytes("clip.mp3", 16000)                         # what a served model's audio_bytes takes

Decoding is left to `soundfile` (libsndfile: PCM 8/16/24/32-bit and float WAV, FLAC, OGG/Vorbis and
Opus, MP3, AIFF, ...); resampling to `scipy.signal.resample_poly`, an anti-aliased polyphase filter.
This module only turns their output into one form and every failure into an error naming the file.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import wave
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from tfapps.apps.errors import DataError, InvalidArgumentError, NotFoundError

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioHeader",
    "audio_header",
    "encode_wav",
    "probe_audio",
    "read_audio",
    "resample",
    "to_wav_bytes",
]

# The suffixes the dataset readers look for beside a transcript; libsndfile reads by content, not name.
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".opus", ".mp3"})

_EXPECTED = "Expected WAV, FLAC, OGG or MP3 audio (anything libsndfile reads)"
_MISSING = "the file does not exist"
# soundfile raises LibsndfileError (a RuntimeError) for what libsndfile refuses; the others come from
# odd headers its Python side cannot map (an unknown format code) or from the operating system.
_SOUNDFILE_ERRORS = (RuntimeError, OSError, ValueError, TypeError, MemoryError)


@dataclasses.dataclass(frozen=True, slots=True)
class AudioHeader:
    """What an audio file's header says, read without decoding the samples.

    Attributes:
        frames: samples per channel (an estimate for some MP3 files).
        sample_rate: samples per second.
        channels: the number of channels.
        duration_seconds: `frames / sample_rate`.
        format: libsndfile's container name, e.g. "WAV", "FLAC", "OGG", "MP3".
        subtype: libsndfile's encoding name, e.g. "PCM_16", "PCM_24", "FLOAT", "VORBIS", "MPEG_LAYER_III".
    """

    frames: int
    sample_rate: int
    channels: int
    duration_seconds: float
    format: str
    subtype: str


def audio_header(path: str | os.PathLike[str]) -> AudioHeader:
    """Read an audio file's header (cheap: no samples are decoded).

    A file with a valid header but no samples has `frames == 0`; it is not an error here (the
    caller decides), while `read_audio` refuses it.

    Args:
        path: the audio file.

    Returns:
        The `AudioHeader`.

    Raises:
        NotFoundError: the file does not exist.
        DataError: the file cannot be read as audio (the message names the file and gives
            libsndfile's reason).

    Example:
        >>> audio_header("recordings/0_george_0.wav")
        AudioHeader(frames=3495, sample_rate=8000, channels=1, duration_seconds=0.436875, format='WAV', subtype='PCM_16')
    """
    file = _checked_file(path)
    header = _header(file)
    if isinstance(header, str):
        raise _unreadable(file, header)
    return header


def probe_audio(path: str | os.PathLike[str]) -> AudioHeader | str:
    """The file's `AudioHeader`, or why it cannot be read (never raises).

    For readers that check many files and report the bad ones instead of stopping at the first.

    Args:
        path: the audio file.

    Returns:
        The `AudioHeader`, or a short reason such as "the file does not exist", "the file is empty
        (0 bytes)" or libsndfile's "Format not recognised".
    """
    if not isinstance(path, str | os.PathLike) or not str(path):
        return f"no audio file given (path={path!r})"
    file = Path(path).expanduser()
    problem = _file_problem(file)
    return problem if problem else _header(file)


def read_audio(path: str | os.PathLike[str], sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 mono samples in [-1, 1].

    Integer PCM is scaled by libsndfile (16-bit: `value / 32768`); float samples outside [-1, 1]
    are clipped. Several channels are averaged into one. When `sample_rate` is given and differs
    from the file's, the samples are resampled (`resample`).

    Args:
        path: the audio file (WAV, FLAC, OGG, MP3 or any other format libsndfile reads).
        sample_rate: the rate to return, in samples per second; None keeps the file's rate.

    Returns:
        `(samples, rate)`: a 1-D float32 array and the rate it is sampled at.

    Raises:
        NotFoundError: the file does not exist.
        DataError: the file cannot be decoded, holds no samples, or holds non-finite samples.
        InvalidArgumentError: `sample_rate` is not a positive whole number.

    Example:
        >>> samples, rate = read_audio("recordings/0_george_0.wav", sample_rate=16000)
        >>> samples.dtype, samples.shape, rate
        (dtype('float32'), (6990,), 16000)
    """
    if sample_rate is not None:
        sample_rate = _checked_rate("sample_rate", sample_rate)
    file = _checked_file(path)
    try:
        data, rate = soundfile.read(str(file), dtype="float32", always_2d=True)
    except _SOUNDFILE_ERRORS as error:
        raise _unreadable(file, _reason(error)) from error
    if data.shape[0] == 0:
        raise _unreadable(file, "it holds no audio (0 frames)")
    if rate <= 0:
        raise _unreadable(file, f"its header gives {rate} samples per second")
    samples = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    if not np.isfinite(samples).all():
        raise _unreadable(file, "it holds non-finite samples (NaN or infinity)")
    samples = np.clip(samples, -1.0, 1.0)
    if sample_rate is not None and sample_rate != rate:
        samples, rate = resample(samples, rate, sample_rate), sample_rate
    return np.ascontiguousarray(samples, dtype=np.float32), int(rate)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample 1-D audio with an anti-aliased polyphase filter (`scipy.signal.resample_poly`).

    The rate ratio is reduced to whole up/down factors (44100 → 16000 is up 160, down 441); the
    result has `ceil(len(samples) * to_rate / from_rate)` samples, clipped to [-1, 1] (filter ringing
    can overshoot a full-scale input slightly).

    Args:
        samples: 1-D samples.
        from_rate: their rate, in samples per second.
        to_rate: the rate wanted.

    Returns:
        A 1-D float32 array (`samples` as float32 when the rates are equal).

    Raises:
        InvalidArgumentError: a rate that is not a positive whole number, or `samples` not 1-D.
    """
    from_rate = _checked_rate("from_rate", from_rate)
    to_rate = _checked_rate("to_rate", to_rate)
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise InvalidArgumentError(
            f"resample takes 1-D (mono) samples. Received: samples.shape={samples.shape}"
        )
    if from_rate == to_rate or samples.size == 0:
        return samples
    divisor = math.gcd(from_rate, to_rate)
    resampled = resample_poly(samples, to_rate // divisor, from_rate // divisor)
    return np.clip(resampled, -1.0, 1.0).astype(np.float32, copy=False)


def encode_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """Encode mono samples as 16-bit PCM WAV bytes.

    Samples are clipped to [-1, 1] and rounded to `round(x * 32768)` (capped at 32767), so that
    reading the bytes back (`x / 32768`) gives every sample within 1/32768 of what was encoded.

    Args:
        samples: 1-D float samples (an `[T, 1]` array is taken as 1-D).
        sample_rate: their rate, in samples per second.

    Returns:
        The bytes of a RIFF/WAVE file: PCM, 1 channel, 16 bits.

    Raises:
        InvalidArgumentError: samples that are not 1-D, not floating point or not finite, or a bad
            `sample_rate`.

    Example:
        >>> wav = encode_wav(np.zeros(16000, np.float32), 16000)
        >>> len(wav)
        32044
    """
    sample_rate = _checked_rate("sample_rate", sample_rate)
    array = np.asarray(samples)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    # Integer PCM would silently clip to +-1: say how to scale it instead.
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.floating):
        raise InvalidArgumentError(
            f"encode_wav takes 1-D (mono) float samples in [-1, 1] (divide 16-bit PCM by 32768). "
            f"Received: samples.shape={array.shape}, dtype={array.dtype}"
        )
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise InvalidArgumentError(
            "encode_wav takes finite samples. Received: samples holding NaN or infinity"
        )
    pcm = np.clip(np.round(np.clip(array, -1.0, 1.0) * 32768.0), -32768, 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm.tobytes())
    return buffer.getvalue()


def to_wav_bytes(path: str | os.PathLike[str], sample_rate: int) -> bytes:
    """Read any audio file and encode it as 16-bit PCM mono WAV bytes at `sample_rate`.

    This is what a served speech model's `audio_bytes` input expects (`read_audio`, then
    `encode_wav`).

    Raises:
        NotFoundError, DataError, InvalidArgumentError: as `read_audio`.
    """
    samples, rate = read_audio(path, sample_rate)
    return encode_wav(samples, rate)


# ------------------------------------------------------------------------------------ helpers


def _checked_rate(argument: str, rate: int) -> int:
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or rate <= 0:
        raise InvalidArgumentError(
            f"{argument} must be a positive whole number of samples per second. Received: {argument}={rate!r}"
        )
    return int(rate)


def _checked_file(path: str | os.PathLike[str]) -> Path:
    """`path` as a `Path`, after checking that it is a non-empty file."""
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise InvalidArgumentError(f"No audio file given. {_EXPECTED}. Received: path={path!r}")
    file = Path(path).expanduser()
    problem = _file_problem(file)
    if problem == _MISSING:
        raise NotFoundError(f"Audio file '{file}' does not exist. {_EXPECTED}. Received: path='{path}'")
    if problem:
        raise _unreadable(file, problem)
    return file


def _file_problem(file: Path) -> str:
    """Why `file` cannot hold audio before any decoding ("" when it may): missing, a folder, empty."""
    try:
        stat = file.stat()
    except FileNotFoundError:
        return _MISSING
    except OSError as error:
        return f"{type(error).__name__}: {error.strerror or error}"
    if file.is_dir():
        return "it is a folder"
    if stat.st_size == 0:
        return "the file is empty (0 bytes)"
    return ""


def _header(file: Path) -> AudioHeader | str:
    """The header of an existing file, or libsndfile's reason it cannot be read."""
    try:
        info = soundfile.info(str(file))
    except _SOUNDFILE_ERRORS as error:
        return _reason(error)
    if info.samplerate <= 0 or info.channels <= 0:
        return f"its header gives {info.samplerate} samples per second and {info.channels} channels"
    return AudioHeader(
        frames=int(info.frames),
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        duration_seconds=float(info.frames) / info.samplerate,
        format=str(info.format),
        subtype=str(info.subtype),
    )


def _reason(error: BaseException) -> str:
    """libsndfile's own words ("Format not recognised"), else the exception's."""
    reason = getattr(error, "error_string", "") or str(error) or type(error).__name__
    return str(reason).strip().rstrip(".")


def _unreadable(file: Path, reason: str) -> DataError:
    return DataError(f"Cannot read audio file '{file}': {reason}. {_EXPECTED}. Received: path='{file}'")
