"""Extractive question answering over `[CLS] question [SEP] context [SEP]` windows: a span reader.

`span_reader` joins a BERT-style encoder (`text_encoders.transformer_encoder`, the part masked-LM
pretraining can train) with fusion layers that also see each token's segment and whether a context
token occurs in the question (DrQA's exact-match feature, Chen et al. 2017: without pretrained
weights the encoder alone learns question-context matching slowly), and a span head giving
start and end logits. Logits outside the context (question tokens, `[SEP]`, padding) are pushed to
a large negative value, except at `[CLS]`, which stands for "no answer in this window"; given the
vocabulary's `##` piece ids, so are the positions inside words (answers are whole words).
`SpanLogits` and `QuestionMatch` are shared with the DrQA-style reader (`models.rnn_reader`).
"""

from __future__ import annotations

import keras
import numpy as np

from tfapps.models.checks import check_positive_int, check_rate
from tfapps.models.text_encoders import PAD_ID, PaddingMask, encoder_blocks, transformer_encoder

__all__ = ["QuestionMatch", "SpanLogits", "continuation_piece_ids", "span_reader"]

# Reserved ids of `WordPieceTokenizer`'s default vocabulary: [PAD], [UNK], [CLS], [SEP], [MASK].
_SPECIAL_IDS = (0, 1, 2, 3, 4)
# A logit no span should ever win with (finite, so softmax and float16 stay well defined).
_EXCLUDED = -1e4


@keras.saving.register_keras_serializable(package="tfapps")
class QuestionMatch(keras.layers.Layer):
    """1 at context tokens (segment 1) whose id also occurs among the question's (segment 0)
    tokens, special tokens excluded; 0 elsewhere.

    Call arguments:
        token_ids, segment_ids: int tensors `[batch, length]`.

    Returns:
        int32 `[batch, length]`.
    """

    def call(self, token_ids, segment_ids):
        token_ids = keras.ops.cast(token_ids, "int32")
        special = keras.ops.any(
            keras.ops.equal(keras.ops.expand_dims(token_ids, -1), keras.ops.array(_SPECIAL_IDS, "int32")),
            axis=-1,
        )
        question = keras.ops.logical_and(keras.ops.equal(segment_ids, 0), keras.ops.logical_not(special))
        context = keras.ops.logical_and(keras.ops.equal(segment_ids, 1), keras.ops.logical_not(special))
        # [B, L, L]: context position i matches question position j.
        same = keras.ops.equal(keras.ops.expand_dims(token_ids, 2), keras.ops.expand_dims(token_ids, 1))
        matched = keras.ops.any(keras.ops.logical_and(same, keras.ops.expand_dims(question, 1)), axis=-1)
        return keras.ops.cast(keras.ops.logical_and(matched, context), "int32")

    def compute_output_spec(self, token_ids, segment_ids):
        return keras.KerasTensor(token_ids.shape, dtype="int32")


@keras.saving.register_keras_serializable(package="tfapps")
class SpanLogits(keras.layers.Layer):
    """Start/end logits `[batch, length, 2]` → float32 `[batch, 2, length]`, with every position
    that cannot start or end an answer (question tokens, `[SEP]`, padding) set to -1e4; position 0
    (`[CLS]`, "no answer here") is kept.

    With `continuation_ids` (the ids of WordPiece's `##` pieces), answers are whole words: a
    continuation piece may not start an answer, and a piece followed by a continuation piece may
    not end one (so "in 106" cannot come out of "in 1066"). The ids become a constant boolean
    table indexed by token id, a plain gather in the served graph.

    Args:
        continuation_ids: token ids that continue the word before them; empty: no word rule.
        vocabulary_size: number of token ids (the table's size); required with
            `continuation_ids`, and larger than each of them.
        **kwargs: base `keras.layers.Layer` arguments (`name`, ...).

    Call arguments:
        logits: `[batch, length, 2]`.
        token_ids, segment_ids: int tensors `[batch, length]`.

    Raises:
        ValueError: for continuation ids without a vocabulary size, or outside it.
    """

    def __init__(self, continuation_ids=(), vocabulary_size: int | None = None, **kwargs):
        super().__init__(**kwargs)
        ids = sorted({int(i) for i in continuation_ids})
        if ids:
            if vocabulary_size is None:
                raise ValueError(
                    "continuation_ids need vocabulary_size (the size of the token id table). "
                    "Received: vocabulary_size=None"
                )
            check_positive_int(vocabulary_size=vocabulary_size)
            if ids[0] < 0 or ids[-1] >= vocabulary_size:
                raise ValueError(
                    f"continuation_ids must lie in [0, vocabulary_size={vocabulary_size}). "
                    f"Received: continuation_ids with min={ids[0]}, max={ids[-1]}"
                )
        self.continuation_ids = ids
        self.vocabulary_size = None if vocabulary_size is None else int(vocabulary_size)
        self._table = None
        if ids:
            self._table = np.zeros(self.vocabulary_size, bool)
            self._table[ids] = True

    def call(self, logits, token_ids, segment_ids):
        logits = keras.ops.transpose(keras.ops.cast(logits, "float32"), (0, 2, 1))
        token_ids = keras.ops.cast(token_ids, "int32")
        positions = keras.ops.arange(keras.ops.shape(token_ids)[1])
        context = keras.ops.logical_and(
            keras.ops.equal(segment_ids, 1), keras.ops.not_equal(token_ids, PAD_ID)
        )
        context = keras.ops.logical_and(context, keras.ops.not_equal(token_ids, _SPECIAL_IDS[3]))  # [SEP]
        is_cls = keras.ops.expand_dims(keras.ops.equal(positions, 0), 0)
        can_start = can_end = context
        if self._table is not None:
            table = keras.ops.convert_to_tensor(self._table)
            continuation = keras.ops.take(table, keras.ops.clip(token_ids, 0, self.vocabulary_size - 1))
            # The piece after each position ([SEP] or padding after the last, never a continuation).
            next_continuation = keras.ops.pad(continuation[:, 1:], [[0, 0], [0, 1]], constant_values=False)
            can_start = keras.ops.logical_and(context, keras.ops.logical_not(continuation))
            can_end = keras.ops.logical_and(context, keras.ops.logical_not(next_continuation))
        allowed = keras.ops.stack(
            [keras.ops.logical_or(can_start, is_cls), keras.ops.logical_or(can_end, is_cls)], axis=1
        )
        return keras.ops.where(allowed, logits, _EXCLUDED)

    def compute_output_spec(self, logits, token_ids, segment_ids):
        return keras.KerasTensor((logits.shape[0], 2, logits.shape[1]), dtype="float32")

    def get_config(self):
        return {
            **super().get_config(),
            "continuation_ids": list(self.continuation_ids),
            "vocabulary_size": self.vocabulary_size,
        }


