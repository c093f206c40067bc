"""Speech preprocessing shared by the tf.data pipeline and the serving graph: WAV decoding,
band-limited resampling, log-mel features, SpecAugment, CTC decoding and a character vocabulary.

Everything here is built from core TensorFlow ops (`DecodeWav`, `GatherV2`, `RFFT`,
`CTCGreedyDecoder`, `CTCBeamSearchDecoder`, `UnicodeDecode`, `LowerBound`, ...; no `PyFunc`, no
XLA-only ops), so a SavedModel that takes WAV bytes and returns transcripts runs in stock
`tensorflow_model_server`. Every function and layer works on a variable batch and variable
length (`None` dimensions), eagerly, in a `tf.data` map and in a `tf.function`.

Audio travels as zero-padded float32 samples `[batch, time]` in [-1, 1) with each clip's length
`[batch]` (int32); features as `[batch, frames, mels]` with each utterance's number of frames.
Padding never changes a clip's own results: a clip gives the same samples, features and decodes
alone as in a batch with longer clips.

Example:
    >>> samples, lengths = decode_wav_batch(wav_bytes, sample_rate=16000)
    >>> features, feature_lengths = LogMelSpectrogram(16000)(samples, lengths)
    >>> logits = acoustic_model(features)  # [batch, frames, len(alphabet) + 1], blank last
    >>> ids, scores = ctc_greedy_decode(logits, feature_lengths)
    >>> transcripts = CharacterVocabulary(alphabet).decode(ids)  # [batch] UTF-8 strings
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np
import tensorflow as tf

from tfapps.models.checks import check_positive_int
from tfapps.models.preprocessing.strings import checked_string_vector

__all__ = [
    "CharacterVocabulary",
    "LogMelSpectrogram",
    "SpecAugment",
    "ctc_beam_decode",
    "ctc_greedy_decode",
    "decode_wav_batch",
    "decode_wav_batch_with_rates",
    "resample",
]

# --- resampling filter ---------------------------------------------------------------------------
# Windowed sinc with 16 zero crossings each side and a Kaiser window (beta 8): the pass band is flat
# to within 1% up to 0.40 of the lower rate, the stop band is below -55 dB from 0.514 of it and
# below -80 dB from 0.55, so almost nothing aliases. The cutoff sits at 0.9 of the lower Nyquist
# frequency to leave room for the window's transition band.
_ZERO_CROSSINGS = 16
_ROLLOFF = 0.9
_KAISER_BETA = 8.0
# Elements (batch x outputs x taps) gathered per step: bounds resample's working memory (a few
# hundred MB at most, whatever the batch and clip length) at little cost in speed.
_RESAMPLE_CHUNK_ELEMENTS = 1 << 21

# --- CTC -----------------------------------------------------------------------------------------
# Log-probability of the non-blank classes in the all-blank frames appended before beam search
# (see ctc_beam_decode); a path that needs one of them scores below _IMPOSSIBLE_SCORE.
_EXCLUDED_LOG_PROB = -1e9
_IMPOSSIBLE_SCORE = -5e8

_LOG_OFFSET = 1e-6
_NORMALIZE_EPSILON = 1e-5


# --- helpers -------------------------------------------------------------------------------------


def _float_matrix(values, name: str, function: str) -> tf.Tensor:
    values = tf.convert_to_tensor(values)
    if not values.dtype.is_floating:
        raise ValueError(f"{function} expects float {name}. Received: {name}.dtype={values.dtype.name}")
    if values.shape.rank is not None and values.shape.rank != 2:
        raise ValueError(f"{function} expects {name} of shape [batch, time]. Received: shape={values.shape}")
    return tf.cast(values, tf.float32)


def _int_vector(values, name: str, function: str) -> tf.Tensor:
    values = tf.convert_to_tensor(values)
    if not values.dtype.is_integer:
        raise ValueError(f"{function} expects integer {name}. Received: {name}.dtype={values.dtype.name}")
    if values.shape.rank is not None and values.shape.rank != 1:
        raise ValueError(f"{function} expects {name} of shape [batch]. Received: shape={values.shape}")
    return tf.cast(values, tf.int32)


def _check_lengths(lengths: tf.Tensor, width: tf.Tensor, name: str, function: str) -> tf.Tensor:
    """`lengths` with in-graph checks that each is in [0, width]."""
    with tf.control_dependencies(
        [
            tf.debugging.assert_non_negative(lengths, message=f"{function}: {name} must be >= 0."),
            tf.debugging.assert_less_equal(
                lengths,
                tf.cast(width, lengths.dtype),
                message=f"{function}: {name} must not exceed the padded time dimension.",
            ),
        ]
    ):
        return tf.identity(lengths)


def _length_mask(lengths: tf.Tensor, width) -> tf.Tensor:
    """`[batch, width]` bool: True at the positions before each row's length."""
    return tf.sequence_mask(lengths, maxlen=width)


def _ceil_div(numerator: tf.Tensor, denominator: tf.Tensor) -> tf.Tensor:
    return (numerator + denominator - 1) // denominator


def _check_non_negative_int(**kwargs) -> None:
    for name, value in kwargs.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer. Received: {name}={value!r}")


def _check_positive_number(**kwargs) -> None:
    for name, value in kwargs.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ValueError(f"{name} must be a positive number. Received: {name}={value!r}")


