"""A DrQA-style recurrent span reader (Chen et al. 2017, "Reading Wikipedia to Answer Open-Domain
Questions") over the same `[CLS] question [SEP] context [SEP]` windows as `span_reader`.

DrQA is the classic reader for little data and no pretrained encoder: recurrent layers bring word
order for free, and explicit question-context features do the matching a Transformer trained from
scratch on a few thousand questions has to discover (`span_reader` stays near F1 9 on
bench/squad.py's split, memorising after two epochs). Each context token gets its word
embedding, the exact-match feature (`QuestionMatch`: the token occurs in the question) and an
aligned question embedding (attention from the token onto the question's embeddings); a stack of
BiGRUs runs over the context tokens only, and the outputs of all its layers are concatenated. The
question's own BiGRU stack is pooled into one vector by self-attention, and bilinear products of
each context token with that vector give the start and end logits. `[CLS]` ("no answer in this
window") gets its logits from the question vector and the context's max-pooled encoding.

The inputs and output are those of `span_reader` (`SpanLogits` at the end), so the loss, the
training labels, the answer search and the serving signature are shared. Only core TensorFlow ops
(the GRUs run as `while` loops, never as cuDNN kernels, which take only right-padded masks), so
the export runs in stock TF Serving on any device.
"""

from __future__ import annotations

import keras

from tfapps.models.checks import check_positive_int, check_rate
from tfapps.models.layers.masking import DropsKerasMask
from tfapps.models.span_reader import _SPECIAL_IDS, QuestionMatch, SpanLogits
from tfapps.models.text_encoders import PAD_ID

__all__ = [
    "AlignedQuestionEmbedding",
    "BilinearSpanScores",
    "LeadingTokens",
    "ReaderMasks",
    "SelfAttentivePooling",
    "drqa_reader",
]

_CLS_ID, _SEP_ID = _SPECIAL_IDS[2], _SPECIAL_IDS[3]
# Score of a masked attention position: exp() of it is exactly 0 beside any real score.
_MASKED_SCORE = -1e9


def _masked_softmax(scores, mask, axis=-1):
    """Softmax over the `mask`ed positions of `axis`; all zeros where no position is kept.

    In float32 whatever the compute dtype: -1e9 is -inf in float16, and a row without a kept
    position would then give NaN instead of zeros."""
    dtype = scores.dtype
    scores = keras.ops.where(mask, keras.ops.cast(scores, "float32"), _MASKED_SCORE)
    weights = keras.ops.softmax(scores, axis=axis) * keras.ops.cast(mask, "float32")
    return keras.ops.cast(weights, dtype)


@keras.saving.register_keras_serializable(package="tfapps")
class ReaderMasks(keras.layers.Layer):
    """The question and context tokens of `[CLS] question [SEP] context [SEP]` windows.

    Question tokens are segment 0 except `[CLS]`, `[SEP]` and padding; context tokens are segment 1
    except `[SEP]` and padding (`[UNK]` counts as a token on both sides).

    Call arguments:
        token_ids, segment_ids: int tensors `[batch, length]`.

    Returns:
        `(question_mask, context_mask)`, bool `[batch, length]`.
    """

    def call(self, token_ids, segment_ids):
        token_ids = keras.ops.cast(token_ids, "int32")
        segment_ids = keras.ops.cast(segment_ids, "int32")
        real = keras.ops.logical_and(
            keras.ops.not_equal(token_ids, PAD_ID), keras.ops.not_equal(token_ids, _SEP_ID)
        )
        question = keras.ops.logical_and(
            keras.ops.logical_and(real, keras.ops.equal(segment_ids, 0)),
            keras.ops.not_equal(token_ids, _CLS_ID),
        )
        context = keras.ops.logical_and(real, keras.ops.equal(segment_ids, 1))
        return question, context

    def compute_output_spec(self, token_ids, segment_ids):
        spec = keras.KerasTensor(token_ids.shape, dtype="bool")
        return spec, spec


@keras.saving.register_keras_serializable(package="tfapps")
class LeadingTokens(keras.layers.Layer):
    """Cut a sequence and its mask after the last masked-in position of the batch.

    The question sits at the start of every window, so cutting the embeddings after the batch's
    longest question lets the question encoder run over a few dozen steps instead of the window.

    Call arguments:
        x: `[batch, length, dim]`.
        mask: bool `[batch, length]`.

    Returns:
        `(x[:, :n], mask[:, :n])`, `n` the last kept position + 1 over the batch (at least 1).
    """

    def call(self, x, mask):
        positions = keras.ops.arange(1, keras.ops.shape(mask)[1] + 1)
        kept = keras.ops.where(mask, keras.ops.expand_dims(positions, 0), 0)
        n = keras.ops.maximum(keras.ops.max(kept), 1)
        return x[:, :n], mask[:, :n]

    def compute_output_spec(self, x, mask):
        return (
            keras.KerasTensor((x.shape[0], None, x.shape[2]), dtype=x.dtype),
            keras.KerasTensor((mask.shape[0], None), dtype="bool"),
        )