def continuation_piece_ids(vocabulary) -> list[int]:
    """The ids of a WordPiece vocabulary's `##` pieces (the pieces that continue a word)."""
    return [i for i, token in enumerate(vocabulary) if token.startswith("##") and len(token) > 2]


def span_reader(
    vocabulary_size: int,
    sequence_length: int,
    hidden_dim: int = 256,
    num_layers: int = 4,
    num_heads: int = 4,
    intermediate_dim: int = 512,
    fusion_layers: int = 1,
    dropout: float = 0.1,
    continuation_ids=(),
    name: str = "span_reader",
) -> keras.Model:
    """Build the span reader.

    Args:
        vocabulary_size: number of token ids.
        sequence_length: the longest window (learned positions stop there).
        hidden_dim, num_layers, num_heads, intermediate_dim: the encoder (see
            `transformer_encoder`); the fusion layers have the same width.
        fusion_layers: Transformer layers over encoder output + segment + question-match
            embeddings; 0 adds the embeddings straight before the span head.
        dropout: dropout rate.
        continuation_ids: ids of the vocabulary's `##` pieces (`continuation_piece_ids`): answers
            then start and end at word boundaries (`SpanLogits`); empty: any piece.
        name: model name.

    Returns:
        A model mapping `{"token_ids", "segment_ids"}` (int32 `[batch, length]`) to float32 span
        logits `[batch, 2, length]` (start, end); its encoder is `model.get_layer("encoder")`.

    Raises:
        ValueError: for bad sizes or rates.
    """
    check_positive_int(
        vocabulary_size=vocabulary_size, sequence_length=sequence_length, hidden_dim=hidden_dim
    )
    check_rate("dropout", dropout)
    if isinstance(fusion_layers, bool) or not isinstance(fusion_layers, int) or fusion_layers < 0:
        raise ValueError(
            f"fusion_layers must be a non-negative integer. Received: fusion_layers={fusion_layers!r}"
        )
    encoder = transformer_encoder(
        vocabulary_size,
        sequence_length,
        hidden_dim=hidden_dim,
        num_layers=num_layers,
        num_heads=num_heads,
        intermediate_dim=intermediate_dim,
        dropout=dropout,
    )
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    segment_ids = keras.Input((None,), dtype="int32", name="segment_ids")
    padding_mask = PaddingMask(name="padding_mask")(token_ids)
    x = encoder(token_ids)
    match = QuestionMatch(name="question_match")(token_ids, segment_ids)
    # Unit-variance feature embeddings: the encoder's output is layer-normalised (unit scale per
    # channel), and Keras' default ±0.05 embeddings would start as noise beside it, leaving the
    # reader stuck at answering by question type alone.
    feature_init = keras.initializers.RandomNormal(stddev=1.0)
    x = keras.layers.Add(name="with_features")(
        [
            x,
            keras.layers.Embedding(
                2, hidden_dim, embeddings_initializer=feature_init, name="segment_embedding"
            )(segment_ids),
            keras.layers.Embedding(
                2, hidden_dim, embeddings_initializer=feature_init, name="match_embedding"
            )(match),
        ]
    )
    x = encoder_blocks(
        x, padding_mask, fusion_layers, num_heads, intermediate_dim, dropout, name_prefix="fusion_layer"
    )
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="fusion_norm")(x)
    logits = keras.layers.Dense(2, dtype="float32", name="span_head")(x)
    spans = SpanLogits(continuation_ids, vocabulary_size, name="span_logits")(logits, token_ids, segment_ids)
    return keras.Model({"token_ids": token_ids, "segment_ids": segment_ids}, spans, name=name)
