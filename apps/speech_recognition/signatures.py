"""Serving signatures: WAV bytes or float samples in, transcripts out. WAV decoding, resampling,
log-mel features, the acoustic model and CTC decoding all run in the graph (core TensorFlow,
plus tensorflow-text's SentencePiece ops for a subword vocabulary)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfapps.apps.speech_recognition.data import TranscriptVocabulary, transcript_vocabulary
from tfapps.apps.speech_recognition.synthetic import synthetic_clip
from tfapps.models.preprocessing.audio import (
    ctc_beam_decode,
    ctc_greedy_decode,
    decode_wav_batch_with_rates,
    resample,
)
from tfapps.pipelines.audio_io import encode_wav
from tfapps.serving.export import Signature

__all__ = [
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "sample_request",
    "serving_signatures",
    "transcribe_fn",
    "trimmed_lengths",
]

# Input rates the served graph resamples from: a WAV header claiming 1 Hz would otherwise ask for
# an output thousands of times longer than its input.
MIN_SAMPLE_RATE = 4000
MAX_SAMPLE_RATE = 192000


def transcribe_fn(model, config, vocabulary: TranscriptVocabulary | None = None, decoder: str | None = None):
    """`(samples [B, T] at data.sample_rate, lengths [B])` → `{transcript [B], score [B]}`: the
    CTC decoding (`serving.decoder`, or `decoder`) of the model's output and its log-probability
    (the best path's for greedy decoding, the labelling's beam score for beam search)."""
    vocabulary = vocabulary or transcript_vocabulary(config)
    decoder = decoder or config.serving.decoder
    beam_width = config.serving.beam_width

    def transcribe(samples, lengths):
        logits = model({"samples": samples, "sample_lengths": lengths}, training=False)
        # The model forces padded frames to blank, so every row can be decoded to the end.
        frames = tf.fill(tf.shape(logits)[:1], tf.shape(logits)[1])
        if decoder == "greedy":
            ids, scores = ctc_greedy_decode(logits, frames)
        else:
            ids, scores = ctc_beam_decode(logits, frames, beam_width=beam_width, top_paths=1)
            ids, scores = ids[:, 0], scores[:, 0]
        return {"transcript": vocabulary.decode(ids), "score": scores}

    return transcribe


def trimmed_lengths(samples: tf.Tensor) -> tf.Tensor:
    """Each row's length without its trailing exact zeros: the padding of a `[B, T]` batch of
    clips of different lengths (digital silence at a clip's end is silence either way)."""
    nonzero = tf.cast(tf.not_equal(samples, 0.0), tf.int32)
    positions = tf.range(1, tf.shape(samples)[1] + 1)
    return tf.reduce_max(nonzero * positions[tf.newaxis, :], axis=1)


def _checked_rates(rates: tf.Tensor) -> tf.Tensor:
    rates = tf.cast(rates, tf.int32)
    check = tf.debugging.Assert(
        tf.reduce_all((rates >= MIN_SAMPLE_RATE) & (rates <= MAX_SAMPLE_RATE)),
        [
            f"Expected sample rates in [{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}] Hz. Received: sample_rate=",
            rates,
        ],
        summarize=8,
    )
    with tf.control_dependencies([check]):
        return tf.identity(rates)


def serving_signatures(model, config) -> dict[str, Signature]:
    """`serving_default`: `audio_bytes` (16-bit PCM mono WAV, string `[None]`) → `transcript`,
    `score`; `samples`: float32 `samples [None, T]` (rows padded with trailing zeros) and each
    row's `sample_rate [None]` → the same.

    The model's own rate is `data.sample_rate` (in the export's `assets.extra/tfapps_config.yaml`);
    audio at another rate between `MIN_SAMPLE_RATE` and `MAX_SAMPLE_RATE` is resampled in the
    graph (band-limited), so a client may send WAV at its recording's rate. Several channels are
    averaged."""
    vocabulary = transcript_vocabulary(config)
    transcribe = transcribe_fn(model, config, vocabulary)
    rate = config.data.sample_rate

    def from_wav(audio_bytes):
        samples, lengths, rates = decode_wav_batch_with_rates(audio_bytes)
        samples, lengths = resample(samples, lengths, _checked_rates(rates), rate)
        return transcribe(samples, lengths)

    def from_samples(samples, sample_rate):
        tf.debugging.assert_equal(
            tf.shape(sample_rate)[0],
            tf.shape(samples)[0],
            message="samples [B, T] and sample_rate [B] must have one row each per clip",
        )
        samples, lengths = resample(samples, trimmed_lengths(samples), _checked_rates(sample_rate), rate)
        return transcribe(samples, lengths)

    resources = vocabulary.resources
    return {
        "serving_default": Signature(
            from_wav, {"audio_bytes": tf.TensorSpec([None], tf.string)}, resources=resources
        ),
        "samples": Signature(
            from_samples,
            {
                "samples": tf.TensorSpec([None, None], tf.float32),
                "sample_rate": tf.TensorSpec([None], tf.int32),
            },
            resources=resources,
        ),
    }


def sample_request(config) -> dict[str, np.ndarray]:
    """Two generated clips (tone-spelled words, see `synthetic`) as WAV bytes at the model's rate."""
    rng = np.random.default_rng(0)
    rate = config.data.sample_rate
    clips = [encode_wav(synthetic_clip(text, rate, rng), rate) for text in ("bad cab", "egg")]
    return {"audio_bytes": np.array(clips, dtype=object)}