@keras.saving.register_keras_serializable(package="tfapps")
class AlignedQuestionEmbedding(keras.layers.Layer):
    """DrQA's aligned question embedding: for each context token, the attention-weighted average of
    the question's embeddings, weights `softmax_j(relu(W e_i) · relu(W q_j))` over question tokens.

    Args:
        units: width of the shared projection `W`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        context: `[batch, length, dim]` embeddings of the window.
        question: `[batch, question_length, dim]` embeddings of the question positions.
        question_mask: bool `[batch, question_length]`.

    Returns:
        `[batch, length, dim]`; zeros for a window without question tokens.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(units=units)
        self.units = int(units)

    def build(self, context_shape, question_shape=None, question_mask_shape=None):
        self.projection = keras.layers.Dense(self.units, activation="relu", name="projection")
        self.projection.build(context_shape)

    def call(self, context, question, question_mask):
        scores = keras.ops.einsum("bid,bjd->bij", self.projection(context), self.projection(question))
        weights = _masked_softmax(scores, keras.ops.expand_dims(question_mask, 1))
        return keras.ops.einsum("bij,bjd->bid", weights, question)

    def compute_output_spec(self, context, question, question_mask):
        return keras.KerasTensor(context.shape, dtype=context.dtype)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="tfapps")
class SelfAttentivePooling(DropsKerasMask):
    """One vector per sequence: `sum_j softmax_j(w · x_j) x_j` over the masked-in positions.

    Call arguments:
        x: `[batch, length, dim]`.
        mask: bool `[batch, length]`.

    Returns:
        `[batch, dim]`; zeros where no position is kept.
    """

    def build(self, x_shape, mask_shape=None):
        self.score = keras.layers.Dense(1, use_bias=False, name="score")
        self.score.build(x_shape)

    def call(self, x, mask):
        weights = _masked_softmax(keras.ops.squeeze(self.score(x), -1), mask)
        return keras.ops.einsum("bj,bjd->bd", weights, x)

    def compute_output_spec(self, x, mask):
        return keras.KerasTensor((x.shape[0], x.shape[2]), dtype=x.dtype)


@keras.saving.register_keras_serializable(package="tfapps")
class BilinearSpanScores(DropsKerasMask):
    """DrQA's span scores `c_i W_s q` and `c_i W_e q`, with the `[CLS]` position's pair from a
    dense layer over `q` and the context's max-pooled encoding.

    Call arguments:
        context: `[batch, length, dim_c]` encodings of the window's tokens.
        question: `[batch, dim_q]` question vector.
        context_mask: bool `[batch, length]`, the context tokens (the max pool's positions).

    Returns:
        float32 `[batch, length, 2]` start and end scores (`SpanLogits` masks the positions that
        cannot hold an answer).
    """

    def build(self, context_shape, question_shape, context_mask_shape=None):
        context_dim, question_dim = int(context_shape[-1]), int(question_shape[-1])
        self.start = keras.layers.Dense(context_dim, use_bias=False, name="start")
        self.end = keras.layers.Dense(context_dim, use_bias=False, name="end")
        self.null = keras.layers.Dense(2, name="null")
        self.start.build(question_shape)
        self.end.build(question_shape)
        self.null.build((question_shape[0], question_dim + context_dim))

    def call(self, context, question, context_mask):
        start = keras.ops.einsum("bld,bd->bl", context, self.start(question))
        end = keras.ops.einsum("bld,bd->bl", context, self.end(question))
        mask = keras.ops.expand_dims(context_mask, -1)
        pooled = keras.ops.max(keras.ops.where(mask, context, _MASKED_SCORE), axis=1)
        pooled = keras.ops.where(keras.ops.any(mask, axis=1), pooled, 0.0)
        null = self.null(keras.ops.concatenate([question, pooled], axis=-1))  # [B, 2]
        is_cls = keras.ops.reshape(
            keras.ops.equal(keras.ops.arange(keras.ops.shape(context)[1]), 0), (1, -1, 1)
        )
        scores = keras.ops.stack([start, end], axis=-1)
        return keras.ops.cast(keras.ops.where(is_cls, keras.ops.expand_dims(null, 1), scores), "float32")

    def compute_output_spec(self, context, question, context_mask):
        return keras.KerasTensor((context.shape[0], context.shape[1], 2), dtype="float32")


def _bigru_stack(x, mask, units: int, num_layers: int, dropout: float, prefix: str):
    """`num_layers` BiGRUs over the masked-in steps (dropout on each layer's input); the
    concatenation of every layer's output (DrQA's `concat_rnn_layers`)."""
    outputs = []
    for index in range(num_layers):
        if dropout > 0.0:
            x = keras.layers.Dropout(dropout, name=f"{prefix}_dropout_{index}")(x)
        # No cuDNN: its kernel takes only right-padded masks, and the context sits mid-window.
        x = keras.layers.Bidirectional(
            keras.layers.GRU(units, return_sequences=True, use_cudnn=False), name=f"{prefix}_bigru_{index}"
        )(x, mask=mask)
        outputs.append(x)
    if len(outputs) == 1:
        return outputs[0]
    return keras.layers.Concatenate(name=f"{prefix}_layers")(outputs)


def drqa_reader(
    vocabulary_size: int,
    sequence_length: int,
    embedding_dim: int = 128,
    rnn_units: int = 128,
    rnn_layers: int = 3,
    dropout: float = 0.3,
    continuation_ids=(),
    name: str = "drqa_reader",
) -> keras.Model:
    """Build the DrQA-style reader (see the module docstring).

    Args:
        vocabulary_size: number of token ids.
        sequence_length: the longest window; kept for a signature shared with `span_reader` (the
            model takes any length).
        embedding_dim: word embedding width (learned from scratch); also the width of the
            aligned-attention projection.
        rnn_units: GRU units per direction.
        rnn_layers: BiGRU layers of the context encoder and of the question encoder.
        dropout: dropout rate on the embeddings, on each BiGRU's input and on the encodings
            (DrQA: 0.3).
        continuation_ids: ids of the vocabulary's `##` pieces: answers then start and end at word
            boundaries (`SpanLogits`); empty: any piece.
        name: model name.

    Returns:
        A model mapping `{"token_ids", "segment_ids"}` (int32 `[batch, length]`) to float32 span
        logits `[batch, 2, length]` (start, end), as `span_reader`'s.

    Raises:
        ValueError: for non-positive sizes or a bad rate.

    Example:
        >>> model = drqa_reader(len(vocabulary), 256, continuation_ids=continuation_piece_ids(vocabulary))
        >>> logits = model({"token_ids": ids, "segment_ids": segments})  # [B, 2, 256]
    """
    check_positive_int(
        vocabulary_size=vocabulary_size,
        sequence_length=sequence_length,
        embedding_dim=embedding_dim,
        rnn_units=rnn_units,
        rnn_layers=rnn_layers,
    )
    check_rate("dropout", dropout)
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    segment_ids = keras.Input((None,), dtype="int32", name="segment_ids")
    question_mask, context_mask = ReaderMasks(name="masks")(token_ids, segment_ids)
    match = QuestionMatch(name="question_match")(token_ids, segment_ids)
    match = keras.layers.Reshape((-1, 1), name="exact_match")(keras.ops.cast(match, "float32"))

    embedded = keras.layers.Embedding(vocabulary_size, embedding_dim, name="token_embedding")(token_ids)
    if dropout > 0.0:
        embedded = keras.layers.Dropout(dropout, name="embedding_dropout")(embedded)
    question, question_tokens = LeadingTokens(name="question_positions")(embedded, question_mask)
    aligned = AlignedQuestionEmbedding(embedding_dim, name="aligned_question")(
        embedded, question, question_tokens
    )
    features = keras.layers.Concatenate(name="context_features")([embedded, aligned, match])

    context = _bigru_stack(features, context_mask, rnn_units, rnn_layers, dropout, "context")
    question = _bigru_stack(question, question_tokens, rnn_units, rnn_layers, dropout, "question")
    if dropout > 0.0:
        context = keras.layers.Dropout(dropout, name="context_dropout")(context)
        question = keras.layers.Dropout(dropout, name="question_dropout")(question)
    question = SelfAttentivePooling(name="question_pooling")(question, question_tokens)
    scores = BilinearSpanScores(name="span_scores")(context, question, context_mask)
    spans = SpanLogits(continuation_ids, vocabulary_size, name="span_logits")(scores, token_ids, segment_ids)
    return keras.Model({"token_ids": token_ids, "segment_ids": segment_ids}, spans, name=name)
