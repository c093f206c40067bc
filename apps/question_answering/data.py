"""Question answering data: SQuAD examples → `[CLS] question [SEP] context [SEP]` windows with
start/end labels, in tf.data.

The WordPiece vocabulary is learned once from the training questions and contexts (`resolve_data`)
and kept in the config; `featurizer(config)` builds the same `QaFeaturizer` layer for the training
windows and for the served graph. Examples are featurized once, in large batches; windows whose
context part does not hold the answer are labelled `[CLS]` (position 0), as in BERT. Labels cover
whole words: the readers' `SpanLogits` lets answers start and end only at word boundaries, so a gold
answer that starts or ends inside a word (SQuAD's "106" of "1066", once the vocabulary splits it
into `106 ##6`) is widened to the word's first and last pieces.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np
import tensorflow as tf

from tfapps.apps.task import batch_shapes_may_vary, longest_row, validation_batches
from tfapps.models.preprocessing.qa import QaFeaturizer, answer_token_span
from tfapps.models.span_reader import continuation_piece_ids
from tfapps.pipelines.squad_data import SquadDataset, SquadExample, read_squad

__all__ = [
    "featurize",
    "featurizer",
    "make_dataset",
    "read_split",
    "train_val_examples",
    "whole_word_labels",
]

logger = logging.getLogger(__name__)

# Examples per featurizer call.
_FEATURIZE_BATCH = 512


def read_split(path: str, split: str) -> SquadDataset:
    """Read a SQuAD JSON file (the reader logs its report)."""
    return _read(str(path), split)


@functools.lru_cache(maxsize=4)
def _read(path: str, split: str) -> SquadDataset:
    # Cached: resolve_data, make_datasets and the trainer's probe read the same file in one process.
    return read_squad(path, split=split)


def train_val_examples(config: Any) -> tuple[SquadDataset, list[SquadExample], list[SquadExample]]:
    """The training dataset, its training examples and the validation examples: `data.val`, or a
    seeded `validation_split` of the training articles (whole articles, so no context is on both
    sides)."""
    d = config.data
    train = read_split(d.train, "train")
    if d.val:
        return train, list(train.examples), list(read_split(d.val, "val").examples)
    titles = list(dict.fromkeys(e.title for e in train.examples))
    if d.validation_split <= 0 or len(titles) < 2:
        return train, list(train.examples), []
    held_out_count = min(max(int(round(d.validation_split * len(titles))), 1), len(titles) - 1)
    held_out = set(np.random.default_rng(d.seed).permutation(titles)[:held_out_count].tolist())
    kept = [e for e in train.examples if e.title not in held_out]
    return train, kept, [e for e in train.examples if e.title in held_out]


def featurizer(config: Any) -> QaFeaturizer:
    """The featurizer of the learned vocabulary and the config's window settings."""
    d = config.data
    return QaFeaturizer(
        list(d.vocabulary),
        sequence_length=d.sequence_length,
        max_question_length=d.max_question_length,
        stride=d.stride,
        lower_case=d.lower_case,
        name="featurizer",
    )