# --- WAV decoding --------------------------------------------------------------------------------


def decode_wav_batch_with_rates(wav_bytes) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Decode a batch of WAV files at their own sample rates (pass the rates on to `resample`).

    Args:
        wav_bytes: string tensor `[batch]` of WAV files, 16-bit PCM (what `tf.audio.decode_wav`
            reads); several channels are averaged to mono.

    Returns:
        `(samples, lengths, sample_rates)`: float32 `[batch, time]` in [-1, 1), zero-padded to the
        longest clip; int32 `[batch]` numbers of samples; int32 `[batch]` sample rates in Hz.

    Raises:
        ValueError: for input that is not a string vector.
        InvalidArgumentError: (at run time) for bytes that are not a 16-bit PCM WAV file.
    """
    wav_bytes = checked_string_vector(wav_bytes, "decode_wav_batch")

    def decode_one(contents):
        audio, rate = tf.audio.decode_wav(contents)  # [samples, channels]
        return tf.reduce_mean(audio, axis=1), rate

    samples, rates = tf.map_fn(
        decode_one,
        wav_bytes,
        fn_output_signature=(
            tf.RaggedTensorSpec(shape=[None], dtype=tf.float32, ragged_rank=0),
            tf.TensorSpec([], tf.int32),
        ),
    )
    lengths = tf.cast(samples.row_lengths(), tf.int32)
    return samples.to_tensor(0.0), lengths, rates


def decode_wav_batch(wav_bytes, sample_rate: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Decode a batch of 16-bit PCM WAV files recorded at `sample_rate` into padded samples.

    Args:
        wav_bytes: string tensor `[batch]` of WAV files (`tf.audio.decode_wav`: 16-bit PCM);
            several channels are averaged to mono.
        sample_rate: the rate every clip must have, in Hz.

    Returns:
        `(samples, lengths)`: float32 `[batch, time]` in [-1, 1), zero-padded to the longest clip
        (an empty batch gives `[0, 0]`), and int32 `[batch]` numbers of samples.

    Raises:
        ValueError: for a bad `sample_rate` or input that is not a string vector.
        InvalidArgumentError: (at run time) for a clip at another rate ("Expected 16-bit PCM mono
            WAV at 16000 Hz. Received: sample_rate=44100") or bytes that are no 16-bit PCM WAV.

    Example:
        >>> samples, lengths = decode_wav_batch(tf.constant([wav_1s, wav_2s]), 16000)
        >>> samples.shape, lengths.numpy().tolist()
        (TensorShape([2, 32000]), [16000, 32000])
    """
    check_positive_int(sample_rate=sample_rate)
    samples, lengths, rates = decode_wav_batch_with_rates(wav_bytes)
    wrong = tf.not_equal(rates, sample_rate)
    received = tf.strings.reduce_join(tf.strings.as_string(tf.boolean_mask(rates, wrong)[:1]))
    check = tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(wrong)),
        [
            tf.strings.join(
                [
                    f"Expected 16-bit PCM mono WAV at {sample_rate} Hz (resample the audio first). "
                    "Received: sample_rate=",
                    received,
                ]
            )
        ],
    )
    with tf.control_dependencies([check]):
        return tf.identity(samples), tf.identity(lengths)


# --- resampling ----------------------------------------------------------------------------------


def _kaiser(x: tf.Tensor, half_width: tf.Tensor) -> tf.Tensor:
    """The Kaiser window at `x` for a window spanning [-half_width, half_width] (0 outside)."""
    ratio = x / half_width
    inside = tf.abs(ratio) < 1.0
    argument = _KAISER_BETA * tf.sqrt(tf.maximum(1.0 - tf.square(ratio), 0.0))
    # I0(a) / I0(beta) through the exponentially scaled i0e, which does not overflow.
    window = (
        tf.math.bessel_i0e(argument)
        * tf.exp(argument - _KAISER_BETA)
        / tf.math.bessel_i0e(tf.constant(_KAISER_BETA, tf.float32))
    )
    return tf.where(inside, window, 0.0)


