"""Single audio files: PCM 8/16/24/32-bit and float WAV, FLAC, OGG and MP3 round trips, channel
averaging, polyphase resampling (frequency, length, anti-aliasing), broken files, headers and WAV
encoding. Every file is generated here with soundfile; expected values come from what was written."""

from __future__ import annotations

import io
import math
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tfapps.apps.errors import DataError, InvalidArgumentError, NotFoundError
from tfapps.pipelines.audio_io import (
    AudioHeader,
    audio_header,
    encode_wav,
    probe_audio,
    read_audio,
    resample,
    to_wav_bytes,
)


def sine(frequency: float, rate: int, seconds: float = 0.5, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def peak_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def noise(count: int = 4000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.9, 0.9, count).astype(np.float32)


# --- lossless round trips ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "subtype", "tolerance"),
    [
        (".wav", "PCM_U8", 2 / 2**7),
        (".wav", "PCM_16", 2 / 2**15),
        (".wav", "PCM_24", 2 / 2**23),
        (".wav", "PCM_32", 2 / 2**31),
        (".wav", "FLOAT", 0.0),
        (".wav", "DOUBLE", 1e-7),
        (".flac", "PCM_16", 2 / 2**15),
        (".flac", "PCM_24", 2 / 2**23),
    ],
)
def test_lossless_files_round_trip(tmp_path, suffix, subtype, tolerance):
    written = noise()
    path = tmp_path / f"clip{suffix}"
    soundfile.write(path, written, 16000, subtype=subtype)
    samples, rate = read_audio(path)
    assert rate == 16000
    assert samples.dtype == np.float32 and samples.shape == written.shape
    np.testing.assert_allclose(samples, written, rtol=0, atol=tolerance)


@pytest.mark.parametrize(("suffix", "subtype"), [(".ogg", "VORBIS"), (".mp3", "MPEG_LAYER_III")])
def test_lossy_files_keep_the_tone(tmp_path, suffix, subtype):
    written = sine(440.0, 16000, seconds=1.0)
    path = tmp_path / f"tone{suffix}"
    soundfile.write(path, written, 16000, subtype=subtype)
    samples, rate = read_audio(path)
    assert rate == 16000
    assert abs(peak_frequency(samples, rate) - 440.0) <= 2.0
    # Compare the steady middle: codecs shift and smear the start (encoder delay, priming).
    assert abs(len(samples) - len(written)) < 2000
    middle = samples[4000:12000]
    assert 0.3 < np.sqrt(np.mean(middle**2)) / np.sqrt(np.mean(written**2)) < 1.5
    if subtype == "VORBIS":
        assert np.corrcoef(samples[: len(written)][4000:12000], written[4000:12000])[0, 1] > 0.95


def test_channels_are_averaged(tmp_path):
    left, right = noise(seed=1) * 0.5, noise(seed=2) * 0.5
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 22050, subtype="FLOAT")
    samples, rate = read_audio(path)
    assert rate == 22050 and samples.shape == left.shape
    np.testing.assert_allclose(samples, (left + right) / 2, atol=1e-7)
    assert audio_header(path).channels == 2


def test_float_samples_are_clipped_and_non_finite_refused(tmp_path):
    path = tmp_path / "loud.wav"
    soundfile.write(path, np.array([0.5, 1.5, -2.0, 0.25], np.float32), 8000, subtype="FLOAT")
    samples, _ = read_audio(path)
    np.testing.assert_array_equal(samples, [0.5, 1.0, -1.0, 0.25])
    bad = tmp_path / "nan.wav"
    soundfile.write(bad, np.array([0.5, np.nan, 0.0], np.float32), 8000, subtype="FLOAT")
    with pytest.raises(DataError, match=r"nan\.wav.*non-finite"):
        read_audio(bad)


# --- resampling ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("file_rate", "frequency"), [(8000, 440.0), (44100, 1000.0), (16000, 300.0)])
def test_resampling_keeps_frequency_and_length(tmp_path, file_rate, frequency):
    path = tmp_path / "tone.wav"
    soundfile.write(path, sine(frequency, file_rate, seconds=1.0), file_rate, subtype="PCM_16")
    samples, rate = read_audio(path, sample_rate=16000)
    assert rate == 16000
    assert samples.dtype == np.float32
    assert len(samples) == 16000  # one second either way
    assert abs(peak_frequency(samples, rate) - frequency) <= 1.0
    # The amplitude survives (away from the edges, where the filter starts up).
    assert abs(np.abs(samples[2000:-2000]).max() - 0.5) < 0.02


