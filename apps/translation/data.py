"""Translation data: parallel text → SentencePiece ids in tf.data.

The SentencePiece models are learned from the training pairs once (`learn_tokenizers`, called by
the task's `resolve_data`) and kept in the config (base64), so `tokenizers(config)` builds the
same layers for the training data and for the served graph. Pairs are tokenized once, in large
batches, then shuffled and batched from memory; each batch is cut to its longest sentence.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np
import tensorflow as tf

from tfapps.apps.task import batch_shapes_may_vary, longest_row, validation_batches
from tfapps.models.preprocessing.subword import (
    SentencePieceTokenizer,
    decode_model,
    encode_model,
    learn_sentencepiece,
)
from tfapps.pipelines.parallel_text import ParallelDataset, TranslationPair, read_parallel_text
from tfapps.pipelines.splits import train_and_validation

__all__ = [
    "learn_tokenizers",
    "make_dataset",
    "read_split",
    "token_ids",
    "tokenizers",
    "train_val_pairs",
]

logger = logging.getLogger(__name__)


def read_split(config: Any, path: str, split: str) -> ParallelDataset:
    """Read one parallel dataset with the config's languages and columns (the reader logs its
    report); `data.max_length` applies to training data only."""
    d = config.data
    max_length = d.max_length if split == "train" else 0
    return _read(str(path), split, d.source_lang, d.target_lang, d.source_column, d.target_column, max_length)


@functools.lru_cache(maxsize=4)
def _read(path, split, source_lang, target_lang, source_column, target_column, max_length) -> ParallelDataset:
    # Cached: resolve_data, make_datasets and the trainer's probe read the same files in one process.
    return read_parallel_text(
        path,
        source_lang=source_lang,
        target_lang=target_lang,
        source_column=source_column,
        target_column=target_column,
        split=split,
        max_length=max_length,
    )


def _origin(pair: TranslationPair) -> str:
    return pair.origin


def train_val_pairs(config: Any) -> tuple[list[TranslationPair], list[TranslationPair]]:
    """The training pairs and the validation pairs (`data.val`, or a seeded `validation_split` of
    the training pairs)."""
    d = config.data
    train = read_split(config, d.train, "train")
    val = read_split(config, d.val, "val").pairs if d.val else None
    return train_and_validation(train.pairs, val, d.validation_split, d.seed, key=_origin)


def learn_tokenizers(config: Any, pairs: list[TranslationPair]) -> dict[str, str]:
    """Learn the SentencePiece model(s) from training pairs: one from both sides when
    `data.shared_vocabulary`, else one per side. Returns the config values to set."""
    d = config.data
    sources = [p.source for p in pairs]
    targets = [p.target for p in pairs]
    if d.shared_vocabulary:
        model = learn_sentencepiece(sources + targets, vocab_size=d.vocab_size, seed=d.seed)
        return {"data.source_tokenizer": encode_model(model), "data.target_tokenizer": ""}
    return {
        "data.source_tokenizer": encode_model(
            learn_sentencepiece(sources, vocab_size=d.vocab_size, seed=d.seed)
        ),
        "data.target_tokenizer": encode_model(
            learn_sentencepiece(targets, vocab_size=d.vocab_size, seed=d.seed)
        ),
    }


def tokenizers(config: Any) -> tuple[SentencePieceTokenizer, SentencePieceTokenizer]:
    """The source and target tokenizers of the learned models: `pieces </s> <pad>...` rows of
    `data.source_sequence_length` / `data.target_sequence_length` ids."""
    d = config.data
    source_model = decode_model(d.source_tokenizer)
    target_model = decode_model(d.target_tokenizer) if d.target_tokenizer else source_model
    return (
        SentencePieceTokenizer(source_model, d.source_sequence_length, name="source_tokenizer"),
        SentencePieceTokenizer(target_model, d.target_sequence_length, name="target_tokenizer"),
    )


def token_ids(texts: list[str], layer: SentencePieceTokenizer, batch: int = 4096) -> np.ndarray:
    """int32 `[N, sequence_length]` ids of `texts`."""
    chunks = [layer(tf.constant(texts[i : i + batch])).numpy() for i in range(0, len(texts), batch)]
    return np.concatenate(chunks) if chunks else np.zeros((0, layer.sequence_length), np.int32)


def make_dataset(
    pairs: list[TranslationPair],
    config: Any,
    training: bool,
    batch_size: int,
    input_context: Any = None,
) -> tf.data.Dataset:
    """A repeated, batched dataset of `({"source_ids", "decoder_ids"}, labels)` for `fit`:
    labels are the target's pieces then `</s>`, the decoder sees `<s>` then the labels shifted
    right (teacher forcing); padding is id 0 everywhere. Batches are cut to their longest
    sentences where `batch_shapes_may_vary`."""
    source_layer, target_layer = tokenizers(config)
    sources = token_ids([p.source for p in pairs], source_layer)
    labels = token_ids([p.target for p in pairs], target_layer)
    ds = tf.data.Dataset.from_tensor_slices((sources, labels))
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if training:
        ds = ds.shuffle(
            config.data.shuffle_buffer or len(pairs), seed=config.data.seed, reshuffle_each_iteration=True
        )
        # Batches of sentences of similar length: far less padding than random batches (Multi30k
        # steps took 357 instead of 650 ms), still shuffled within and across buckets.
        longest = max(config.data.source_sequence_length, config.data.target_sequence_length)
        ds = ds.repeat().bucket_by_sequence_length(
            _pair_length,
            bucket_boundaries=list(range(8, longest, 4)),
            bucket_batch_sizes=[batch_size] * (len(range(8, longest, 4)) + 1),
            drop_remainder=True,
        )
    else:
        ds = validation_batches(ds, batch_size, input_context)
    teacher_forcing = functools.partial(
        _teacher_forcing, bos=target_layer.bos_id, trim=batch_shapes_may_vary(input_context)
    )
    return ds.map(teacher_forcing, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _pair_length(source: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    return tf.maximum(
        tf.reduce_sum(tf.cast(source != 0, tf.int32)), tf.reduce_sum(tf.cast(labels != 0, tf.int32))
    )


def _teacher_forcing(sources: tf.Tensor, labels: tf.Tensor, bos: int, trim: bool):
    if trim:  # the batch's longest sentences: the model ignores padding, and most of it is padding
        sources = sources[:, : longest_row(sources)]
        labels = labels[:, : longest_row(labels)]
    starts = tf.fill(tf.stack([tf.shape(labels)[0], 1]), tf.constant(bos, labels.dtype))
    decoder_ids = tf.concat([starts, labels[:, :-1]], axis=1)
    return {"source_ids": sources, "decoder_ids": decoder_ids}, labels
