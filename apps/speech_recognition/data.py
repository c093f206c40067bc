"""Speech data: audio datasets → (samples, label ids) batches in tf.data, and the transcript
vocabulary shared by the training labels and the served graph's decoder.

Clips are read and resampled by `tfapps.pipelines.speech_data` (soundfile), kept in memory after
the first epoch when `data.cache`, and batched by length: a batch is padded to its longest clip
only, so short clips do not pay for long ones.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

import numpy as np
import tensorflow as tf

from tfapps.apps.errors import DataError
from tfapps.apps.task import batch_shapes_may_vary
from tfapps.models.preprocessing.audio import CharacterVocabulary
from tfapps.models.preprocessing.subword import (
    SentencePieceTokenizer,
    decode_model,
    encode_model,
    learn_sentencepiece,
)
from tfapps.pipelines.speech_data import SpeechDataset, Utterance, clip_dataset, read_speech_dataset
from tfapps.pipelines.splits import train_and_validation

__all__ = [
    "TranscriptVocabulary",
    "learn_vocabulary",
    "make_dataset",
    "read_split",
    "train_val_utterances",
    "transcript_vocabulary",
]

logger = logging.getLogger(__name__)

# Longest transcript, in SentencePiece pieces, the subword tokenizer keeps.
_MAX_PIECES = 512


def read_split(config: Any, path: str, split: str) -> SpeechDataset:
    """Read one dataset with the config's normalisation (the reader logs its report).

    Training and validation utterances with characters outside a `characters` vocabulary's
    alphabet are reported and dropped (the model could never transcribe them); test utterances
    are all kept, so such characters count as errors. `data.max_seconds` applies to training
    data only."""
    d = config.data
    alphabet = d.alphabet if split != "test" and d.vocabulary == "characters" and d.alphabet else None
    max_seconds = d.max_seconds if split == "train" else 0.0
    return _read(str(path), split, alphabet, d.lowercase, d.strip_punctuation, max_seconds)


@functools.lru_cache(maxsize=4)
def _read(path, split, alphabet, lowercase, strip_punctuation, max_seconds) -> SpeechDataset:
    # Cached: resolve_data, make_datasets and the trainer's probe read the same files in one process.
    dataset = read_speech_dataset(
        path,
        split,
        alphabet=alphabet,
        lowercase=lowercase,
        strip_punctuation=strip_punctuation,
        max_seconds=max_seconds,
    )
    logger.info("%s", dataset.report.summary())
    return dataset


def _origin(utterance: Utterance) -> str:
    return utterance.audio


def train_val_utterances(config: Any) -> tuple[list[Utterance], list[Utterance]]:
    """The training utterances and the validation utterances (`data.val`, or a seeded
    `validation_split` of the training utterances)."""
    d = config.data
    train = read_split(config, d.train, "train").utterances
    val = read_split(config, d.val, "val").utterances if d.val else None
    return train_and_validation(train, val, d.validation_split, d.seed, key=_origin)


def learn_vocabulary(config: Any, utterances: list[Utterance]) -> dict[str, Any]:
    """The config values the training transcripts determine: the alphabet (`characters` with an
    empty `data.alphabet`) or the SentencePiece model (`sentencepiece`)."""
    d = config.data
    transcripts = [u.transcript for u in utterances]
    if d.vocabulary == "sentencepiece":
        if d.tokenizer:
            return {}
        model = learn_sentencepiece(transcripts, vocab_size=d.vocab_size, seed=d.seed)
        return {"data.tokenizer": encode_model(model)}
    if not d.alphabet:
        characters = sorted(set("".join(transcripts)))
        return {"data.alphabet": "".join(characters)}
    return {}


class TranscriptVocabulary:
    """Transcripts ↔ CTC label ids (0..size-1; the model's blank is id `size`), in the graph.

    Characters: one id per character of `data.alphabet`. SentencePiece: one id per piece of the
    learned model (ids of its special pieces are never labels)."""

    def __init__(self, config: Any):
        d = config.data
        if d.vocabulary == "sentencepiece":
            if not d.tokenizer:
                raise DataError(
                    "The sentencepiece vocabulary has no model yet: train first (it is learned from the "
                    "training transcripts). Received: data.tokenizer=''"
                )
            self.layer = SentencePieceTokenizer(
                decode_model(d.tokenizer), _MAX_PIECES, add_eos=False, name="transcript_tokenizer"
            )
            self.size = self.layer.vocabulary_size()
        else:
            self.layer = CharacterVocabulary(d.alphabet, name="transcript_characters")
            self.size = self.layer.vocabulary_size()
        self.kind = d.vocabulary

    def encode(self, texts: tf.Tensor) -> tf.Tensor:
        """int32 label ids `[B, L]` of transcripts `[B]`, padded with -1 (L: the longest)."""
        if self.kind == "sentencepiece":
            ids = self.layer(texts)
            ids = ids[:, : tf.reduce_max(tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1))]
            return tf.where(ids == 0, -1, ids)
        return self.layer.encode(texts).to_tensor(default_value=-1)

    def decode(self, ids: tf.Tensor) -> tf.Tensor:
        """Transcripts `[B]` of label ids `[B, L]` padded with -1."""
        if self.kind == "sentencepiece":
            return self.layer.detokenize(tf.where(ids < 0, 0, ids))
        return self.layer.decode(ids)

    @property
    def resources(self) -> tuple:
        """What a SavedModel holding `decode` must track (the tokenizer's resources)."""
        return (self.layer,)


def transcript_vocabulary(config: Any) -> TranscriptVocabulary:
    """The vocabulary of a resolved config."""
    return TranscriptVocabulary(config)


def _label_lengths(utterances: list[Utterance], vocabulary: TranscriptVocabulary) -> np.ndarray:
    lengths = []
    for i in range(0, len(utterances), 1024):
        ids = vocabulary.encode(tf.constant([u.transcript for u in utterances[i : i + 1024]])).numpy()
        lengths.append((ids >= 0).sum(axis=1))
    return np.concatenate(lengths) if lengths else np.zeros(0, np.int64)


def make_dataset(
    utterances: list[Utterance],
    config: Any,
    training: bool,
    batch_size: int,
    input_context: Any = None,
) -> tf.data.Dataset:
    """A repeated, batched dataset of `({"samples", "sample_lengths"}, labels)` for `fit`:
    float32 samples `[B, T]` at `data.sample_rate` padded with zeros, each clip's length, and
    label ids `[B, L]` padded with -1.

    With one replica, batches hold clips of similar length (`bucket_by_sequence_length`) and are
    padded to their longest clip; with several, every batch has the dataset's longest shapes
    (Keras builds a distributed model from the replicas' first batches, which must agree)."""
    d = config.data
    vocabulary = transcript_vocabulary(config)
    every_utterance = utterances
    if input_context is not None and input_context.num_input_pipelines > 1:
        utterances = utterances[input_context.input_pipeline_id :: input_context.num_input_pipelines]
    ds = clip_dataset(utterances, d.sample_rate).map(
        functools.partial(_example, vocabulary=vocabulary), num_parallel_calls=tf.data.AUTOTUNE
    )
    if d.cache:
        ds = ds.cache()
    padding = ({"samples": 0.0, "sample_lengths": 0}, -1)
    if not batch_shapes_may_vary(input_context):
        # From the whole dataset, not this shard, so that every replica's batches agree.
        longest_clip = math.ceil(max((u.duration for u in every_utterance), default=1.0) * d.sample_rate) + 1
        longest_label = int(max(_label_lengths(every_utterance, vocabulary), default=1))
        fixed = ({"samples": [longest_clip], "sample_lengths": []}, [longest_label])
        if training:
            ds = ds.shuffle(d.shuffle_buffer or max(len(utterances), 1), seed=d.seed)
        return (
            ds.repeat()
            .padded_batch(batch_size, padded_shapes=fixed, padding_values=padding, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE)
        )
    variable = ({"samples": [None], "sample_lengths": []}, [None])
    if not training:  # each clip once per pass, the last batch partial
        return ds.padded_batch(batch_size, padded_shapes=variable, padding_values=padding).repeat()
    seconds = sorted(u.duration for u in utterances) or [1.0]
    # Eight buckets of equal counts: batches of similar length without starving any bucket.
    boundaries = sorted({int(seconds[len(seconds) * k // 8] * d.sample_rate) + 1 for k in range(1, 8)})
    ds = ds.shuffle(d.shuffle_buffer or max(len(utterances), 1), seed=d.seed).repeat()
    ds = ds.bucket_by_sequence_length(
        lambda features, labels: features["sample_lengths"],
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padded_shapes=variable,
        padding_values=padding,
        drop_remainder=True,
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def _example(samples: tf.Tensor, transcript: tf.Tensor, vocabulary: TranscriptVocabulary):
    labels = vocabulary.encode(tf.reshape(transcript, [1]))[0]
    return {"samples": samples, "sample_lengths": tf.shape(samples)[0]}, labels