def test_resample_lengths_and_anti_aliasing():
    assert len(resample(np.zeros(441, np.float32), 44100, 16000)) == 160
    assert len(resample(np.zeros(1000, np.float32), 8000, 16000)) == 2000
    assert len(resample(np.zeros(1001, np.float32), 48000, 16000)) == math.ceil(1001 / 3)
    same = resample([0.1, 0.2], 16000, 16000)
    assert same.dtype == np.float32 and same.tolist() == pytest.approx([0.1, 0.2])
    # A 12 kHz tone is above the 8 kHz Nyquist limit of 16 kHz: the filter removes it rather than
    # folding it down to 4 kHz, while a 6 kHz tone passes.
    passed = resample(sine(6000.0, 44100, seconds=0.5), 44100, 16000)
    blocked = resample(sine(12000.0, 44100, seconds=0.5), 44100, 16000)
    assert np.sqrt(np.mean(passed[500:-500] ** 2)) > 0.3
    assert np.sqrt(np.mean(blocked[500:-500] ** 2)) < 0.01


def test_resample_arguments():
    with pytest.raises(InvalidArgumentError, match=r"Received: to_rate=0"):
        resample(np.zeros(10), 16000, 0)
    with pytest.raises(InvalidArgumentError, match=r"Received: from_rate=True"):
        resample(np.zeros(10), True, 16000)
    with pytest.raises(InvalidArgumentError, match=r"1-D.*Received: samples.shape=\(2, 5\)"):
        resample(np.zeros((2, 5)), 8000, 16000)


# --- broken files --------------------------------------------------------------------------------


def test_text_file_named_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n")
    with pytest.raises(
        DataError, match=r"Cannot read audio file '.*notes\.wav': Format not recognised\. Expected WAV"
    ):
        read_audio(path)
    with pytest.raises(DataError, match=r"notes\.wav.*Format not recognised"):
        audio_header(path)
    assert probe_audio(path) == "Format not recognised"


def test_corrupt_and_truncated_files(tmp_path):
    good = tmp_path / "good.wav"
    soundfile.write(good, noise(), 16000, subtype="PCM_16")
    data = good.read_bytes()
    broken = tmp_path / "broken.wav"
    broken.write_bytes(data[:12] + b"\xff" * 40 + data[52:])  # RIFF/WAVE, then a garbled fmt chunk
    with pytest.raises(DataError, match=r"Cannot read audio file '.*broken\.wav': .+\. Expected"):
        read_audio(broken)
    assert isinstance(probe_audio(broken), str)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[:30])  # inside the header
    with pytest.raises(DataError, match=r"cut\.wav"):
        read_audio(cut)


def test_empty_files(tmp_path):
    zero_bytes = tmp_path / "zero.wav"
    zero_bytes.write_bytes(b"")
    with pytest.raises(DataError, match=r"'.*zero\.wav': the file is empty \(0 bytes\)"):
        read_audio(zero_bytes)
    no_frames = tmp_path / "silent.wav"
    soundfile.write(no_frames, np.zeros(0, np.float32), 16000, subtype="PCM_16")
    with pytest.raises(DataError, match=r"'.*silent\.wav': it holds no audio \(0 frames\)"):
        read_audio(no_frames)
    # A header without samples is a valid header: the caller decides.
    assert audio_header(no_frames).frames == 0


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(NotFoundError, match=r"'.*absent\.wav' does not exist.*Received: path="):
        read_audio(tmp_path / "absent.wav")
    with pytest.raises(NotFoundError, match=r"absent\.wav"):
        audio_header(tmp_path / "absent.wav")
    assert probe_audio(tmp_path / "absent.wav") == "the file does not exist"
    with pytest.raises(DataError, match=r"it is a folder"):
        read_audio(tmp_path)
    with pytest.raises(InvalidArgumentError, match=r"Received: path=None"):
        read_audio(None)
    path = tmp_path / "ok.wav"
    soundfile.write(path, noise(100), 8000)
    with pytest.raises(InvalidArgumentError, match=r"Received: sample_rate=-1"):
        read_audio(path, sample_rate=-1)