def featurize(examples: list[SquadExample], config: Any) -> dict[str, np.ndarray]:
    """Windows of `examples` as numpy arrays: `token_ids`, `segment_ids` `[W, L]`, `labels`
    `[W, 2]` (first and last token of the words holding the first answer, `[CLS]` when the window
    lacks them or the question has none; see `whole_word_labels`) and `example_index` `[W]`."""
    layer = featurizer(config)
    continuation = np.zeros(len(config.data.vocabulary), bool)
    continuation[continuation_piece_ids(config.data.vocabulary)] = True
    parts: list[dict[str, np.ndarray]] = []
    for offset in range(0, len(examples), _FEATURIZE_BATCH):
        batch = examples[offset : offset + _FEATURIZE_BATCH]
        features = layer(tf.constant([e.question for e in batch]), tf.constant([e.context for e in batch]))
        starts = np.array([e.answers[0].start if e.answers else -1 for e in batch], np.int32)
        ends = np.array([e.answers[0].end if e.answers else -1 for e in batch], np.int32)
        index = features["example_index"]
        start_token, end_token = answer_token_span(
            features["token_start_char"],
            features["token_end_char"],
            tf.gather(starts, index),
            tf.gather(ends, index),
        )
        token_ids = features["token_ids"].numpy()
        labels = whole_word_labels(
            np.stack([start_token.numpy(), end_token.numpy()], axis=1),
            continuation[token_ids],
            features["token_start_char"].numpy() >= 0,
        )
        parts.append(
            {
                "token_ids": token_ids,
                "segment_ids": features["segment_ids"].numpy(),
                "labels": labels,
                "example_index": index.numpy() + offset,
            }
        )
    if not parts:
        length = config.data.sequence_length
        return {
            "token_ids": np.zeros((0, length), np.int32),
            "segment_ids": np.zeros((0, length), np.int32),
            "labels": np.zeros((0, 2), np.int32),
            "example_index": np.zeros((0,), np.int32),
        }
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def whole_word_labels(labels: np.ndarray, continuation: np.ndarray, context: np.ndarray) -> np.ndarray:
    """Widen start/end labels to whole words: the start moves back to its word's first piece, the
    end forward to its word's last piece (in the window), as `SpanLogits` with continuation ids
    only lets answers start and end there.

    A window whose context begins inside the answer's first word (the word's first piece is in
    the window before) gets `[CLS]` labels: no span of it can start the answer.

    Args:
        labels: int `[W, 2]` start and end positions; `(0, 0)` (`[CLS]`) means no answer here.
        continuation: bool `[W, L]`, the positions of `##` pieces.
        context: bool `[W, L]`, the context positions.

    Returns:
        int32 `[W, 2]`.
    """
    labels = np.asarray(labels, np.int32)
    length = continuation.shape[1]
    positions = np.arange(length)
    piece = continuation & context
    # The nearest position at or before i / after i that does not continue a word.
    word_start = np.maximum.accumulate(np.where(piece, 0, positions), axis=1)
    next_word = np.minimum.accumulate(np.where(piece, length, positions)[:, ::-1], axis=1)[:, ::-1]
    word_end = np.concatenate([next_word[:, 1:], np.full((len(labels), 1), length)], axis=1) - 1
    rows = np.arange(len(labels))
    start = word_start[rows, labels[:, 0]]
    end = word_end[rows, labels[:, 1]]
    answered = (labels[:, 0] > 0) & context[rows, start]
    return np.where(answered[:, None], np.stack([start, end], axis=1), 0).astype(np.int32)


def make_dataset(
    windows: dict[str, np.ndarray],
    config: Any,
    training: bool,
    batch_size: int,
    input_context: Any = None,
) -> tf.data.Dataset:
    """A repeated, batched dataset of `({"token_ids", "segment_ids"}, labels [B, 2])` for `fit`."""
    ds = tf.data.Dataset.from_tensor_slices(
        ({"token_ids": windows["token_ids"], "segment_ids": windows["segment_ids"]}, windows["labels"])
    )
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if training:
        count = len(windows["labels"])
        ds = ds.shuffle(
            config.data.shuffle_buffer or max(count, 1), seed=config.data.seed, reshuffle_each_iteration=True
        )
        ds = ds.repeat()
        if config.data.bucket_by_length and batch_shapes_may_vary(input_context):
            # Batches of windows of about the same length, cut below to their longest: most
            # contexts are shorter than a window, and a random batch almost always holds one
            # full-length window (on SQuAD at 256 tokens: mean 186, every batch 256).
            step = max(config.data.sequence_length // 16, 8)
            boundaries = list(range(step, config.data.sequence_length, step))
            ds = ds.bucket_by_sequence_length(
                lambda inputs, labels: longest_row(inputs["token_ids"][tf.newaxis]),
                bucket_boundaries=boundaries,
                bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
                drop_remainder=True,
            )
        else:
            ds = ds.batch(batch_size, drop_remainder=True)
    else:
        ds = validation_batches(ds, batch_size, input_context)
    if batch_shapes_may_vary(input_context):
        ds = ds.map(_trim, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _trim(inputs: dict[str, tf.Tensor], labels: tf.Tensor):
    # Cut the batch to its longest window: the model ignores padding (short contexts leave a lot).
    length = longest_row(inputs["token_ids"])
    return {key: value[:, :length] for key, value in inputs.items()}, labels
