"""Tests for the speech preprocessing in `tfapps.models.preprocessing.audio`, against numpy and
scipy references."""

from __future__ import annotations

import io
import itertools
import math
import wave
from fractions import Fraction

import keras
import numpy as np
import pytest
import scipy.signal
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tfapps.models.preprocessing import audio
from tfapps.models.preprocessing.audio import (
    CharacterVocabulary,
    LogMelSpectrogram,
    SpecAugment,
    ctc_beam_decode,
    ctc_greedy_decode,
    decode_wav_batch,
    decode_wav_batch_with_rates,
    resample,
)


def _wav(samples, rate: int, channels: int = 1) -> bytes:
    """A 16-bit PCM WAV file; `samples` int16 `[frames]` or `[frames, channels]`."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(np.asarray(samples, "<i2").tobytes())
    return buffer.getvalue()


def _tone(frequencies, rate: int, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(rate * seconds))) / rate
    return sum(amplitude * np.sin(2 * np.pi * f * t + 0.3 * i) for i, f in enumerate(frequencies)).astype(
        np.float32
    )


def _peak_hz(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1.0 / rate)[np.argmax(spectrum)])


# --- decode_wav_batch ------------------------------------------------------------------------------


def test_decode_wav_batch_pads_clips_and_averages_channels():
    rng = np.random.default_rng(0)
    first = rng.integers(-32768, 32767, 7).astype(np.int16)
    second = rng.integers(-32768, 32767, 4).astype(np.int16)
    stereo = rng.integers(-32768, 32767, (5, 2)).astype(np.int16)
    wavs = tf.constant([_wav(first, 16000), _wav(second, 16000), _wav(stereo, 16000, channels=2)])

    samples, lengths = decode_wav_batch(wavs, 16000)

    assert samples.dtype == tf.float32 and lengths.dtype == tf.int32
    assert samples.shape == (3, 7)
    assert lengths.numpy().tolist() == [7, 4, 5]
    expected = np.zeros((3, 7), np.float32)
    expected[0] = first / 32768.0
    expected[1, :4] = second / 32768.0
    expected[2, :5] = stereo.mean(axis=1) / 32768.0
    np.testing.assert_allclose(samples.numpy(), expected, atol=1e-6)


def test_decode_wav_batch_handles_empty_batches_and_clips():
    samples, lengths = decode_wav_batch(tf.constant([], tf.string), 16000)
    assert samples.shape == (0, 0) and lengths.shape == (0,)

    samples, lengths = decode_wav_batch(tf.constant([_wav([], 8000), _wav([1, 2], 8000)]), 8000)
    assert lengths.numpy().tolist() == [0, 2]
    assert samples.numpy()[0].tolist() == [0.0, 0.0]


def test_decode_wav_batch_rejects_other_rates_in_a_served_graph():
    serve = tf.function(
        lambda wavs: decode_wav_batch(wavs, 16000), input_signature=[tf.TensorSpec([None], tf.string)]
    )
    wavs = tf.constant([_wav([1, 2, 3], 16000), _wav([1, 2], 44100)])
    for decode in (serve, lambda wavs: decode_wav_batch(wavs, 16000)):
        with pytest.raises(tf.errors.InvalidArgumentError) as raised:
            decode(wavs)
        assert "16-bit PCM mono WAV at 16000 Hz" in raised.value.message
        assert "Received: sample_rate=44100" in raised.value.message


def test_decode_wav_batch_with_rates_returns_each_rate():
    samples, lengths, rates = decode_wav_batch_with_rates([_wav([1, 2, 3], 16000), _wav([4], 44100)])
    assert rates.numpy().tolist() == [16000, 44100]
    assert lengths.numpy().tolist() == [3, 1]
    assert samples.shape == (2, 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"wav_bytes": ["x"], "sample_rate": 0}, "sample_rate"),
        ({"wav_bytes": [1.0], "sample_rate": 16000}, "strings"),
        ({"wav_bytes": [["x"]], "sample_rate": 16000}, "vector"),
    ],
)
def test_decode_wav_batch_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        decode_wav_batch(**kwargs)


def test_decode_wav_batch_rejects_non_wav_bytes():
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode_wav_batch(tf.constant([b"not a wav file at all, long enough to parse"]), 16000)


# --- resample ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate_in", "rate_out"), [(8000, 16000), (44100, 16000), (16000, 8000), (22050, 16000)]
)
def test_resample_keeps_tone_frequencies(rate_in, rate_out):
    for frequency in (440.0, 1000.0):
        signal = _tone([frequency], rate_in, 1.0)
        output, lengths = resample(signal[None], [len(signal)], rate_in, rate_out)
        assert lengths.numpy().tolist() == [rate_out]
        assert abs(_peak_hz(output.numpy()[0], rate_out) - frequency) <= 1.0
        # The pass band keeps the amplitude.
        interior = output.numpy()[0, 100:-100]
        assert abs(np.sqrt(2 * np.mean(interior**2)) - 0.3) < 0.01


def test_resample_suppresses_aliasing():
    signal = _tone([6000.0], 16000, 1.0, amplitude=0.5)
    output, _ = resample(signal[None], [len(signal)], 16000, 8000)
    interior = output.numpy()[0, 100:-100]
    # A 6 kHz tone would alias to 2 kHz at 8 kHz: the filter leaves less than 1e-3 of it.
    assert np.sqrt(np.mean(interior**2)) < 1e-3 * 0.5 / np.sqrt(2)


@pytest.mark.parametrize(("rate_in", "rate_out"), [(44100, 16000), (8000, 16000), (48000, 16000)])
def test_resample_matches_scipy_resample_poly(rate_in, rate_out):
    signal = _tone([100.0, 440.0, 1250.0], rate_in, 0.5, amplitude=0.25)
    output, _ = resample(signal[None], [len(signal)], rate_in, rate_out)
    ratio = Fraction(rate_out, rate_in)
    reference = scipy.signal.resample_poly(signal.astype(np.float64), ratio.numerator, ratio.denominator)
    count = min(len(reference), output.shape[1])
    margin = rate_out // 50  # 20 ms at each end, where the two filters see the edge differently
    difference = np.abs(output.numpy()[0, margin : count - margin] - reference[margin : count - margin])
    assert difference.max() < 1e-2


def test_resample_rows_at_their_own_rates():
    rates = [8000, 16000, 44100, 22050]
    clips = [
        _tone([440.0], rate, seconds) for rate, seconds in zip(rates, (0.3, 0.2, 0.25, 0.1), strict=True)
    ]
    width = max(map(len, clips)) + 17
    batch = np.zeros((len(clips), width), np.float32)
    for row, clip in enumerate(clips):
        batch[row, : len(clip)] = clip
        batch[row, len(clip) :] = 0.5  # garbage past the length must not leak in
    lengths = [len(clip) for clip in clips]

    output, output_lengths = resample(batch, lengths, tf.constant(rates), 16000)

    expected_lengths = [math.ceil(Fraction(n * 16000, rate)) for n, rate in zip(lengths, rates, strict=True)]
    assert output_lengths.numpy().tolist() == expected_lengths
    assert output.shape[1] == max(math.ceil(Fraction(width * 16000, rate)) for rate in rates)
    output = output.numpy()
    # The row already at 16 kHz is unchanged.
    np.testing.assert_array_equal(output[1, : lengths[1]], clips[1])
    for row, (clip, rate) in enumerate(zip(clips, rates, strict=True)):
        alone, alone_lengths = resample(clip[None], [len(clip)], rate, 16000)
        np.testing.assert_allclose(output[row, : expected_lengths[row]], alone.numpy()[0], atol=1e-6)
        assert not output[row, expected_lengths[row] :].any()


@pytest.mark.parametrize(
    ("length", "rate_in", "rate_out"),
    [(1000, 44100, 16000), (999, 44100, 16000), (1, 48000, 16000), (7, 8000, 16000)],
)
def test_resample_lengths_are_rounded_up(length, rate_in, rate_out):
    _, lengths = resample(np.ones((1, length), np.float32), [length], rate_in, rate_out)
    assert lengths.numpy().tolist() == [math.ceil(Fraction(length * rate_out, rate_in))]


def test_resample_in_chunks_gives_the_same_samples(monkeypatch):
    signal = _tone([300.0, 2000.0], 44100, 0.2)
    whole, _ = resample(signal[None], [len(signal)], 44100, 16000)
    monkeypatch.setattr(audio, "_RESAMPLE_CHUNK_ELEMENTS", 5000)
    chunked, _ = resample(signal[None], [len(signal)], 44100, 16000)
    np.testing.assert_array_equal(whole.numpy(), chunked.numpy())


def test_resample_in_a_graph_with_unknown_shapes():
    function = tf.function(
        lambda samples, lengths, rates: resample(samples, lengths, rates, 16000),
        input_signature=[
            tf.TensorSpec([None, None], tf.float32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None], tf.int32),
        ],
    )
    signal = _tone([500.0], 8000, 0.1)
    output, lengths = function(signal[None], [len(signal)], [8000])
    eager, _ = resample(signal[None], [len(signal)], 8000, 16000)
    np.testing.assert_allclose(output.numpy(), eager.numpy(), atol=1e-6)
    assert lengths.numpy().tolist() == [1600]
    empty, empty_lengths = function(
        np.zeros((0, 0), np.float32), np.zeros(0, np.int32), np.zeros(0, np.int32)
    )
    assert empty.shape == (0, 0) and empty_lengths.shape == (0,)
    with pytest.raises(tf.errors.InvalidArgumentError, match="positive"):
        function(np.zeros((2, 4), np.float32), [4, 4], [8000, 0])


def test_resample_unchanged_batch_keeps_its_shape():
    samples = np.random.default_rng(1).normal(size=(2, 9)).astype(np.float32)
    output, lengths = resample(samples, [9, 5], 16000, 16000)
    expected = samples.copy()
    expected[1, 5:] = 0.0
    np.testing.assert_array_equal(output.numpy(), expected)
    assert lengths.numpy().tolist() == [9, 5]


@pytest.mark.parametrize("rate_out", [0, -16000, 1.5, True])
def test_resample_rejects_bad_output_rates(rate_out):
    with pytest.raises(ValueError, match="rate_out"):
        resample(np.zeros((1, 4), np.float32), [4], 8000, rate_out)


def test_resample_rejects_non_positive_input_rates():
    with pytest.raises(tf.errors.InvalidArgumentError, match="positive"):
        resample(np.zeros((1, 4), np.float32), [4], 0, 16000)
    with pytest.raises(ValueError, match="rate_in"):
        resample(np.zeros((1, 4), np.float32), [4], 8000.0, 16000)


# --- LogMelSpectrogram ----------------------------------------------------------------------------


def _reference_log_mel(clip: np.ndarray, layer: LogMelSpectrogram) -> np.ndarray:
    """numpy log-mel features of one clip (no normalisation)."""
    signal = clip.astype(np.float64)
    signal = np.concatenate([signal[:1], signal[1:] - layer.preemphasis * signal[:-1]])
    frames = -(-len(signal) // layer.frame_step)
    padded = np.zeros((frames - 1) * layer.frame_step + layer.frame_length)
    padded[: len(signal)] = signal
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(layer.frame_length) / layer.frame_length)
    framed = np.stack(
        [
            padded[i * layer.frame_step : i * layer.frame_step + layer.frame_length] * window
            for i in range(frames)
        ]
    )
    power = np.abs(np.fft.rfft(framed, n=layer.fft_size)) ** 2
    weights = tf.signal.linear_to_mel_weight_matrix(
        layer.num_mels, layer.fft_size // 2 + 1, layer.sample_rate, layer.lower_hz, layer.sample_rate / 2
    ).numpy()
    return np.log(power @ weights + 1e-6)


def test_log_mel_matches_numpy_reference():
    layer = LogMelSpectrogram(8000, num_mels=20, normalize=False)
    assert (layer.frame_length, layer.frame_step, layer.fft_size) == (200, 80, 256)
    clip = _tone([440.0, 1500.0], 8000, 0.25) + np.random.default_rng(2).normal(0, 0.01, 2000).astype(
        np.float32
    )
    features, lengths = layer(clip[None], [len(clip)])
    assert features.shape == (1, 25, 20) and lengths.numpy().tolist() == [25]
    np.testing.assert_allclose(features.numpy()[0], _reference_log_mel(clip, layer), atol=2e-3, rtol=1e-4)


def test_log_mel_of_a_clip_does_not_depend_on_its_batch():
    layer = LogMelSpectrogram(16000, num_mels=40)
    rng = np.random.default_rng(3)
    short = rng.normal(0, 0.1, 3001).astype(np.float32)
    long = rng.normal(0, 0.1, 4800).astype(np.float32)
    batch = np.full((2, 4800), 0.7, np.float32)  # padding that is not silence must be ignored
    batch[0, :3001] = short
    batch[1] = long

    features, lengths = layer(batch, [3001, 4800])
    alone, alone_lengths = layer(short[None], [3001])

    assert lengths.numpy().tolist() == [19, 30] and alone_lengths.numpy().tolist() == [19]
    assert features.shape == (2, 30, 40) and alone.shape == (1, 19, 40)
    np.testing.assert_allclose(features.numpy()[0, :19], alone.numpy()[0], atol=1e-4)
    assert not features.numpy()[0, 19:].any()


def test_log_mel_normalises_valid_frames_per_utterance():
    layer = LogMelSpectrogram(16000, num_mels=16)
    rng = np.random.default_rng(4)
    batch = np.zeros((3, 3200), np.float32)
    batch[0] = rng.normal(0, 0.2, 3200)
    batch[1, :1700] = _tone([300.0, 3000.0], 16000, 1700 / 16000) + rng.normal(0, 0.01, 1700)
    features, lengths = layer(batch, [3200, 1700, 0])
    features = features.numpy()
    assert lengths.numpy().tolist() == [20, 11, 0]
    for row, length in enumerate([20, 11]):
        valid = features[row, :length]
        np.testing.assert_allclose(valid.mean(axis=0), 0.0, atol=1e-4)
        np.testing.assert_allclose(valid.std(axis=0), 1.0, atol=1e-2)
        assert not features[row, length:].any()
    assert not features[2].any()


def test_log_mel_handles_empty_batches_and_clips():
    layer = LogMelSpectrogram(16000)
    features, lengths = layer(np.zeros((0, 0), np.float32), np.zeros(0, np.int32))
    assert features.shape == (0, 0, 80) and lengths.shape == (0,)
    features, lengths = layer(np.zeros((2, 0), np.float32), [0, 0])
    assert features.shape == (2, 0, 80) and lengths.numpy().tolist() == [0, 0]


def test_log_mel_tone_peaks_in_its_mel_band():
    layer = LogMelSpectrogram(16000, num_mels=40, normalize=False, preemphasis=0.0)
    features, _ = layer(_tone([1000.0], 16000, 0.2)[None], [3200])
    weights = tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 20.0, 8000.0).numpy()
    assert np.argmax(features.numpy()[0, 5]) == np.argmax(weights[round(1000 * 512 / 16000)])


def test_log_mel_config_round_trip_and_functional_model():
    layer = LogMelSpectrogram(16000, num_mels=24, fft_length=1024, upper_hz=7000.0, name="mel")
    config = layer.get_config()
    assert config["fft_length"] == 1024 and config["upper_hz"] == 7000.0 and config["name"] == "mel"
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, LogMelSpectrogram) and restored.get_config() == config

    inputs = {
        "samples": keras.Input((None,), dtype="float32", name="samples"),
        "sample_lengths": keras.Input((), dtype="int32", name="sample_lengths"),
    }
    features, feature_lengths = restored(inputs["samples"], inputs["sample_lengths"])
    assert tuple(features.shape) == (None, None, 24) and feature_lengths.dtype == "int32"
    augmented = SpecAugment(seed=0)(features, feature_lengths)
    model = keras.Model(inputs, {"features": augmented, "feature_lengths": feature_lengths})
    clip = np.random.default_rng(5).normal(0, 0.1, (2, 1600)).astype(np.float32)
    outputs = model({"samples": clip, "sample_lengths": np.array([1600, 800], np.int32)})
    direct, _ = layer(clip, [1600, 800])
    np.testing.assert_allclose(outputs["features"].numpy(), direct.numpy(), atol=1e-5)
    assert outputs["feature_lengths"].numpy().tolist() == [10, 5]
    assert layer.compute_output_shape((None, 1601), (None,)) == ((None, 11, 24), (None,))
    assert layer.num_frames(1601) == 11


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sample_rate": 0}, "sample_rate"),
        ({"sample_rate": 16000, "num_mels": 0}, "num_mels"),
        ({"sample_rate": 16000, "frame_length_ms": 0.0}, "frame_length_ms"),
        ({"sample_rate": 16000, "frame_step_ms": 0.01}, "frame_step_ms"),
        ({"sample_rate": 16000, "fft_length": 256}, "fft_length"),
        ({"sample_rate": 16000, "upper_hz": 9000.0}, "upper_hz"),
        ({"sample_rate": 16000, "lower_hz": -1.0}, "lower_hz"),
        ({"sample_rate": 16000, "lower_hz": 5000.0, "upper_hz": 4000.0}, "upper_hz"),
        ({"sample_rate": 16000, "preemphasis": 1.0}, "preemphasis"),
    ],
)
def test_log_mel_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LogMelSpectrogram(**kwargs)


# --- SpecAugment ---------------------------------------------------------------------------------


def _masked_structure(output: np.ndarray, lengths) -> list[tuple[set[int], set[int]]]:
    """Per utterance: (masked frames, masked bins), checking every zero is in a masked row or column."""
    structure = []
    for row, length in enumerate(lengths):
        valid = output[row, :length]
        zero = valid == 0.0
        frames = {t for t in range(length) if zero[t].all()}
        bins = {m for m in range(valid.shape[1]) if length and zero[:, m].all()}
        expected = np.zeros_like(zero)
        expected[sorted(frames), :] = True
        expected[:, sorted(bins)] = True
        np.testing.assert_array_equal(zero, expected)
        structure.append((frames, bins))
    return structure


def test_spec_augment_is_identity_at_inference():
    features = np.random.default_rng(6).normal(size=(2, 30, 10)).astype(np.float32)
    layer = SpecAugment(seed=1)
    for training in (None, False):
        np.testing.assert_array_equal(layer(features, [30, 12], training=training).numpy(), features)


def test_spec_augment_masks_within_bounds_and_valid_frames():
    lengths = [50, 30, 10, 50, 0, 25]
    features = np.ones((6, 50, 20), np.float32)
    for row, length in enumerate(lengths):
        features[row, length:] = 7.0
    layer = SpecAugment(
        freq_masks=2, freq_mask_width=5, time_masks=2, time_mask_ratio=0.2, max_time_mask_width=8, seed=3
    )
    seen_frames = seen_bins = 0
    masks = []
    for _ in range(5):
        output = layer(features, lengths, training=True).numpy()
        for row, length in enumerate(lengths):
            np.testing.assert_array_equal(output[row, length:], 7.0)  # padding untouched
            assert set(np.unique(output[row, :length])) <= {0.0, 1.0}
        structure = _masked_structure(output, lengths)
        masks.append(structure)
        for (frames, bins), length in zip(structure, lengths, strict=True):
            assert len(bins) <= 2 * 5
            assert len(frames) <= 2 * min(8, int(0.2 * length))
            seen_frames += len(frames)
            seen_bins += len(bins)
    assert seen_frames > 0 and seen_bins > 0
    # Utterances of the same length draw their own masks, and every call draws new ones.
    assert any(structure[0] != structure[3] for structure in masks)
    assert masks[0] != masks[1]


def test_spec_augment_seeds_and_tf_function():
    features = np.ones((4, 40, 12), np.float32)
    lengths = np.array([40, 40, 35, 20], np.int32)
    first = SpecAugment(time_mask_ratio=0.2, seed=7)
    second = SpecAugment(time_mask_ratio=0.2, seed=7)
    np.testing.assert_array_equal(
        first(features, lengths, training=True).numpy(), second(features, lengths, training=True).numpy()
    )

    augment = tf.function(
        lambda x, n: first(x, n, training=True),
        input_signature=[tf.TensorSpec([None, None, 12], tf.float32), tf.TensorSpec([None], tf.int32)],
    )
    a, b = augment(features, lengths).numpy(), augment(features, lengths).numpy()
    assert not np.array_equal(a, b)
    _masked_structure(a, lengths)


def test_spec_augment_under_a_distribution_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        layer = SpecAugment(time_mask_ratio=0.2, seed=1)

    @tf.function
    def step(features, lengths):
        return strategy.run(lambda x, n: layer(x, n, training=True), (features, lengths))

    features = np.ones((2, 30, 10), np.float32)
    lengths = np.array([30, 20], np.int32)
    first, second = step(features, lengths).numpy(), step(features, lengths).numpy()
    assert not np.array_equal(first, second)
    _masked_structure(first, lengths)


def test_spec_augment_config_round_trip_and_bad_arguments():
    layer = SpecAugment(freq_masks=1, freq_mask_width=4, time_masks=3, time_mask_ratio=0.1, seed=9)
    restored = SpecAugment.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
    assert keras.saving.get_registered_name(SpecAugment) == "tfapps>SpecAugment"
    for kwargs in ({"freq_masks": -1}, {"time_mask_ratio": 1.5}, {"max_time_mask_width": 2.5}, {"seed": "x"}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            SpecAugment(**kwargs)


# --- CTC decoding --------------------------------------------------------------------------------


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _greedy_reference(logits: np.ndarray, length: int) -> tuple[list[int], float]:
    log_probs = _log_softmax(logits.astype(np.float64))[:length]
    best = log_probs.argmax(axis=-1)
    blank = logits.shape[-1] - 1
    labels = [int(c) for i, c in enumerate(best) if c != blank and (i == 0 or c != best[i - 1])]
    return labels, float(log_probs.max(axis=-1).sum())


def _ctc_log_prob(log_probs: np.ndarray, labels: tuple[int, ...], blank: int) -> float:
    """Total log-probability of `labels` over all alignments (the CTC forward algorithm)."""
    extended = [blank]
    for label in labels:
        extended += [label, blank]
    if len(log_probs) == 0:
        return 0.0 if not labels else -np.inf
    alpha = np.full(len(extended), -np.inf)
    alpha[0] = log_probs[0, blank]
    if len(extended) > 1:
        alpha[1] = log_probs[0, extended[1]]
    for t in range(1, len(log_probs)):
        previous = alpha.copy()
        for s, label in enumerate(extended):
            terms = [previous[s]]
            if s >= 1:
                terms.append(previous[s - 1])
            if s >= 2 and label != blank and label != extended[s - 2]:
                terms.append(previous[s - 2])
            alpha[s] = np.logaddexp.reduce(terms) + log_probs[t, label]
    return float(np.logaddexp(alpha[-1], alpha[-2]) if len(extended) > 1 else alpha[-1])


def _ranked_sequences(logits: np.ndarray, length: int) -> list[tuple[float, tuple[int, ...]]]:
    """Every label sequence up to `length` labels with its CTC log-probability, best first."""
    classes = logits.shape[-1]
    log_probs = _log_softmax(logits.astype(np.float64))[:length]
    sequences = [
        labels for size in range(length + 1) for labels in itertools.product(range(classes - 1), repeat=size)
    ]
    scored = [(_ctc_log_prob(log_probs, labels, classes - 1), labels) for labels in sequences]
    return sorted((item for item in scored if item[0] > -np.inf), key=lambda item: -item[0])


def _rows(ids: np.ndarray) -> list[list[int]]:
    return [[int(i) for i in row if i >= 0] for row in ids]


def test_ctc_greedy_decode_matches_numpy():
    rng = np.random.default_rng(7)
    logits = rng.normal(0, 2, (6, 9, 5)).astype(np.float32)
    logits[2, :, -1] += 20.0  # all blank
    lengths = np.array([9, 4, 9, 0, 1, 7], np.int32)

    ids, scores = ctc_greedy_decode(logits, lengths)

    assert ids.dtype == tf.int32 and scores.dtype == tf.float32
    references = [_greedy_reference(logits[b], lengths[b]) for b in range(6)]
    assert _rows(ids.numpy()) == [labels for labels, _ in references]
    assert ids.shape[1] == max(len(labels) for labels, _ in references)
    # Padding is -1 after each decode.
    for row, (labels, _) in zip(ids.numpy(), references, strict=True):
        assert (row[len(labels) :] == -1).all()
    np.testing.assert_allclose(scores.numpy(), [score for _, score in references], rtol=1e-5, atol=1e-4)


def test_ctc_greedy_decode_empty_batch_and_all_blank():
    ids, scores = ctc_greedy_decode(np.zeros((0, 5, 4), np.float32), np.zeros(0, np.int32))
    assert ids.shape == (0, 0) and scores.shape == (0,)
    logits = np.zeros((2, 3, 4), np.float32)
    logits[:, :, -1] = 5.0
    ids, _ = ctc_greedy_decode(logits, [3, 2])
    assert ids.shape == (2, 0)
    ids, scores = ctc_greedy_decode(np.zeros((2, 0, 4), np.float32), [0, 0])
    assert ids.shape == (2, 0) and scores.numpy().tolist() == [0.0, 0.0]


def test_ctc_beam_decode_finds_the_most_likely_sequences():
    rng = np.random.default_rng(8)
    logits = rng.normal(0, 1.5, (5, 5, 3)).astype(np.float32)
    lengths = np.array([5, 4, 5, 3, 2], np.int32)

    ids, scores = ctc_beam_decode(logits, lengths, beam_width=64, top_paths=3)

    assert ids.shape[:2] == (5, 3) and scores.shape == (5, 3)
    for b in range(5):
        ranked = _ranked_sequences(logits[b], lengths[b])
        assert _rows(ids.numpy()[b]) == [list(labels) for _, labels in ranked[:3]]
        np.testing.assert_allclose(scores.numpy()[b], [score for score, _ in ranked[:3]], atol=1e-4)


def test_ctc_beam_decode_with_a_narrow_beam_agrees_with_greedy_on_peaked_logits():
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 4, (3, 12))
    labels[:, ::3] = 4  # blanks between
    logits = np.where(np.eye(5, dtype=bool)[labels], 8.0, 0.0).astype(np.float32)
    beam_ids, beam_scores = ctc_beam_decode(logits, [12, 12, 7], beam_width=4)
    greedy_ids, _ = ctc_greedy_decode(logits, [12, 12, 7])
    assert _rows(beam_ids.numpy()[:, 0]) == _rows(greedy_ids.numpy())
    assert beam_scores.shape == (3, 1)


def test_ctc_beam_decode_empty_batch_short_rows_and_all_blank():
    ids, scores = ctc_beam_decode(np.zeros((0, 4, 3), np.float32), np.zeros(0, np.int32), top_paths=2)
    assert ids.shape == (0, 2, 0) and scores.shape == (0, 2)

    logits = np.zeros((3, 4, 3), np.float32)
    logits[:, :, -1] = 30.0  # blank all the way
    ids, scores = ctc_beam_decode(logits, [4, 0, 1], beam_width=4, top_paths=3)
    # Empty rows: the empty sequence first; a zero-length row has no other sequence at all.
    assert _rows(ids.numpy()[:, 0]) == [[], [], []]
    np.testing.assert_allclose(scores.numpy()[:, 0], 0.0, atol=1e-6)
    assert scores.numpy()[1, 1] == -np.inf and (ids.numpy()[1, 1:] == -1).all()
    assert np.isfinite(scores.numpy()[0]).all()

    ids, scores = ctc_beam_decode(np.zeros((2, 0, 3), np.float32), [0, 0])
    assert ids.shape == (2, 1, 0) and scores.numpy().tolist() == [[0.0], [0.0]]


def test_ctc_decoders_in_a_graph_and_bad_arguments():
    decode = tf.function(
        lambda logits, lengths: (ctc_greedy_decode(logits, lengths), ctc_beam_decode(logits, lengths, 8, 2)),
        input_signature=[tf.TensorSpec([None, None, None], tf.float32), tf.TensorSpec([None], tf.int32)],
    )
    logits = np.random.default_rng(10).normal(size=(2, 6, 4)).astype(np.float32)
    (greedy_ids, _), (beam_ids, beam_scores) = decode(logits, [6, 3])
    eager_ids, _ = ctc_greedy_decode(logits, [6, 3])
    np.testing.assert_array_equal(greedy_ids.numpy(), eager_ids.numpy())
    assert beam_ids.shape[:2] == (2, 2) and (np.diff(beam_scores.numpy(), axis=1) <= 0).all()
    with pytest.raises(tf.errors.InvalidArgumentError, match="lengths"):
        decode(logits, [7, 3])
    with pytest.raises(ValueError, match="top_paths"):
        ctc_beam_decode(logits, [6, 3], beam_width=2, top_paths=3)
    with pytest.raises(ValueError, match="logits"):
        ctc_greedy_decode(logits[0], [6])


# --- CharacterVocabulary -------------------------------------------------------------------------


def test_character_vocabulary_encodes_utf8_characters():
    vocabulary = CharacterVocabulary("abcdeéhlorwö ")
    texts = tf.constant(["héllo wörld", "", "abc?", b"a\xffb"])
    ids = vocabulary.encode(texts)
    assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int32
    alphabet = vocabulary.get_vocabulary()
    expected_first = [alphabet.index(c) for c in "héllo wörld"]
    assert ids.to_list() == [expected_first, [], [0, 1, 2, -1], [0, -1, 1]]
    assert vocabulary(texts).to_list() == ids.to_list()
    assert vocabulary.vocabulary_size() == 13


def test_character_vocabulary_decodes_ids():
    vocabulary = CharacterVocabulary("ab€😀 ")
    decoded = vocabulary.decode([[0, 2, -1, 3, 4, 99, 1], [-1, -1, -1, -1, -1, -1, -1]])
    assert [text.decode() for text in decoded.numpy()] == ["a€😀 b", ""]
    assert vocabulary.decode(np.zeros((0, 3), np.int32)).shape == (0,)
    assert vocabulary.decode(np.zeros((2, 0), np.int32)).numpy().tolist() == [b"", b""]
    beams = vocabulary.decode(np.array([[[0, 1], [1, -1]], [[4, 4], [-1, -1]]]))
    assert beams.numpy().tolist() == [[b"ab", b"b"], [b"  ", b""]]
    round_trip = vocabulary.decode(vocabulary.encode(["b€a 😀", "a"]))
    assert round_trip.numpy().tolist() == ["b€a 😀".encode(), b"a"]


def test_character_vocabulary_config_and_bad_alphabets():
    vocabulary = CharacterVocabulary("xyz", name="chars")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(vocabulary))
    assert restored.get_config() == vocabulary.get_config() and restored.alphabet == "xyz"
    for alphabet, match in (("", "at least one"), ("abca", "duplicates='a'"), (["a"], "string")):
        with pytest.raises(ValueError, match=match):
            CharacterVocabulary(alphabet)


# --- export --------------------------------------------------------------------------------------


_NOT_CORE = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}


def _op_types(saved_model_dir) -> set[str]:
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((saved_model_dir / "saved_model.pb").read_bytes())
    graph = proto.meta_graphs[0].graph_def
    functions = {function.signature.name for function in graph.library.function}
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops |= {node.op for node in function.node_def}
    return ops - functions


def test_speech_graph_exports_with_core_ops_only(tmp_path):
    vocabulary = CharacterVocabulary("abc ")
    mel = LogMelSpectrogram(16000, num_mels=8)

    class Speech(tf.Module):
        def __init__(self):
            super().__init__()
            self.vocabulary = vocabulary
            self.mel = mel

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def features(self, wavs):
            samples, lengths, rates = decode_wav_batch_with_rates(wavs)
            samples, lengths = resample(samples, lengths, rates, 16000)
            features, feature_lengths = self.mel(samples, lengths)
            strict, _ = decode_wav_batch(wavs, 8000)
            return {"features": features, "feature_lengths": feature_lengths, "strict": strict}

        @tf.function(
            input_signature=[tf.TensorSpec([None, None, None], tf.float32), tf.TensorSpec([None], tf.int32)]
        )
        def transcribe(self, logits, lengths):
            greedy, greedy_scores = ctc_greedy_decode(logits, lengths)
            beams, beam_scores = ctc_beam_decode(logits, lengths, beam_width=4, top_paths=2)
            return {
                "greedy": self.vocabulary.decode(greedy),
                "greedy_scores": greedy_scores,
                "beams": self.vocabulary.decode(beams),
                "beam_scores": beam_scores,
            }

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def encode(self, texts):
            ids = self.vocabulary.encode(texts)
            return {"ids": ids.to_tensor(-1), "lengths": tf.cast(ids.row_lengths(), tf.int32)}

    module = Speech()
    wavs = tf.constant(
        [_wav((_tone([440.0], 8000, 0.05) * 32767).astype(np.int16), 8000), _wav([5, 6], 8000)]
    )
    logits = tf.constant(np.random.default_rng(11).normal(0, 3, (2, 7, 5)).astype(np.float32))
    lengths = tf.constant([7, 4])
    texts = tf.constant(["a cab", "bad!"])
    calls = {
        "features": {"wavs": wavs},
        "transcribe": {"logits": logits, "lengths": lengths},
        "encode": {"texts": texts},
    }
    before = {name: getattr(module, name)(**kwargs) for name, kwargs in calls.items()}
    path = tmp_path / "speech"
    tf.saved_model.save(module, str(path), signatures={name: getattr(module, name) for name in calls})

    loaded = tf.saved_model.load(str(path))
    for name, kwargs in calls.items():
        after = getattr(loaded, name)(**kwargs)
        signature = loaded.signatures[name](**kwargs)
        for key, value in before[name].items():
            if value.dtype == tf.string:
                assert after[key].numpy().tolist() == value.numpy().tolist()
                assert signature[key].numpy().tolist() == value.numpy().tolist()
            else:
                np.testing.assert_allclose(after[key].numpy(), value.numpy(), atol=1e-6)
                np.testing.assert_allclose(signature[key].numpy(), value.numpy(), atol=1e-6)
    assert before["features"]["features"].shape == (2, 5, 8)
    assert before["encode"]["ids"].numpy().tolist() == [[0, 3, 2, 0, 1], [1, 0, -1, -1, -1]]

    ops = _op_types(path)
    core = set(dir(tf.raw_ops))
    assert ops <= core, sorted(ops - core)
    assert not ops & _NOT_CORE and not any(op.startswith("Xla") for op in ops)
    assert {"DecodeWav", "CTCGreedyDecoder", "CTCBeamSearchDecoder", "LowerBound", "RFFT"} <= ops