# --- headers -------------------------------------------------------------------------------------


def test_audio_header_fields(tmp_path):
    path = tmp_path / "clip.flac"
    soundfile.write(path, np.zeros((24000, 2), np.float32), 48000, subtype="PCM_24")
    assert audio_header(path) == AudioHeader(
        frames=24000, sample_rate=48000, channels=2, duration_seconds=0.5, format="FLAC", subtype="PCM_24"
    )
    assert probe_audio(path) == audio_header(path)
    wav = tmp_path / "clip.wav"
    soundfile.write(wav, np.zeros(8000, np.float32), 8000, subtype="PCM_16")
    header = audio_header(wav)
    assert (header.frames, header.sample_rate, header.channels) == (8000, 8000, 1)
    assert (header.format, header.subtype, header.duration_seconds) == ("WAV", "PCM_16", 1.0)


# --- encoding ------------------------------------------------------------------------------------


def test_encode_wav_round_trip_and_header():
    written = noise(3000) * 1.05  # a few samples beyond full scale: clipped
    data = encode_wav(written, 16000)
    with wave.open(io.BytesIO(data)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, 16000)
        assert reader.getnframes() == 3000
        assert reader.getcomptype() == "NONE"
    decoded, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    assert rate == 16000
    np.testing.assert_allclose(decoded, np.clip(written, -1, 1), rtol=0, atol=1 / 32768)
    assert len(data) == 44 + 2 * 3000
    assert encode_wav(written[:, None], 16000) == data  # [T, 1] is mono too


def test_encode_wav_full_scale_and_arguments():
    data = encode_wav(np.array([-1.0, 1.0, 0.0, 0.5]), 8000)
    pcm = np.frombuffer(data[44:], "<i2")
    assert pcm.tolist() == [-32768, 32767, 0, 16384]
    with pytest.raises(InvalidArgumentError, match=r"Received: samples.shape=\(4, 2\)"):
        encode_wav(np.zeros((4, 2)), 8000)
    with pytest.raises(InvalidArgumentError, match=r"divide 16-bit PCM by 32768.*dtype=int16"):
        encode_wav(np.zeros(4, np.int16), 8000)
    with pytest.raises(InvalidArgumentError, match=r"NaN"):
        encode_wav(np.array([0.0, np.nan]), 8000)
    with pytest.raises(InvalidArgumentError, match=r"Received: sample_rate=0"):
        encode_wav(np.zeros(4), 0)


def test_to_wav_bytes_converts_any_file(tmp_path):
    path = tmp_path / "stereo.flac"
    tone = sine(500.0, 44100, seconds=1.0)
    soundfile.write(path, np.stack([tone, tone], axis=1), 44100, subtype="PCM_16")
    data = to_wav_bytes(path, 16000)
    decoded, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    assert rate == 16000 and decoded.ndim == 1 and len(decoded) == 16000
    assert abs(peak_frequency(decoded, rate) - 500.0) <= 1.0
    np.testing.assert_allclose(decoded, read_audio(path, 16000)[0], atol=1 / 32768)


# --- module hygiene and shared data --------------------------------------------------------------


def test_importing_does_not_import_tensorflow():
    code = "import sys, tfapps.pipelines.audio_io; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


FSDD = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "datasets"
    / "speech_recognition"
    / "free_spoken_digit_dataset"
)


@pytest.mark.shared_data
def test_shared_free_spoken_digit_clips():
    clips = sorted((FSDD / "recordings").glob("*.wav"))
    assert len(clips) == 3000
    for clip in clips[:20]:
        header = audio_header(clip)
        assert (header.sample_rate, header.channels, header.subtype) == (8000, 1, "PCM_16")
        samples, rate = read_audio(clip, sample_rate=16000)
        assert rate == 16000 and len(samples) == 2 * header.frames
        assert 0 < np.abs(samples).max() <= 1.0
