"""Extractive question answering in the graph: windows of `[CLS] question [SEP] context [SEP]`, and
the answer span picked back out of the model's start/end logits as character offsets.

`QaFeaturizer` turns a batch of `(question, context)` strings into fixed-length BERT rows; a long
context is split into overlapping windows. Each context token carries the character span it came
from in the original context, so a span of tokens maps back to `context[start:end]` whatever the
normalisation did (lower-casing, accent stripping, NFD, multi-byte UTF-8). The training pipeline maps
the same layer over its dataset (with `answer_token_span` for the labels) that the serving signature
calls on the request, and `best_spans` + `extract_answer` turn the logits into the answer text.

Conventions (shared by everything in this module):

- **Rows**: `[CLS] question pieces [SEP] context pieces [SEP] [PAD]...`, `sequence_length` long. The
  question keeps its first `max_question_length` pieces. Segment ids are 0 for `[CLS]`, the question
  and the first `[SEP]`, 1 for the context pieces and the last `[SEP]`, 0 for padding (BERT's).
- **Windows** (BERT `run_squad.py`'s `doc_stride`): a question of `q` pieces leaves room for
  `capacity = sequence_length - 3 - q` context pieces per row. A context of `n` pieces gets windows
  starting at pieces `0, stride, 2 * stride, ...` (the step is `min(stride, capacity)`), each holding
  up to `capacity` pieces, until one reaches the last piece: `1 + ceil(max(n - capacity, 0) / step)`
  windows, so neighbouring windows overlap by `capacity - step` pieces and every piece is in at least
  one. `stride` is the step between window starts, as BERT's `doc_stride`; Hugging Face tokenizers'
  `stride` argument is the overlap instead. An empty context still gets one window (`[CLS] q [SEP]
  [SEP]`), so every example has at least one row.
- **Offsets** are character offsets (Unicode code points, Python `str` semantics) in the original
  context: a context token spans `context[start:end]`. Characters the normaliser drops (combining
  accents, control characters) belong to the token before them. Non-context positions hold -1.
  Invalid UTF-8 is replaced by U+FFFD first (one character per invalid sequence), and offsets count
  characters of the replaced text, which is also what `extract_answer` cuts.
- **Empty answers**: `start = end = -1` (so `extract_answer` gives `""`), and the score is the null
  score, `start_logit[CLS] + end_logit[CLS]` minimised over the example's windows (as BERT's SQuAD 2.0
  reference). Training labels for "no answer in this window" point at `[CLS]`: token `(0, 0)`.

Only core TensorFlow and tensorflow-text ops (`FastBertNormalize`, `FastWordpieceTokenizeWithOffsets`),
so a SavedModel built from them runs in stock `tensorflow_model_server`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfapps.models.checks import check_positive_int
from tfapps.models.preprocessing.strings import checked_string_vector, replace_invalid_utf8
from tfapps.models.preprocessing.text import WordPieceTokenizer

__all__ = ["QaFeaturizer", "answer_token_span", "best_spans", "extract_answer"]

_INT32_MAX = 2**31 - 1


def _gather_padded(flat_values: tf.Tensor, indices: tf.Tensor, valid: tf.Tensor, default) -> tf.Tensor:
    """`flat_values[indices]` where `valid`, `default` elsewhere; indices may be out of range where not valid."""
    # One extra element, so the gather has something to read even from an empty `flat_values`.
    padded = tf.concat([flat_values, tf.constant([default], flat_values.dtype)], axis=0)
    size = tf.shape(flat_values, out_type=indices.dtype)[0]
    safe = tf.where(valid, tf.clip_by_value(indices, 0, size), size)
    return tf.gather(padded, safe)


@keras.saving.register_keras_serializable(package="tfapps")
class QaFeaturizer(keras.layers.Layer):
    """Turn `(question, context)` string pairs into BERT windows with character offsets.

    Tokenization is `WordPieceTokenizer`'s (tensorflow-text's `FastBertNormalizer` and
    `FastWordpieceTokenizer` with the same settings), so a question or a short context gets the same
    pieces as the text classifiers do. See the module docstring for the window, segment and offset
    conventions.

    Args:
        vocabulary: the WordPiece tokens, as `learn_wordpiece_vocabulary` returns them (`[PAD]` first;
            `[UNK]`, `[CLS]`, `[SEP]` present).
        sequence_length: length `L` of every row.
        max_question_length: question pieces kept (the rest are cut); `sequence_length` must leave
            room for these, three special tokens and at least one context piece.
        stride: pieces between the starts of neighbouring windows of a long context (BERT's
            `doc_stride`); capped at the window's capacity so no piece is skipped.
        lower_case: lower-case and strip accents; must match the vocabulary's.
        **kwargs: base `keras.layers.Layer` arguments (`name`, ...).

    Call arguments:
        question: string tensor `[batch]`.
        context: string tensor `[batch]`.

    Returns:
        A dict over `W >= batch` windows (at least one per example, in example order):
        `token_ids`, `segment_ids` int32 `[W, L]`; `example_index` int32 `[W]`, the row of the
        input each window came from; `token_start_char`, `token_end_char` int32 `[W, L]`, each
        context token's span `context[start:end]` in characters, -1 at the other positions.

    Raises:
        ValueError: for a bad vocabulary or lengths; at call time for non-string or non-vector input.

    Example:
        >>> featurizer = QaFeaturizer(vocabulary, sequence_length=384)
        >>> features = featurizer(tf.constant(["Who wrote it?"]), tf.constant(["Écrit par Zoé."]))
        >>> features["token_ids"].shape  # one window
        TensorShape([1, 384])
    """

    def __init__(
        self,
        vocabulary,
        sequence_length: int = 384,
        max_question_length: int = 64,
        stride: int = 128,
        lower_case: bool = True,
        **kwargs,
    ):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        check_positive_int(
            sequence_length=sequence_length, max_question_length=max_question_length, stride=stride
        )
        if sequence_length < max_question_length + 4:
            raise ValueError(
                f"sequence_length must leave room for [CLS], the question's max_question_length pieces, "
                f"two [SEP] and at least one context piece, i.e. be at least max_question_length + 4 = "
                f"{max_question_length + 4}. Received: sequence_length={sequence_length}"
            )
        # The tokenizer validates the vocabulary and owns the normaliser and WordPiece models.
        self.tokenizer = WordPieceTokenizer(
            vocabulary, sequence_length=sequence_length, lower_case=lower_case, name="tokenizer"
        )
        self.sequence_length = int(sequence_length)
        self.max_question_length = int(max_question_length)
        self.stride = int(stride)
        self.lower_case = bool(lower_case)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    @property
    def vocabulary(self) -> list[str]:
        return self.tokenizer.get_vocabulary()

    def call(self, question, context):
        question = replace_invalid_utf8(checked_string_vector(question, "QaFeaturizer"))
        context = replace_invalid_utf8(checked_string_vector(context, "QaFeaturizer"))
        normalizer, wordpiece = self.tokenizer._normalizer, self.tokenizer._wordpiece
        length = self.sequence_length

        question_pieces = wordpiece.tokenize(normalizer.normalize(question))[:, : self.max_question_length]
        context_pieces, start_byte, end_byte = self._context_pieces(context)
        start_char, end_char = self._byte_to_char_offsets(context, context_pieces, start_byte, end_byte)

        # --- windows: example b gets num_windows[b] rows -----------------------------------------
        question_length = question_pieces.row_lengths()
        num_pieces = context_pieces.row_lengths()
        capacity = length - 3 - question_length
        step = tf.minimum(tf.constant(self.stride, tf.int64), capacity)
        overflow = tf.maximum(num_pieces - capacity, 0)
        num_windows = 1 + (overflow + step - 1) // step
        example_index = tf.repeat(tf.range(tf.size(num_windows, out_type=tf.int64)), num_windows)
        window_number = tf.ragged.range(num_windows).flat_values
        window_start = window_number * tf.gather(step, example_index)
        window_pieces = tf.minimum(
            tf.gather(capacity, example_index), tf.gather(num_pieces, example_index) - window_start
        )
        window_question_length = tf.gather(question_length, example_index)

        # --- rows, by position: [CLS] question [SEP] context [SEP] [PAD]... -----------------------
        position = tf.range(length, dtype=tf.int64)[tf.newaxis, :]
        question_position = position - 1
        is_question = (question_position >= 0) & (question_position < window_question_length[:, None])
        question_index = tf.gather(question_pieces.row_starts(), example_index)[:, None] + question_position
        context_position = position - window_question_length[:, None] - 2
        is_context = (context_position >= 0) & (context_position < window_pieces[:, None])
        context_index = (
            tf.gather(context_pieces.row_starts(), example_index)[:, None]
            + window_start[:, None]
            + context_position
        )
        first_sep = question_position == window_question_length[:, None]
        last_sep = context_position == window_pieces[:, None]

        ids = tf.where(
            is_context,
            _gather_padded(context_pieces.flat_values, context_index, is_context, 0),
            _gather_padded(question_pieces.flat_values, question_index, is_question, 0),
        )
        ids = tf.where(first_sep | last_sep, self.tokenizer.sep_token_id, ids)
        ids = tf.where(position == 0, self.tokenizer.cls_token_id, ids)
        segment_ids = tf.cast(is_context | last_sep, tf.int32)
        token_start_char = _gather_padded(start_char, context_index, is_context, -1)
        token_end_char = _gather_padded(end_char, context_index, is_context, -1)
        return {
            "token_ids": tf.ensure_shape(ids, [None, length]),
            "segment_ids": tf.ensure_shape(segment_ids, [None, length]),
            "example_index": tf.cast(example_index, tf.int32),
            "token_start_char": tf.ensure_shape(token_start_char, [None, length]),
            "token_end_char": tf.ensure_shape(token_end_char, [None, length]),
        }

    def _context_pieces(self, context):
        """Pieces `[B, (n)]` and their byte spans in the (UTF-8-valid) context, int64 ragged."""
        normalizer, wordpiece = self.tokenizer._normalizer, self.tokenizer._wordpiece
        normalized, to_original = normalizer.normalize_with_offsets(context)
        pieces, start, end = wordpiece.tokenize_with_offsets(normalized)
        # `to_original[b, k]` is the input byte of normalised byte k, including k = len(normalized):
        # a piece's end maps to the input byte where the next kept character starts, so the
        # characters the normaliser dropped after it (a combining accent) stay in its span.
        rows_start = tf.gather(to_original.row_starts(), pieces.value_rowids())
        start = tf.gather(to_original.flat_values, rows_start + start.flat_values)
        end = tf.gather(to_original.flat_values, rows_start + end.flat_values)
        return pieces, start, end

    @staticmethod
    def _byte_to_char_offsets(context, pieces, start_byte, end_byte):
        """Byte offsets (flat, one per piece) in `context` → int32 character offsets in it."""
        # Searched in one sorted vector over the whole batch: each row's bytes and characters are
        # shifted by the bytes before the row, so no padding to the longest context is needed.
        _, char_starts = tf.strings.unicode_decode_with_offsets(context, "UTF-8")
        byte_lengths = tf.cast(tf.strings.length(context, unit="BYTE"), tf.int64)
        byte_base = tf.cumsum(byte_lengths, exclusive=True)
        all_char_starts = char_starts.flat_values + tf.gather(byte_base, char_starts.value_rowids())
        rows = pieces.value_rowids()
        piece_byte_base = tf.gather(byte_base, rows)
        piece_char_base = tf.gather(char_starts.row_starts(), rows)

        def to_chars(byte_offsets):
            # Characters starting before the offset: its character index (or the end of the row).
            index = tf.searchsorted(
                all_char_starts, byte_offsets + piece_byte_base, side="left", out_type=tf.int64
            )
            return tf.cast(index - piece_char_base, tf.int32)

        return to_chars(start_byte), to_chars(end_byte)

    def compute_output_spec(self, question, context):
        return {
            "token_ids": keras.KerasTensor((None, self.sequence_length), dtype="int32"),
            "segment_ids": keras.KerasTensor((None, self.sequence_length), dtype="int32"),
            "example_index": keras.KerasTensor((None,), dtype="int32"),
            "token_start_char": keras.KerasTensor((None, self.sequence_length), dtype="int32"),
            "token_end_char": keras.KerasTensor((None, self.sequence_length), dtype="int32"),
        }

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary": self.vocabulary,
            "sequence_length": self.sequence_length,
            "max_question_length": self.max_question_length,
            "stride": self.stride,
            "lower_case": self.lower_case,
        }


def answer_token_span(token_start_char, token_end_char, answer_start_char, answer_end_char):
    """Training labels: the window positions of the first and last token of an answer.

    Hugging Face `run_qa.py`'s rule: the answer is inside a window when the window's first context
    token starts at or before `answer_start_char` and its last context token ends at or after
    `answer_end_char`; then the start label is the last context token starting at or before
    `answer_start_char` and the end label the first context token ending at or after
    `answer_end_char`. Otherwise, and for an empty or missing answer (`answer_end_char <=
    answer_start_char`, or a negative start as SQuAD 2.0's unanswerable questions), both labels are
    0, the `[CLS]` position.

    Pure TensorFlow: works eagerly, in a `tf.data` map (one window `[L]` with scalar answers, or a
    batch) and in a graph.

    Args:
        token_start_char, token_end_char: integer `[..., L]`, `QaFeaturizer`'s offsets (-1 outside the
            context).
        answer_start_char, answer_end_char: integer `[...]`, the answer's `context[start:end]` span in
            characters, one per window (gather an example's answer with `example_index`).

    Returns:
        `(start_token, end_token)`, int32 `[...]`.

    Example:
        >>> features = featurizer(questions, contexts)
        >>> starts, ends = answer_token_span(
        ...     features["token_start_char"], features["token_end_char"],
        ...     tf.gather(answer_starts, features["example_index"]),
        ...     tf.gather(answer_ends, features["example_index"]))
    """
    token_start_char = tf.cast(token_start_char, tf.int32)
    token_end_char = tf.cast(token_end_char, tf.int32)
    answer_start = tf.cast(answer_start_char, tf.int32)
    answer_end = tf.cast(answer_end_char, tf.int32)
    is_context = token_start_char >= 0
    position = tf.range(tf.shape(token_start_char)[-1])
    first_start = tf.reduce_min(tf.where(is_context, token_start_char, _INT32_MAX), axis=-1)
    last_end = tf.reduce_max(tf.where(is_context, token_end_char, -1), axis=-1)
    inside = (
        (answer_start >= 0)
        & (answer_end > answer_start)
        & (first_start <= answer_start)
        & (last_end >= answer_end)
    )
    starts_before = is_context & (token_start_char <= answer_start[..., tf.newaxis])
    ends_after = is_context & (token_end_char >= answer_end[..., tf.newaxis])
    start_token = tf.reduce_max(tf.where(starts_before, position, -1), axis=-1)
    end_token = tf.reduce_min(tf.where(ends_after, position, _INT32_MAX), axis=-1)
    return tf.where(inside, start_token, 0), tf.where(inside, end_token, 0)


def best_spans(
    start_logits,
    end_logits,
    token_start_char,
    token_end_char,
    example_index,
    num_examples,
    max_answer_length: int = 30,
    allow_null: bool = False,
    null_score_diff_threshold: float = 0.0,
):
    """The best answer span of each example, as character offsets in its context.

    A span is valid when both ends are context tokens of the same window, `start <= end` and
    `end - start < max_answer_length` tokens; its score is `start_logit[start] + end_logit[end]`.
    Every valid span of every window is scored (a band `[W, L, max_answer_length]`, not BERT's
    top-20 pre-selection), and the best across an example's windows wins (ties: the earliest window,
    then the earliest span).

    With `allow_null` (SQuAD 2.0), the answer is empty when the null score, `start_logit[CLS] +
    end_logit[CLS]` minimised over the example's windows, exceeds the best span's score by more
    than `null_score_diff_threshold` (BERT's reference rule). An example without any valid span
    (an empty context) also gets the empty answer. Empty answers have `start = end = -1` and the
    null score as their score.

    Args:
        start_logits, end_logits: float `[W, L]`, one row per `QaFeaturizer` window.
        token_start_char, token_end_char: int `[W, L]`, the featurizer's offsets (-1 outside the
            context, which marks the positions a span may not use).
        example_index: int `[W]`, the featurizer's window → example map.
        num_examples: the batch size `B` (a scalar, e.g. `tf.shape(question)[0]`).
        max_answer_length: the longest answer, in tokens.
        allow_null: whether an empty answer may beat the best span.
        null_score_diff_threshold: how much the null score must exceed the best span's score.

    Returns:
        `(start_char, end_char, score)`: int32 `[B]`, int32 `[B]`, float32 `[B]`; the answer is
        `context[start_char:end_char]` (see `extract_answer`).

    Raises:
        ValueError: for a non-positive `max_answer_length`.
    """
    check_positive_int(max_answer_length=max_answer_length)
    span = int(max_answer_length)
    start_logits = tf.cast(start_logits, tf.float32)
    end_logits = tf.cast(end_logits, tf.float32)
    token_start_char = tf.cast(token_start_char, tf.int32)
    token_end_char = tf.cast(token_end_char, tf.int32)
    example_index = tf.cast(example_index, tf.int32)
    num_examples = tf.cast(num_examples, tf.int32)
    length = tf.shape(start_logits)[1]
    num_windows = tf.shape(start_logits)[0]

    # band[w, i, d] = the span from token i to token i + d.
    is_context = token_start_char >= 0
    offsets = tf.range(length)[:, tf.newaxis] + tf.range(span)[tf.newaxis, :]  # [L, span]
    padded_end = tf.pad(end_logits, [[0, 0], [0, span - 1]])
    padded_is_context = tf.pad(is_context, [[0, 0], [0, span - 1]])
    valid = is_context[:, :, tf.newaxis] & tf.gather(padded_is_context, offsets, axis=1)
    band = start_logits[:, :, tf.newaxis] + tf.gather(padded_end, offsets, axis=1)
    band = tf.reshape(tf.where(valid, band, float("-inf")), [num_windows, length * span])
    window_score = tf.reduce_max(band, axis=1)
    window_best = tf.argmax(band, axis=1, output_type=tf.int32)
    window_start = window_best // span
    window_end = window_start + window_best % span

    # The best window of each example: the first whose best score equals the example's best.
    example_score = tf.math.unsorted_segment_max(window_score, example_index, num_examples)
    is_best = (window_score == tf.gather(example_score, example_index)) & (window_score > float("-inf"))
    window_ids = tf.range(num_windows)
    best_window = tf.math.unsorted_segment_min(
        tf.where(is_best, window_ids, num_windows), example_index, num_examples
    )
    found = best_window < num_windows
    best_window = tf.minimum(best_window, tf.maximum(num_windows - 1, 0))
    start_position = tf.gather(window_start, best_window)
    end_position = tf.gather(window_end, best_window)
    start_char = tf.gather_nd(token_start_char, tf.stack([best_window, start_position], axis=1))
    end_char = tf.gather_nd(token_end_char, tf.stack([best_window, end_position], axis=1))

    null_score = tf.math.unsorted_segment_min(
        start_logits[:, 0] + end_logits[:, 0], example_index, num_examples
    )
    is_null = ~found
    if allow_null:
        is_null |= null_score - example_score > null_score_diff_threshold
    return (
        tf.where(is_null, -1, start_char),
        tf.where(is_null, -1, end_char),
        tf.where(is_null, null_score, example_score),
    )


def extract_answer(context, start_char, end_char) -> tf.Tensor:
    """`context[start_char:end_char]` per example, counted in characters (Python `str` slicing).

    Offsets are clipped to the context, so `-1, -1` (the empty answer) gives `""`. Invalid UTF-8 is
    replaced by U+FFFD first, as `QaFeaturizer` does before it counts characters.

    Args:
        context: string tensor `[B]`.
        start_char, end_char: integer `[B]`.

    Returns:
        string tensor `[B]`.
    """
    context = replace_invalid_utf8(checked_string_vector(context, "extract_answer"))
    num_chars = tf.strings.length(context, unit="UTF8_CHAR")
    start = tf.clip_by_value(tf.cast(start_char, tf.int32), 0, num_chars)
    end = tf.clip_by_value(tf.cast(end_char, tf.int32), start, num_chars)
    return tf.strings.substr(context, start, end - start, unit="UTF8_CHAR")