def _resample_rows(samples, lengths, rate_in, rate_out: int, out_width):
    """Windowed-sinc interpolation of every row at output times n * rate_in / rate_out."""
    batch = tf.shape(samples, out_type=tf.int64)[0]
    width = tf.shape(samples, out_type=tf.int64)[1]
    identity = tf.equal(rate_in, rate_out)
    # Kernel scale: the cutoff relative to the input's Nyquist frequency.
    scale = tf.cast(tf.minimum(rate_in, rate_out) / rate_in, tf.float32) * _ROLLOFF
    min_scale = tf.reduce_min(tf.concat([tf.where(identity, _ROLLOFF, scale), [_ROLLOFF]], axis=0))
    half = tf.cast(tf.math.ceil(_ZERO_CROSSINGS / min_scale), tf.int64)
    taps = 2 * half + 2  # covers x in [frac - half - 1, frac + half], so all of |x| < Z / scale
    offsets = tf.range(taps, dtype=tf.int64) - half
    # x = input position - input sample = frac + half - j, exactly, however long the clip.
    distance_base = tf.cast(half - tf.range(taps, dtype=tf.int64), tf.float32)
    chunk = tf.maximum(_RESAMPLE_CHUNK_ELEMENTS // (tf.maximum(batch, 1) * taps), 1)
    num_chunks = _ceil_div(out_width, chunk)
    lengths64 = tf.cast(lengths, tf.int64)
    scale_ = scale[:, None, None]
    half_width = _ZERO_CROSSINGS / scale_

    def step(index, outputs):
        n = index * chunk + tf.range(chunk, dtype=tf.int64)  # [chunk]
        numerator = n[None, :] * rate_in[:, None]  # [batch, chunk]
        base = numerator // rate_out
        frac = tf.cast(numerator % rate_out, tf.float32) / float(rate_out)
        sources = base[:, :, None] + offsets  # [batch, chunk, taps]
        valid = (sources >= 0) & (sources < lengths64[:, None, None])
        gathered = tf.gather(samples, tf.clip_by_value(sources, 0, tf.maximum(width - 1, 0)), batch_dims=1)
        x = frac[:, :, None] + distance_base
        argument = math.pi * scale_ * x
        sinc = tf.where(tf.equal(x, 0.0), 1.0, tf.sin(argument) / tf.where(tf.equal(x, 0.0), 1.0, argument))
        weights = scale_ * sinc * _kaiser(x, half_width)
        values = tf.reduce_sum(tf.where(valid, gathered * weights, 0.0), axis=-1)
        return index + 1, outputs.write(tf.cast(index, tf.int32), values)

    _, outputs = tf.while_loop(
        lambda index, _: index < num_chunks,
        step,
        (
            tf.constant(0, tf.int64),
            tf.TensorArray(tf.float32, size=tf.cast(num_chunks, tf.int32), element_shape=[None, None]),
        ),
    )
    stacked = outputs.stack()  # [chunks, batch, chunk]
    flat = tf.reshape(tf.transpose(stacked, [1, 0, 2]), tf.stack([batch, num_chunks * chunk]))
    return flat[:, :out_width]


def resample(samples, lengths, rate_in, rate_out: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Band-limited resampling of padded clips, each from its own rate to `rate_out`.

    Output sample n is the input's windowed-sinc interpolation at input position
    `n * rate_in / rate_out` (a Kaiser-windowed sinc with 16 zero crossings each side, cut off
    at 0.9 of the lower rate's Nyquist frequency, so downsampling does not alias). Samples past a
    clip's length count as silence; rows already at `rate_out` come back unchanged.

    Args:
        samples: float `[batch, time]`, zero-padded.
        lengths: integer `[batch]` numbers of valid samples.
        rate_in: integer sample rate(s) of the input in Hz: a scalar, or `[batch]` (one per row).
        rate_out: the output sample rate in Hz.

    Returns:
        `(samples, lengths)`: float32 `[batch, time_out]` and int32 `[batch]`, with
        `lengths_out = ceil(lengths * rate_out / rate_in)` and `time_out` the padded `time`
        converted at the lowest input rate (so a batch already at `rate_out` keeps its shape).

    Raises:
        ValueError: for a bad `rate_out` or mistyped inputs.
        InvalidArgumentError: (at run time) for a non-positive `rate_in` or lengths outside
            [0, time].

    Example:
        >>> samples, lengths, rates = decode_wav_batch_with_rates(wav_bytes)
        >>> samples, lengths = resample(samples, lengths, rates, 16000)
    """
    check_positive_int(rate_out=rate_out)
    rate_out = int(rate_out)
    samples = _float_matrix(samples, "samples", "resample")
    lengths = _int_vector(lengths, "lengths", "resample")
    rate_in = tf.convert_to_tensor(rate_in)
    if not rate_in.dtype.is_integer:
        raise ValueError(f"resample expects integer rate_in. Received: rate_in.dtype={rate_in.dtype.name}")
    if rate_in.shape.rank is not None and rate_in.shape.rank > 1:
        raise ValueError(f"resample expects rate_in as a scalar or [batch]. Received: shape={rate_in.shape}")
    batch = tf.shape(samples)[0]
    width = tf.shape(samples, out_type=tf.int64)[1]
    lengths = _check_lengths(lengths, width, "lengths", "resample")
    rate_in = tf.cast(rate_in, tf.int64)
    with tf.control_dependencies(
        [tf.debugging.assert_positive(rate_in, message="resample: sample rates must be positive.")]
    ):
        rate_in = tf.broadcast_to(rate_in, tf.reshape(batch, [1]))

    out_lengths = _ceil_div(tf.cast(lengths, tf.int64) * rate_out, rate_in)
    out_width = tf.reduce_max(tf.concat([_ceil_div(width * rate_out, rate_in), [0]], axis=0))
    valid = _length_mask(lengths, width)
    samples = tf.where(valid, samples, 0.0)
    identity = tf.equal(rate_in, rate_out)
    # Rows already at rate_out, padded to out_width (cut only when no row is at rate_out, and then
    # unused: the shapes must agree for the selection below).
    grow = tf.cast(tf.maximum(out_width - width, 0), tf.int32)
    unchanged = tf.pad(samples, [[0, 0], [0, grow]])[:, :out_width]
    resampled = tf.cond(
        tf.reduce_all(identity),
        lambda: unchanged,
        lambda: _resample_rows(samples, lengths, rate_in, rate_out, out_width),
    )
    resampled = tf.where(identity[:, None], unchanged, resampled)
    resampled = tf.where(_length_mask(out_lengths, out_width), resampled, 0.0)
    return resampled, tf.cast(out_lengths, tf.int32)


# --- log-mel features ----------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="tfapps")
class LogMelSpectrogram(keras.layers.Layer):
    """Log-mel filterbank features of padded clips, optionally normalised per utterance.

    Each clip is pre-emphasised (`y[t] = x[t] - a x[t-1]`), cut into periodic-Hann-windowed frames
    (as `tf.signal.stft` with `pad_end=True`, so the last samples get a frame: `ceil(length / step)`
    frames), and its power spectrum is mapped onto `num_mels` mel bands and logged
    (`log(mel + 1e-6)`). With `normalize`, every mel band of every utterance is shifted and scaled
    to zero mean and unit variance over that utterance's valid frames. Frames past an utterance's
    length are 0. Samples past a clip's length are ignored, so a clip has the same features alone
    as padded in a batch with longer clips.

    Args:
        sample_rate: the clips' sample rate in Hz.
        frame_length_ms: analysis window length in milliseconds (25 ms: 400 samples at 16 kHz).
        frame_step_ms: hop between frames in milliseconds (10 ms: 160 samples at 16 kHz).
        num_mels: number of mel bands.
        fft_length: FFT size; default the next power of two >= the frame length.
        lower_hz: lower edge of the lowest mel band.
        upper_hz: upper edge of the highest mel band; default `sample_rate / 2`.
        normalize: per-utterance, per-band mean and variance normalisation over valid frames.
        preemphasis: pre-emphasis coefficient in [0, 1); 0 disables it.
        **kwargs: base `keras.layers.Layer` arguments (`name`, ...).

    Call arguments:
        samples: float `[batch, time]` zero-padded clips at `sample_rate`.
        lengths: integer `[batch]` numbers of valid samples.

    Returns:
        `(features, feature_lengths)`: float32 `[batch, ceil(time / step), num_mels]` and int32
        `[batch]` = `ceil(lengths / step)`.

    Raises:
        ValueError: for a bad argument, or at call time mistyped inputs.

    Example:
        >>> mel = LogMelSpectrogram(16000)
        >>> features, feature_lengths = mel(samples, lengths)  # [B, ceil(T / 160), 80], [B]
    """

    def __init__(
        self,
        sample_rate: int,
        frame_length_ms: float = 25.0,
        frame_step_ms: float = 10.0,
        num_mels: int = 80,
        fft_length: int | None = None,
        lower_hz: float = 20.0,
        upper_hz: float | None = None,
        normalize: bool = True,
        preemphasis: float = 0.97,
        **kwargs,
    ):
        # `get_config` carries `trainable`; the layer has no weights, so drop it to let `from_config` work.
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        check_positive_int(sample_rate=sample_rate, num_mels=num_mels)
        _check_positive_number(frame_length_ms=frame_length_ms, frame_step_ms=frame_step_ms)
        frame_length = int(round(sample_rate * frame_length_ms / 1000.0))
        frame_step = int(round(sample_rate * frame_step_ms / 1000.0))
        if frame_length < 1:
            raise ValueError(
                f"frame_length_ms is shorter than one sample at {sample_rate} Hz. "
                f"Received: frame_length_ms={frame_length_ms}"
            )
        if frame_step < 1:
            raise ValueError(
                f"frame_step_ms is shorter than one sample at {sample_rate} Hz. "
                f"Received: frame_step_ms={frame_step_ms}"
            )
        if fft_length is None:
            fft_size = 1 << (frame_length - 1).bit_length()
        else:
            check_positive_int(fft_length=fft_length)
            if fft_length < frame_length:
                raise ValueError(
                    f"fft_length must be at least the frame length ({frame_length} samples). "
                    f"Received: fft_length={fft_length}"
                )
            fft_size = int(fft_length)
        nyquist = sample_rate / 2.0
        upper = nyquist if upper_hz is None else upper_hz
        if (
            isinstance(lower_hz, bool)
            or not isinstance(lower_hz, numbers.Real)
            or not 0.0 <= lower_hz < nyquist
        ):
            raise ValueError(f"lower_hz must be in [0, {nyquist:g}). Received: lower_hz={lower_hz!r}")
        if isinstance(upper, bool) or not isinstance(upper, numbers.Real) or not lower_hz < upper <= nyquist:
            raise ValueError(
                f"upper_hz must be in (lower_hz, sample_rate / 2] = ({lower_hz:g}, {nyquist:g}]. "
                f"Received: upper_hz={upper_hz!r}"
            )
        if (
            isinstance(preemphasis, bool)
            or not isinstance(preemphasis, numbers.Real)
            or not 0.0 <= preemphasis < 1.0
        ):
            raise ValueError(f"preemphasis must be in [0, 1). Received: preemphasis={preemphasis!r}")

        self.sample_rate = int(sample_rate)
        self.frame_length_ms = float(frame_length_ms)
        self.frame_step_ms = float(frame_step_ms)
        self.num_mels = int(num_mels)
        self.fft_length = None if fft_length is None else int(fft_length)
        self.lower_hz = float(lower_hz)
        self.upper_hz = None if upper_hz is None else float(upper_hz)
        self.normalize = bool(normalize)
        self.preemphasis = float(preemphasis)
        # Resolved sizes, in samples.
        self.frame_length = frame_length
        self.frame_step = frame_step
        self.fft_size = fft_size
        self._upper_edge_hz = float(upper)
        self._convert_input_args = False  # the features are float32 whatever the dtype policy
        self._allow_non_tensor_positional_args = True
        self.built = True

    def num_frames(self, lengths):
        """Number of feature frames for clips of `lengths` samples: `ceil(lengths / step)`.

        Works on Python ints and on integer tensors (int32 out).
        """
        if isinstance(lengths, numbers.Integral) and not isinstance(lengths, bool):
            return -(-int(lengths) // self.frame_step)
        lengths = tf.cast(lengths, tf.int32)
        return _ceil_div(lengths, self.frame_step)

    def call(self, samples, lengths):
        samples = _float_matrix(samples, "samples", "LogMelSpectrogram")
        lengths = _int_vector(lengths, "lengths", "LogMelSpectrogram")
        width = tf.shape(samples)[1]
        lengths = _check_lengths(lengths, width, "lengths", "LogMelSpectrogram")
        valid = _length_mask(lengths, width)
        samples = tf.where(valid, samples, 0.0)
        if self.preemphasis > 0.0:
            previous = tf.pad(samples, [[0, 0], [1, 0]])[:, :-1]
            # Masked again: the step at each clip's end would otherwise leak into its padding.
            samples = tf.where(valid, samples - self.preemphasis * previous, 0.0)
        # tf.signal.stft(..., window_fn=hann_window, pad_end=True) spelled out: its eager RFFT fails
        # on empty batches, which the explicit padding to fft_size avoids.
        frames = tf.signal.frame(samples, self.frame_length, self.frame_step, pad_end=True)
        frames *= tf.signal.hann_window(self.frame_length, periodic=True)
        frames = tf.pad(frames, [[0, 0], [0, 0], [0, self.fft_size - self.frame_length]])
        spectrum = tf.signal.rfft(frames, [self.fft_size])
        power = tf.square(tf.math.real(spectrum)) + tf.square(tf.math.imag(spectrum))
        weights = tf.signal.linear_to_mel_weight_matrix(
            num_mel_bins=self.num_mels,
            num_spectrogram_bins=self.fft_size // 2 + 1,
            sample_rate=self.sample_rate,
            lower_edge_hertz=self.lower_hz,
            upper_edge_hertz=self._upper_edge_hz,
        )
        features = tf.math.log(tf.tensordot(power, weights, axes=1) + _LOG_OFFSET)
        features.set_shape([None, None, self.num_mels])
        feature_lengths = self.num_frames(lengths)
        frames = _length_mask(feature_lengths, tf.shape(features)[1])[:, :, None]
        if self.normalize:
            mask = tf.cast(frames, tf.float32)
            count = tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)
            mean = tf.reduce_sum(features * mask, axis=1, keepdims=True) / count
            centred = (features - mean) * mask
            variance = tf.reduce_sum(tf.square(centred), axis=1, keepdims=True) / count
            features = centred * tf.math.rsqrt(variance + _NORMALIZE_EPSILON)
        features = tf.where(frames, features, 0.0)
        return features, feature_lengths

    def compute_output_shape(self, samples_shape, lengths_shape=None):
        batch, time = samples_shape[0], samples_shape[1]
        frames = None if time is None else -(-int(time) // self.frame_step)
        return (batch, frames, self.num_mels), (batch,)

    def compute_output_spec(self, samples, lengths):
        features_shape, lengths_shape = self.compute_output_shape(samples.shape, lengths.shape)
        return (
            keras.KerasTensor(features_shape, dtype="float32"),
            keras.KerasTensor(lengths_shape, dtype="int32"),
        )

    def get_config(self):
        return {
            **super().get_config(),
            "sample_rate": self.sample_rate,
            "frame_length_ms": self.frame_length_ms,
            "frame_step_ms": self.frame_step_ms,
            "num_mels": self.num_mels,
            "fft_length": self.fft_length,
            "lower_hz": self.lower_hz,
            "upper_hz": self.upper_hz,
            "normalize": self.normalize,
            "preemphasis": self.preemphasis,
        }


# --- SpecAugment ---------------------------------------------------------------------------------


def _spans(uniform_width, uniform_start, max_width, extent):
    """Random spans `[start, start + width)` inside `[0, extent)`, `width` uniform in 0..max_width.

    All arguments broadcast; `max_width` and `extent` are int32 and `max_width <= extent`.
    """
    width = tf.cast(uniform_width * tf.cast(max_width + 1, tf.float32), tf.int32)
    width = tf.minimum(width, max_width)
    start = tf.cast(uniform_start * tf.cast(extent - width + 1, tf.float32), tf.int32)
    start = tf.clip_by_value(start, 0, tf.maximum(extent - width, 0))
    return start, width


def _covered(starts, widths, size):
    """`[batch, size]` bool: positions inside any of the spans `[batch, masks]`."""
    positions = tf.range(size)[None, None, :]
    inside = (positions >= starts[:, :, None]) & (positions < (starts + widths)[:, :, None])
    return tf.reduce_any(inside, axis=1)


@keras.saving.register_keras_serializable(package="tfapps")
class SpecAugment(keras.layers.Layer):
    """SpecAugment's frequency and time masking (Park et al., 2019) of normalised features.

    At training time every utterance gets its own `freq_masks` bands of up to `freq_mask_width`
    mel bins and `time_masks` spans of up to `min(max_time_mask_width, time_mask_ratio * length)`
    frames, placed inside its valid frames, set to 0 (the mean of normalised features). Widths are
    uniform from 0 up to the maximum, so a mask may be empty; masks may overlap. Padded frames are
    never touched. Outside training the layer returns the features unchanged.

    The draws are stateless ops keyed by a `keras.random.SeedGenerator`, so the layer works
    eagerly, in a `tf.function` and under a distribution strategy; two layers with the same
    `seed` draw the same masks.

    Args:
        freq_masks: number of frequency masks per utterance.
        freq_mask_width: maximum width of a frequency mask in mel bins.
        time_masks: number of time masks per utterance.
        time_mask_ratio: maximum width of a time mask as a fraction of the utterance's length.
        max_time_mask_width: maximum width of a time mask in frames, whatever the length.
        seed: optional integer seed.
        **kwargs: base `keras.layers.Layer` arguments (`name`, ...).

    Call arguments:
        features: float `[batch, frames, mels]`.
        feature_lengths: integer `[batch]` numbers of valid frames.
        training: masks are drawn only when true.

    Returns:
        The features `[batch, frames, mels]` with the masked entries 0.

    Example:
        >>> features, feature_lengths = LogMelSpectrogram(16000)(samples, lengths)
        >>> features = SpecAugment(seed=1)(features, feature_lengths, training=True)
    """

    def __init__(
        self,
        freq_masks: int = 2,
        freq_mask_width: int = 15,
        time_masks: int = 2,
        time_mask_ratio: float = 0.05,
        max_time_mask_width: int = 40,
        seed: int | None = None,
        **kwargs,
    ):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        _check_non_negative_int(
            freq_masks=freq_masks,
            freq_mask_width=freq_mask_width,
            time_masks=time_masks,
            max_time_mask_width=max_time_mask_width,
        )
        if (
            isinstance(time_mask_ratio, bool)
            or not isinstance(time_mask_ratio, numbers.Real)
            or not 0.0 <= time_mask_ratio <= 1.0
        ):
            raise ValueError(
                f"time_mask_ratio must be in [0, 1]. Received: time_mask_ratio={time_mask_ratio!r}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"seed must be an integer or None. Received: seed={seed!r}")
        self.freq_masks = int(freq_masks)
        self.freq_mask_width = int(freq_mask_width)
        self.time_masks = int(time_masks)
        self.time_mask_ratio = float(time_mask_ratio)
        self.max_time_mask_width = int(max_time_mask_width)
        self.seed = None if seed is None else int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    def call(self, features, feature_lengths, training=None):
        features = tf.convert_to_tensor(features)
        if features.shape.rank is not None and features.shape.rank != 3:
            raise ValueError(
                f"SpecAugment expects features of shape [batch, frames, mels]. Received: shape={features.shape}"
            )
        if not training or (self.freq_masks == 0 and self.time_masks == 0):
            return features
        lengths = _int_vector(feature_lengths, "feature_lengths", "SpecAugment")
        batch, frames, mels = tf.unstack(tf.shape(features), num=3)
        lengths = tf.minimum(lengths, frames)
        draws = keras.random.uniform(
            (batch, 2 * (self.freq_masks + self.time_masks)), dtype="float32", seed=self.seed_generator
        )
        masked = tf.zeros([batch, 1, 1], tf.bool)
        if self.freq_masks:
            u = draws[:, : 2 * self.freq_masks]
            starts, widths = _spans(u[:, 0::2], u[:, 1::2], tf.minimum(self.freq_mask_width, mels), mels)
            masked |= _covered(starts, widths, mels)[:, None, :]
        if self.time_masks:
            u = draws[:, 2 * self.freq_masks :]
            max_width = tf.cast(tf.cast(lengths, tf.float32) * self.time_mask_ratio, tf.int32)
            max_width = tf.minimum(max_width, tf.minimum(self.max_time_mask_width, lengths))[:, None]
            starts, widths = _spans(u[:, 0::2], u[:, 1::2], max_width, lengths[:, None])
            masked |= _covered(starts, widths, frames)[:, :, None]
        # Frequency masks span the valid frames only: padding stays as it is.
        masked &= _length_mask(lengths, frames)[:, :, None]
        return tf.where(masked, tf.zeros([], features.dtype), features)

    def compute_output_shape(self, features_shape, feature_lengths_shape=None):
        return tuple(features_shape)

    def compute_output_spec(self, features, feature_lengths, training=None):
        return keras.KerasTensor(features.shape, dtype=features.dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "freq_masks": self.freq_masks,
            "freq_mask_width": self.freq_mask_width,
            "time_masks": self.time_masks,
            "time_mask_ratio": self.time_mask_ratio,
            "max_time_mask_width": self.max_time_mask_width,
            "seed": self.seed,
        }


# --- CTC decoding --------------------------------------------------------------------------------


def _ctc_inputs(logits, lengths, function: str):
    """Log-probabilities `[batch, time, classes]` and checked int32 lengths."""
    logits = tf.convert_to_tensor(logits)
    if not logits.dtype.is_floating:
        raise ValueError(f"{function} expects float logits. Received: logits.dtype={logits.dtype.name}")
    if logits.shape.rank is not None and logits.shape.rank != 3:
        raise ValueError(
            f"{function} expects logits of shape [batch, time, classes]. Received: shape={logits.shape}"
        )
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
    lengths = _int_vector(lengths, "lengths", function)
    lengths = _check_lengths(lengths, tf.shape(log_probs)[1], "lengths", function)
    return log_probs, lengths


def _dense_ids(decoded: tf.SparseTensor, rows, width=None) -> tf.Tensor:
    """Sparse decoder output as int32 `[rows, width]` padded with -1."""
    if width is not None:
        decoded = tf.sparse.SparseTensor(
            decoded.indices, decoded.values, tf.stack([decoded.dense_shape[0], width])
        )
    return tf.cast(tf.sparse.to_dense(decoded, default_value=-1), tf.int32)[:rows]


def ctc_greedy_decode(logits, lengths) -> tuple[tf.Tensor, tf.Tensor]:
    """Best-path CTC decoding: the most likely class per frame, repeats merged, blanks dropped.

    The blank is the last class (`classes - 1`), as TensorFlow's CTC ops and losses expect.

    Args:
        logits: float `[batch, time, classes]` (unnormalised; log-softmax is applied).
        lengths: integer `[batch]` numbers of valid frames (at most `time`).

    Returns:
        `(ids, scores)`: int32 `[batch, L]` label ids left-aligned and padded with -1 (`L` the
        longest decode; 0 when every row is blank), and float32 `[batch]` sums of the chosen
        frames' log-probabilities.

    Raises:
        ValueError: for mistyped inputs.
        InvalidArgumentError: (at run time) for lengths outside [0, time].
    """
    log_probs, lengths = _ctc_inputs(logits, lengths, "ctc_greedy_decode")
    batch = tf.shape(log_probs)[0]
    # One extra empty row and frame: the op rejects an empty batch or zero frames.
    padded = tf.pad(log_probs, [[0, 1], [0, 1], [0, 0]])
    decoded, negative_sums = tf.nn.ctc_greedy_decoder(
        tf.transpose(padded, [1, 0, 2]), tf.concat([lengths, [0]], axis=0), merge_repeated=True
    )
    return _dense_ids(decoded[0], batch), -negative_sums[:batch, 0]


def ctc_beam_decode(logits, lengths, beam_width: int = 8, top_paths: int = 1) -> tuple[tf.Tensor, tf.Tensor]:
    """CTC prefix beam search: the `top_paths` most likely label sequences of each utterance.

    The blank is the last class. A sequence's score is its total CTC log-probability (summed over
    the alignments the beam kept). When an utterance has fewer possible sequences than
    `top_paths` (an empty or very short one), the missing paths are all -1 with score `-inf`.

    Args:
        logits: float `[batch, time, classes]` (unnormalised; log-softmax is applied).
        lengths: integer `[batch]` numbers of valid frames (at most `time`).
        beam_width: number of prefixes kept per frame.
        top_paths: number of sequences returned per utterance (at most `beam_width`).

    Returns:
        `(ids, scores)`: int32 `[batch, top_paths, L]` label ids padded with -1 (`L` the longest
        decode, possibly 0), and float32 `[batch, top_paths]` log-probabilities, best first.

    Raises:
        ValueError: for a bad `beam_width`/`top_paths` or mistyped inputs.
        InvalidArgumentError: (at run time) for lengths outside [0, time].
    """
    check_positive_int(beam_width=beam_width, top_paths=top_paths)
    if top_paths > beam_width:
        raise ValueError(
            f"top_paths must not exceed beam_width ({beam_width}). Received: top_paths={top_paths}"
        )
    log_probs, lengths = _ctc_inputs(logits, lengths, "ctc_beam_decode")
    num_classes = log_probs.shape[-1]
    if num_classes == 1 and top_paths > 1:
        raise ValueError(f"logits with only the blank class have one path. Received: top_paths={top_paths}")
    batch = tf.shape(log_probs)[0]
    time = tf.shape(log_probs)[1]
    classes = tf.shape(log_probs)[2]
    # The op fails when an utterance has fewer distinct prefixes than top_paths ("Less leaves in
    # the beam search than requested"), and on an empty batch or zero frames. So every row (and
    # one extra empty row) gets frames that are certainly blank after its last frame: they leave
    # every real sequence's probability as it is, and give the beam enough (impossible,
    # score ~ -1e9) prefixes, which are blanked out below.
    extra = 2 * top_paths - 1
    padded = tf.pad(log_probs, [[0, 1], [0, extra], [0, 0]])
    padded_lengths = tf.concat([lengths, [0]], axis=0)
    blank_frame = tf.one_hot(classes - 1, classes, on_value=0.0, off_value=_EXCLUDED_LOG_PROB)
    after = tf.range(time + extra)[None, :] >= padded_lengths[:, None]
    padded = tf.where(after[:, :, None], blank_frame, padded)
    decoded, scores = tf.nn.ctc_beam_search_decoder(
        tf.transpose(padded, [1, 0, 2]), padded_lengths + extra, beam_width=beam_width, top_paths=top_paths
    )
    width = tf.reduce_max(tf.stack([path.dense_shape[1] for path in decoded]))
    ids = tf.stack([_dense_ids(path, batch, width) for path in decoded], axis=1)
    scores = scores[:batch]
    possible = scores > _IMPOSSIBLE_SCORE
    ids = tf.where(possible[:, :, None], ids, -1)
    scores = tf.where(possible, scores, -math.inf)
    # Without the impossible paths the decodes may be shorter: keep L the longest real one.
    decoded_lengths = tf.reshape(tf.reduce_sum(tf.cast(ids >= 0, tf.int32), axis=-1), [-1])
    longest = tf.reduce_max(tf.concat([decoded_lengths, [0]], axis=0))
    return ids[:, :, :longest], scores


# --- character vocabulary ------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="tfapps")
class CharacterVocabulary(keras.layers.Layer):
    """Map UTF-8 text to character ids `0..len(alphabet) - 1` and ids back to text.

    `encode` (the layer's call) splits text into Unicode characters (not bytes); characters not
    in the alphabet, and invalid UTF-8 bytes, become -1, and the caller decides what to do with
    them (drop them, or reject the example). `decode` joins ids back into UTF-8 text, ignoring -1
    padding and ids outside the alphabet. The lookup is a binary search over the alphabet's sorted
    code points held as graph constants (`LowerBound`), so a SavedModel needs no table resource
    or vocabulary file.

    With CTC the model has `vocabulary_size() + 1` classes, the blank last.

    Args:
        alphabet: the characters, each once; a character's id is its index.
        **kwargs: base `keras.layers.Layer` arguments (`name`, ...).

    Call arguments:
        texts: string tensor `[batch]` (or a list of `str`).

    Returns:
        `tf.RaggedTensor` int32 `[batch, (characters)]`.

    Raises:
        ValueError: for an empty alphabet or one with duplicate characters.

    Example:
        >>> vocabulary = CharacterVocabulary("abcdefghijklmnopqrstuvwxyz' ")
        >>> vocabulary.encode(["hi there"]).to_list()
        [[7, 8, 27, 19, 7, 4, 17, 4]]
        >>> vocabulary.decode([[7, 8, -1]]).numpy().tolist()
        [b'hi']
    """

    def __init__(self, alphabet: str, **kwargs):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        if not isinstance(alphabet, str):
            raise ValueError(
                f"alphabet must be a string. Received: alphabet of type {type(alphabet).__name__}"
            )
        if not alphabet:
            raise ValueError("alphabet must hold at least one character. Received: alphabet=''")
        duplicates = sorted({character for character in alphabet if alphabet.count(character) > 1})
        if duplicates:
            raise ValueError(
                f"alphabet must not repeat characters. Received: duplicates={''.join(duplicates)!r}"
            )
        self.alphabet = alphabet
        code_points = np.array([ord(character) for character in alphabet], np.int32)
        order = np.argsort(code_points, kind="stable")
        self._code_points = code_points
        self._sorted_code_points = code_points[order]
        self._sorted_ids = order.astype(np.int32)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    def vocabulary_size(self) -> int:
        """Number of characters (a CTC model has one more class, the blank)."""
        return len(self.alphabet)

    def get_vocabulary(self) -> list[str]:
        """The characters, index = id."""
        return list(self.alphabet)

    def encode(self, texts) -> tf.RaggedTensor:
        """Character ids of UTF-8 texts `[batch]`: int32 ragged `[batch, (characters)]`, -1 for
        characters outside the alphabet and for invalid UTF-8 bytes."""
        texts = checked_string_vector(texts, "CharacterVocabulary")
        code_points = tf.strings.unicode_decode(texts, "UTF-8", errors="replace", replacement_char=0xFFFD)
        flat = code_points.flat_values
        sorted_code_points = tf.constant(self._sorted_code_points)
        position = tf.searchsorted(sorted_code_points, flat, side="left", out_type=tf.int32)
        position = tf.minimum(position, len(self.alphabet) - 1)
        found = tf.equal(tf.gather(sorted_code_points, position), flat)
        ids = tf.where(found, tf.gather(tf.constant(self._sorted_ids), position), -1)
        return code_points.with_flat_values(ids)

    def decode(self, ids) -> tf.Tensor:
        """UTF-8 text of ids `[..., length]` (e.g. `[batch, L]` or beam output `[batch, paths, L]`):
        a string tensor `[...]`; -1 and out-of-range ids are skipped. Ragged ids are accepted."""
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor(-1)
        ids = tf.convert_to_tensor(ids)
        if not ids.dtype.is_integer:
            raise ValueError(
                f"CharacterVocabulary.decode expects integer ids. Received: dtype={ids.dtype.name}"
            )
        if ids.shape.rank is not None and ids.shape.rank < 2:
            raise ValueError(
                f"CharacterVocabulary.decode expects ids of shape [..., length]. Received: shape={ids.shape}"
            )
        ids = tf.cast(ids, tf.int32)
        shape = tf.shape(ids)
        rows = tf.reshape(ids, tf.stack([-1, shape[-1]]))
        valid = (rows >= 0) & (rows < len(self.alphabet))
        code_points = tf.gather(tf.constant(self._code_points), tf.where(valid, rows, 0))
        texts = tf.strings.unicode_encode(tf.ragged.boolean_mask(code_points, valid), "UTF-8")
        return tf.reshape(texts, shape[:-1])

    def call(self, texts):
        return self.encode(texts)

    def compute_output_spec(self, texts):
        return keras.KerasTensor((texts.shape[0], None), dtype="int32", ragged=True)

    def get_config(self):
        return {**super().get_config(), "alphabet": self.alphabet}
