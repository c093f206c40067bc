"""Text classification data: texts and labels → WordPiece token ids in tf.data.

The vocabulary is learned from the training texts once (`resolve_data`) and kept in the config;
`tokenizer(config)` builds the same `WordPieceTokenizer` layer for the training data and for the
served graph, so the two cannot drift apart. Texts are tokenized once, in large batches, then
shuffled and batched from memory.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np
import tensorflow as tf

from tfapps.apps.task import batch_shapes_may_vary, longest_row, validation_batches
from tfapps.models.preprocessing.text import WordPieceTokenizer
from tfapps.pipelines.reader import find_split
from tfapps.pipelines.splits import train_and_validation
from tfapps.pipelines.text_data import TextDataset, TextRecord, read_text_dataset

__all__ = [
    "labels_matrix",
    "make_dataset",
    "read_split",
    "token_ids",
    "tokenizer",
    "train_val_records",
    "trim_padding",
]

logger = logging.getLogger(__name__)


def read_split(config: Any, path: str, split: str, class_names=None) -> TextDataset:
    """Read one text dataset with the config's columns and label settings (the reader logs its
    report); a split-layout folder is read from its `split` sub-folder."""
    d = config.data
    return _read(
        str(path),
        split,
        d.text_column,
        d.label_column,
        tuple(class_names or ()) or None,
        d.multi_label,
        d.label_separator,
    )


@functools.lru_cache(maxsize=4)
def _read(path, split, text_column, label_column, class_names, multi_label, separator) -> TextDataset:
    # Cached: resolve_data, make_datasets and the loss read the same files in one process.
    return read_text_dataset(
        path,
        text_column=text_column,
        label_column=label_column,
        class_names=class_names,
        multi_label=multi_label,
        label_separator=separator,
        split=split,
    )


def _source(record: TextRecord) -> str:
    return record.source


def train_val_records(config: Any) -> tuple[TextDataset, list[TextRecord], list[TextRecord]]:
    """The training dataset and its records, and the validation records (`data.val`, a `val/`
    split beside `train/`, or a seeded `validation_split` of the training records)."""
    d = config.data
    names = tuple(d.class_names) or None
    train = read_split(config, d.train, "train", names)
    val_path = d.val or (str(find_split(d.train, "val")) if find_split(d.train, "val") else "")
    val = read_split(config, val_path, "val", train.class_names).records if val_path else None
    records, val = train_and_validation(train.records, val, d.validation_split, d.seed, key=_source)
    return train, records, val


def tokenizer(config: Any) -> WordPieceTokenizer:
    """The tokenizer of the learned vocabulary (`data.vocabulary`)."""
    d = config.data
    return WordPieceTokenizer(
        list(d.vocabulary), d.sequence_length, lower_case=d.lower_case, name="tokenizer"
    )


def token_ids(texts: list[str], config: Any, batch: int = 4096) -> np.ndarray:
    """int32 `[N, sequence_length]` token ids of `texts`."""
    layer = tokenizer(config)
    chunks = [layer(tf.constant(texts[i : i + batch])).numpy() for i in range(0, len(texts), batch)]
    return np.concatenate(chunks) if chunks else np.zeros((0, config.data.sequence_length), np.int32)


def labels_matrix(records: list[TextRecord], num_classes: int) -> np.ndarray:
    """float32 `[N, K]` one-hot (single-label) or multi-hot (multi-label) targets."""
    matrix = np.zeros((len(records), num_classes), np.float32)
    for i, record in enumerate(records):
        matrix[i, list(record.labels)] = 1.0
    return matrix


def make_dataset(
    records: list[TextRecord],
    config: Any,
    training: bool,
    batch_size: int,
    input_context: Any = None,
) -> tf.data.Dataset:
    """A repeated, batched dataset of `(token_ids [B, L], targets [B, K])` for `fit`; `L` is the
    batch's longest text where `batch_shapes_may_vary`, else `data.sequence_length`."""
    ids = token_ids([r.text for r in records], config)
    targets = labels_matrix(records, len(config.data.class_names))
    ds = tf.data.Dataset.from_tensor_slices((ids, targets))
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if training:
        ds = ds.shuffle(
            config.data.shuffle_buffer or len(records), seed=config.data.seed, reshuffle_each_iteration=True
        )
        ds = ds.repeat().batch(batch_size, drop_remainder=True)
    else:
        ds = validation_batches(ds, batch_size, input_context)
    if batch_shapes_may_vary(input_context):
        ds = ds.map(trim_padding, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def trim_padding(ids: tf.Tensor, targets: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Cut a batch's ids `[B, L]` to its longest text (at least one position).

    Every model ignores padding, so this changes no answer; it saves the work on padding, which
    is most of a batch of short texts (SST-2's training phrases average 13 of 64 positions: the CNN
    and BiGRU steps run 3-4x faster)."""
    return ids[:, : longest_row(ids)], targets
