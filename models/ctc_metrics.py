"""Word error rate of greedy CTC decoding, as a Keras metric: what training reports and the best
checkpoint is picked by. (The evaluation's `wer` and `cer` come from jiwer on the served graph's
decoded transcripts; this is the in-graph running estimate.)"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

__all__ = ["GreedyWordErrorRate", "greedy_ctc_labels"]

# Label ids are written as code points from here on to split and hash words; the space (U+0020)
# separates words.
_CODE_POINT_OFFSET = 0x100
_SPACE = 0x20


def greedy_ctc_labels(logits: tf.Tensor) -> tf.RaggedTensor:
    """The greedy CTC labelling `[B, (labels)]` of logits `[B, T, C]` (blank = class C-1): the
    best class per frame, repeats merged, blanks dropped."""
    best = tf.argmax(logits, axis=-1, output_type=tf.int32)
    blank = tf.shape(logits)[-1] - 1
    previous = tf.concat([tf.fill(tf.stack([tf.shape(best)[0], 1]), -1), best[:, :-1]], axis=1)
    return tf.ragged.boolean_mask(best, (best != blank) & (best != previous))


@keras.saving.register_keras_serializable(package="tfapps")
class GreedyWordErrorRate(keras.metrics.Metric):
    """Word error rate (word edit distance / reference words, over all batches) of the greedy
    CTC decoding of logits `[B, T, C]` (blank last) against label ids `[B, L]` padded with -1.

    Words are runs of labels between `separator_ids` (a character vocabulary's space), and a
    label in `word_start_ids` starts a new word (SentencePiece pieces that begin with `▁`).

    Args:
        vocabulary_size: number of label ids (C - 1).
        separator_ids: ids that separate words and are not part of any.
        word_start_ids: ids that begin a word.
        name, dtype: as for any Keras metric.
    """

    def __init__(
        self,
        vocabulary_size: int,
        separator_ids: Sequence[int] = (),
        word_start_ids: Sequence[int] = (),
        name: str = "wer",
        dtype=None,
    ):
        super().__init__(name=name, dtype=dtype)
        self.vocabulary_size = int(vocabulary_size)
        self.separator_ids = tuple(int(i) for i in separator_ids)
        self.word_start_ids = tuple(int(i) for i in word_start_ids)
        bad = [i for i in self.separator_ids + self.word_start_ids if not 0 <= i < self.vocabulary_size]
        if bad:
            raise ValueError(
                f"separator_ids and word_start_ids must be label ids in 0..{self.vocabulary_size - 1}. "
                f"Received: {bad}"
            )
        spelling = []
        for i in range(self.vocabulary_size):
            if i in self.separator_ids:
                spelling.append([_SPACE])
            elif i in self.word_start_ids:
                spelling.append([_SPACE, _CODE_POINT_OFFSET + i])
            else:
                spelling.append([_CODE_POINT_OFFSET + i])
        self._spelling = spelling
        self.errors = self.add_variable(shape=(), initializer="zeros", name="errors")
        self.words = self.add_variable(shape=(), initializer="zeros", name="words")

    def _words(self, labels: tf.RaggedTensor) -> tf.RaggedTensor:
        spelling = tf.ragged.constant(self._spelling, dtype=tf.int32)
        labels = tf.ragged.map_flat_values(
            lambda ids: tf.clip_by_value(ids, 0, self.vocabulary_size - 1), labels
        )
        code_points = tf.gather(spelling, labels).merge_dims(1, 2)
        text = tf.strings.unicode_encode(code_points, "UTF-8")
        return tf.strings.to_hash_bucket_fast(tf.strings.split(text), 2**62)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.cast(y_true, tf.int32)
        references = self._words(tf.ragged.boolean_mask(y_true, y_true >= 0))
        hypotheses = self._words(greedy_ctc_labels(tf.cast(y_pred, tf.float32)))
        errors = tf.edit_distance(hypotheses.to_sparse(), references.to_sparse(), normalize=False)
        words = tf.cast(references.row_lengths(), tf.float32)
        if sample_weight is not None:
            weight = tf.reshape(tf.cast(sample_weight, tf.float32), [-1])
            errors, words = errors * weight, words * weight
        self.errors.assign_add(tf.cast(tf.reduce_sum(errors), self.dtype))
        self.words.assign_add(tf.cast(tf.reduce_sum(words), self.dtype))

    def result(self):
        return tf.math.divide_no_nan(self.errors, self.words)

    def reset_state(self):
        self.errors.assign(0.0)
        self.words.assign(0.0)

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "vocabulary_size": self.vocabulary_size,
            "separator_ids": list(self.separator_ids),
            "word_start_ids": list(self.word_start_ids),
        }
