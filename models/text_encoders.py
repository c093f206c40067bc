"""Text classifiers over WordPiece token ids, and masked-language-model pretraining of the encoder.

Conventions (shared by everything in this module):

- Inputs are int32 token ids `[batch, length]` as `WordPieceTokenizer` produces them: `[CLS] pieces
  [SEP]` then `[PAD]` (id 0) up to the length. Every model accepts any batch size and any length up to
  `sequence_length` (the transformer's learned positions stop there), and ignores padding: id 0 marks
  the positions that attention, pooling and the n-grams leave out.
- Classifiers return float32 logits `[batch, num_outputs]`, float32 even under mixed precision.
- The transformer's encoder is a named sub-model `"encoder"` (ids → `[batch, length, hidden_dim]`),
  so `masked_lm_pretrainer` can train it on unlabelled text and the classifier reuse its weights.

Measured on SST-2 (learned WordPiece vocabulary of 7,711, length 64, batch 64, Adam 1e-3, 3e-4 for
the transformer; one seed; a 2-core CPU shared with another job). Dev accuracy after one epoch,
which was each model's best of the two or three run:

    model                                      ms/step   dev accuracy
    bag of embeddings (64 wide)                    5.4   80.6%
    bag + 2**14 hashed bigram buckets             12.9   79.8%
    bag + 2**17 hashed bigram buckets             56     82.2%
    CNN (128 wide, 3 x 100 filters)               24.7   81.4%
    transformer (2 x 128, no pretraining)        112     80.4%
    masked-LM pretrainer (same encoder)          244     -

Ensembles of different models make different mistakes: averaging the probabilities of the bag
(2**17 bigrams), the CNN and a BiGRU, each trained 4 epochs on all of SST-2's training phrases,
scored 84.1% and 83.6% (two seeds; the members alone 81-82%), and 83.5% through the CLI (preset
`cpu`, `bench/sst2.py`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Literal

import keras
import keras_hub
import tensorflow as tf

from tfapps.models.checks import check_positive_int, check_rate
from tfapps.models.preprocessing.text import CLS_TOKEN, PAD_TOKEN, RESERVED_TOKENS, SEP_TOKEN

__all__ = [
    "HashedBigrams",
    "MaskedMaxPooling",
    "MemberLoss",
    "PaddingMask",
    "ZeroPadding",
    "bag_of_embeddings_classifier",
    "bigru_classifier",
    "cnn_classifier",
    "encoder_blocks",
    "ensemble_classifier",
    "masked_lm_loss",
    "masked_lm_pretrainer",
    "mean_member_probabilities",
    "member_loss",
    "mlm_dataset",
    "transformer_classifier",
    "transformer_encoder",
]

PAD_ID = 0
# A prime multiplier spreads (first, second) pairs over the buckets; pairs stay below 2**62 in int64.
_BIGRAM_HASH_PRIME = 1_000_003
# Keep in step with `WordPieceTokenizer`: the ids of the default reserved tokens.
_DEFAULT_UNSELECTABLE_IDS = tuple(RESERVED_TOKENS.index(t) for t in (PAD_TOKEN, CLS_TOKEN, SEP_TOKEN))


def _token_ids_input() -> keras.KerasTensor:
    return keras.Input((None,), dtype="int32", name="token_ids")


def _logits(x, num_outputs: int, dropout: float) -> keras.KerasTensor:
    if dropout > 0.0:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    # float32 so the logits (and the softmax/loss after them) stay float32 under mixed precision.
    return keras.layers.Dense(num_outputs, dtype="float32", name="logits")(x)


# --- layers ------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="tfapps")
class PaddingMask(keras.layers.Layer):
    """`True` where a token id is not the padding id.

    Args:
        pad_id: the padding token id.

    Call arguments:
        token_ids: integer tensor `[batch, length]`.

    Returns:
        bool tensor `[batch, length]`.
    """

    def __init__(self, pad_id: int = PAD_ID, **kwargs):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        self.pad_id = int(pad_id)

    def call(self, token_ids):
        return keras.ops.not_equal(token_ids, self.pad_id)

    def compute_output_spec(self, token_ids):
        return keras.KerasTensor(token_ids.shape, dtype="bool")

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}


@keras.saving.register_keras_serializable(package="tfapps")
class HashedBigrams(keras.layers.Layer):
    """Hash each pair of neighbouring token ids into `1..num_buckets` (0 where either is padding).

    fastText's "hashing trick" for n-gram features: bigram `(a, b)` maps to
    `(a * 1000003 + b) mod num_buckets + 1`, so the bucket count, not the number of distinct
    bigrams, bounds the embedding table; colliding bigrams share an embedding.

    Args:
        num_buckets: number of hash buckets.
        pad_id: the padding token id.

    Call arguments:
        token_ids: integer tensor `[batch, length]`.

    Returns:
        int32 tensor `[batch, length - 1]` of bucket ids in `0..num_buckets` (0: padding).
    """

    def __init__(self, num_buckets: int, pad_id: int = PAD_ID, **kwargs):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        check_positive_int(num_buckets=num_buckets)
        self.num_buckets = int(num_buckets)
        self.pad_id = int(pad_id)

    def call(self, token_ids):
        first = keras.ops.cast(token_ids[:, :-1], "int64")
        second = keras.ops.cast(token_ids[:, 1:], "int64")
        buckets = (first * _BIGRAM_HASH_PRIME + second) % self.num_buckets + 1
        valid = keras.ops.logical_and(
            keras.ops.not_equal(first, self.pad_id), keras.ops.not_equal(second, self.pad_id)
        )
        return keras.ops.cast(keras.ops.where(valid, buckets, 0), "int32")

    def compute_output_spec(self, token_ids):
        length = token_ids.shape[1]
        return keras.KerasTensor(
            (token_ids.shape[0], None if length is None else max(length - 1, 0)), dtype="int32"
        )

    def get_config(self):
        return {**super().get_config(), "num_buckets": self.num_buckets, "pad_id": self.pad_id}


@keras.saving.register_keras_serializable(package="tfapps")
class ZeroPadding(keras.layers.Layer):
    """Set the vectors at padding positions to zero: `where(mask, x, 0)`.

    Before a "same"-padded convolution this makes the padding tokens look exactly like the zeros
    the convolution pads with, so a text's features do not depend on how much padding follows it.

    Call arguments:
        x: float tensor `[batch, length, channels]`.
        mask: bool tensor `[batch, length]`, `True` at real tokens.
    """

    def call(self, x, mask):
        return keras.ops.where(keras.ops.expand_dims(mask, -1), x, keras.ops.zeros_like(x))

    def compute_output_spec(self, x, mask):
        return keras.KerasTensor(x.shape, dtype=x.dtype)


@keras.saving.register_keras_serializable(package="tfapps")
class MaskedMaxPooling(keras.layers.Layer):
    """Max over the real (unmasked) positions: `GlobalMaxPooling1D` that ignores padding.

    Call arguments:
        x: float tensor `[batch, length, channels]`.
        mask: bool tensor `[batch, length]`, `True` at real tokens.

    Returns:
        `[batch, channels]`; zeros for a row without a single real position.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Takes the mask explicitly, and accepts (then drops) the one Keras attaches to `x`.
        self.supports_masking = True

    def compute_mask(self, x, mask=None):
        return None

    def call(self, x, mask):
        mask = keras.ops.expand_dims(mask, -1)
        lowest = keras.ops.full_like(x, float("-inf"))
        pooled = keras.ops.max(keras.ops.where(mask, x, lowest), axis=1)
        return keras.ops.where(keras.ops.any(mask, axis=1), pooled, keras.ops.zeros_like(pooled))

    def compute_output_spec(self, x, mask):
        return keras.KerasTensor((x.shape[0], x.shape[2]), dtype=x.dtype)


# --- transformer -------------------------------------------------------------------------------


def encoder_blocks(
    x,
    padding_mask,
    num_layers: int,
    num_heads: int,
    intermediate_dim: int,
    dropout: float,
    name_prefix: str = "transformer_layer",
):
    """Apply `num_layers` pre-layer-norm keras-hub `TransformerEncoder` blocks (GELU) to `x`
    `[batch, length, hidden]`, named `<name_prefix>_<i>`, attending only where `padding_mask`.

    Pre-layer-norm (plus a final norm, which the caller adds) trains stably from scratch without a
    careful warm-up; every Transformer stack here (classifier encoder, seq2seq encoder, the QA
    reader's fusion layers) is built with it.
    """
    for index in range(num_layers):
        x = keras_hub.layers.TransformerEncoder(
            intermediate_dim=intermediate_dim,
            num_heads=num_heads,
            dropout=dropout,
            activation="gelu",
            normalize_first=True,
            name=f"{name_prefix}_{index}",
        )(x, padding_mask=padding_mask)
    return x


def transformer_encoder(
    vocabulary_size: int,
    sequence_length: int,
    hidden_dim: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_dim: int = 256,
    dropout: float = 0.1,
    name: str = "encoder",
) -> keras.Model:
    """Build a BERT-style Transformer encoder from keras-hub layers (random initialisation).

    Token + learned position embeddings (`keras_hub.layers.TokenAndPositionEmbedding`, layer
    `"embeddings"`, whose token table `masked_lm_pretrainer` ties to its output projection), dropout,
    then `num_layers` `keras_hub.layers.TransformerEncoder` blocks (GELU) that attend only to
    non-padding tokens, and a final layer norm.

    The blocks are pre-layer-norm (`normalize_first=True`, Xiong et al., 2020) rather than BERT's
    post-layer-norm: trained from scratch on a small corpus, pre-LN is stable without a careful
    learning-rate warm-up, and the final layer norm keeps the output scale of post-LN.

    Args:
        vocabulary_size: number of token ids (the tokenizer's `vocabulary_size()`).
        sequence_length: the longest input (number of learned positions).
        hidden_dim: width of embeddings and blocks; a multiple of `num_heads`.
        num_layers: number of transformer blocks.
        num_heads: attention heads per block.
        intermediate_dim: width of each block's feed-forward layer.
        dropout: dropout rate of embeddings, attention and feed-forward outputs.
        name: model name; the classifier looks the encoder up by the default `"encoder"`.

    Returns:
        A model mapping int32 ids `[batch, length]` to the sequence output `[batch, length, hidden_dim]`
        (in the compute dtype: float16 under mixed precision). Outputs at padding positions are
        meaningless; pool them away with the padding mask.

    Raises:
        ValueError: for non-positive sizes, `hidden_dim` not a multiple of `num_heads`, or a bad rate.
    """
    check_positive_int(
        vocabulary_size=vocabulary_size,
        sequence_length=sequence_length,
        hidden_dim=hidden_dim,
        num_layers=num_layers,
        num_heads=num_heads,
        intermediate_dim=intermediate_dim,
    )
    check_rate("dropout", dropout)
    if hidden_dim % num_heads:
        raise ValueError(
            f"hidden_dim must be a multiple of num_heads ({num_heads}). Received: hidden_dim={hidden_dim}"
        )

    token_ids = _token_ids_input()
    padding_mask = PaddingMask(name="padding_mask")(token_ids)
    x = keras_hub.layers.TokenAndPositionEmbedding(
        vocabulary_size=vocabulary_size,
        sequence_length=sequence_length,
        embedding_dim=hidden_dim,
        # BERT's initialiser: small embeddings keep the first residual stream well scaled.
        embeddings_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        name="embeddings",
    )(token_ids)
    if dropout > 0.0:
        x = keras.layers.Dropout(dropout, name="embeddings_dropout")(x)
    x = encoder_blocks(x, padding_mask, num_layers, num_heads, intermediate_dim, dropout)
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_layer_norm")(x)
    return keras.Model(token_ids, x, name=name)


def _embedding_of(encoder: keras.Model) -> keras_hub.layers.TokenAndPositionEmbedding:
    for layer in encoder.layers:
        if isinstance(layer, keras_hub.layers.TokenAndPositionEmbedding):
            return layer
    raise ValueError(
        "encoder must contain a keras_hub.layers.TokenAndPositionEmbedding (build it with "
        f"transformer_encoder). Received: encoder={encoder.name!r}"
    )


def transformer_classifier(
    vocabulary_size: int,
    sequence_length: int,
    num_outputs: int,
    hidden_dim: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_dim: int = 256,
    dropout: float = 0.1,
    pooling: Literal["mean", "cls"] = "mean",
    encoder: keras.Model | None = None,
    name: str = "transformer_classifier",
) -> keras.Model:
    """Build a Transformer text classifier: encoder, pooling, dropout, float32 dense logits.

    Pooling defaults to the mean over non-padding positions rather than BERT's `[CLS]` vector:
    `[CLS]` only summarises the sentence after pretraining taught it to (BERT's next-sentence task,
    which masked-LM pretraining here lacks), while the masked mean uses every token's
    representation from the first step, which trains faster and more stably from scratch.
    `pooling="cls"` takes position 0 instead.

    Args:
        vocabulary_size: number of token ids.
        sequence_length: the longest input.
        num_outputs: number of logits (classes; 1 for a binary sigmoid head).
        hidden_dim, num_layers, num_heads, intermediate_dim: encoder architecture (see
            `transformer_encoder`); ignored when `encoder` is given.
        dropout: dropout rate in the encoder (when built here) and before the logits.
        pooling: `"mean"` (masked mean over non-padding tokens) or `"cls"` (the `[CLS]` position).
        encoder: an existing encoder (from `transformer_encoder`, e.g. after `masked_lm_pretrainer`
            trained it) to reuse, sharing its weights; `None` builds a fresh one named `"encoder"`.
        name: model name.

    Returns:
        A model mapping int32 ids `[batch, length]` to float32 logits `[batch, num_outputs]`; its
        encoder is `model.get_layer("encoder")` (or the given encoder's name).

    Raises:
        ValueError: for bad sizes or rates, an unknown `pooling`, or an `encoder` whose vocabulary
            or length differs from `vocabulary_size` / `sequence_length`.

    Example:
        >>> model = transformer_classifier(vocabulary_size=8000, sequence_length=64, num_outputs=2)
        >>> model(np.zeros((3, 64), "int32")).shape   # (3, 2)
    """
    check_positive_int(
        vocabulary_size=vocabulary_size, sequence_length=sequence_length, num_outputs=num_outputs
    )
    check_rate("dropout", dropout)
    if pooling not in ("mean", "cls"):
        raise ValueError(f"pooling must be 'mean' or 'cls'. Received: pooling={pooling!r}")
    if encoder is None:
        encoder = transformer_encoder(
            vocabulary_size,
            sequence_length,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
            num_heads=num_heads,
            intermediate_dim=intermediate_dim,
            dropout=dropout,
        )
    else:
        embedding = _embedding_of(encoder)
        if (embedding.vocabulary_size, embedding.sequence_length) != (vocabulary_size, sequence_length):
            raise ValueError(
                f"encoder was built for vocabulary_size={embedding.vocabulary_size} and "
                f"sequence_length={embedding.sequence_length}. "
                f"Received: vocabulary_size={vocabulary_size}, sequence_length={sequence_length}"
            )

    token_ids = _token_ids_input()
    sequence = encoder(token_ids)
    if pooling == "mean":
        padding_mask = PaddingMask(name="padding_mask")(token_ids)
        pooled = keras.layers.GlobalAveragePooling1D(name="masked_mean")(sequence, mask=padding_mask)
    else:
        pooled = sequence[:, 0, :]
    return keras.Model(token_ids, _logits(pooled, num_outputs, dropout), name=name)


# --- fast baselines ----------------------------------------------------------------------------


def bag_of_embeddings_classifier(
    vocabulary_size: int,
    sequence_length: int,
    num_outputs: int,
    embedding_dim: int = 64,
    ngram_buckets: int = 0,
    dropout: float = 0.2,
    name: str = "bag_of_embeddings_classifier",
) -> keras.Model:
    """Build a fastText-style classifier (Joulin et al., 2017): the mean of token embeddings.

    The mean runs over non-padding tokens (`[CLS]` and `[SEP]` included: two constant tokens only add
    a learned bias). With `ngram_buckets > 0`, hashed bigram embeddings (`HashedBigrams`) join the
    same mean, which gives the model some word order ("not good" vs "good").

    The fastest model here and, on SST-2, within a point of the CNN and the un-pretrained transformer
    (see the table in the module docstring).

    Args:
        vocabulary_size: number of token ids.
        sequence_length: the longest input; kept for a signature shared with the other builders
            (the model takes any length).
        num_outputs: number of logits.
        embedding_dim: embedding width.
        ngram_buckets: hash buckets for bigram embeddings; 0 for unigrams only. fastText uses
            2,000,000. On SST-2, 2**17 buckets gained 1.6 points but made steps 10x slower (Adam
            updates every row of the table each step); 2**14 gained nothing.
        dropout: dropout rate before the logits.
        name: model name.

    Returns:
        A model mapping int32 ids `[batch, length]` to float32 logits `[batch, num_outputs]`.

    Raises:
        ValueError: for non-positive sizes, negative `ngram_buckets` or a bad `dropout`.
    """
    check_positive_int(
        vocabulary_size=vocabulary_size,
        sequence_length=sequence_length,
        num_outputs=num_outputs,
        embedding_dim=embedding_dim,
    )
    if (
        isinstance(ngram_buckets, bool)
        or not isinstance(ngram_buckets, numbers.Integral)
        or ngram_buckets < 0
    ):
        raise ValueError(
            f"ngram_buckets must be a non-negative integer. Received: ngram_buckets={ngram_buckets!r}"
        )
    check_rate("dropout", dropout)

    token_ids = _token_ids_input()
    mask = PaddingMask(name="padding_mask")(token_ids)
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, name="token_embedding")(token_ids)
    if ngram_buckets:
        bigrams = HashedBigrams(ngram_buckets, name="hashed_bigrams")(token_ids)
        bigram_mask = PaddingMask(name="bigram_mask")(bigrams)
        # Bucket 0 (padding) is never trained: it is masked out of the mean.
        bigram_x = keras.layers.Embedding(ngram_buckets + 1, embedding_dim, name="bigram_embedding")(bigrams)
        x = keras.layers.Concatenate(axis=1, name="ngrams")([x, bigram_x])
        mask = keras.layers.Concatenate(axis=1, name="ngram_mask")([mask, bigram_mask])
    pooled = keras.layers.GlobalAveragePooling1D(name="masked_mean")(x, mask=mask)
    return keras.Model(token_ids, _logits(pooled, num_outputs, dropout), name=name)


# Measured on SST-2: the bag of embeddings is 4.6x faster per step than this CNN and within a point of it.
def cnn_classifier(
    vocabulary_size: int,
    sequence_length: int,
    num_outputs: int,
    embedding_dim: int = 128,
    filters: int = 100,
    kernel_sizes: Sequence[int] = (3, 4, 5),
    dropout: float = 0.5,
    name: str = "cnn_classifier",
) -> keras.Model:
    """Build Kim's (2014) CNN for sentence classification.

    Token embeddings, parallel ReLU `Conv1D`s of widths `kernel_sizes` with `filters` filters each,
    max pooling over the real tokens of each, concatenated, dropout and float32 dense logits. The
    convolutions use "same" padding, so inputs shorter than the widest kernel work too; padding
    embeddings are zeroed (like the convolution's own padding) and left out of the max, so the
    logits do not depend on how much padding follows a text.

    Args:
        vocabulary_size: number of token ids.
        sequence_length: the longest input; kept for a signature shared with the other builders.
        num_outputs: number of logits.
        embedding_dim: embedding width.
        filters: filters per kernel width.
        kernel_sizes: convolution widths (Kim: 3, 4, 5).
        dropout: dropout rate before the logits (Kim: 0.5).
        name: model name.

    Returns:
        A model mapping int32 ids `[batch, length]` to float32 logits `[batch, num_outputs]`.

    Raises:
        ValueError: for non-positive sizes or a bad `dropout`.
    """
    kernel_sizes = tuple(kernel_sizes)
    check_positive_int(
        vocabulary_size=vocabulary_size,
        sequence_length=sequence_length,
        num_outputs=num_outputs,
        embedding_dim=embedding_dim,
        filters=filters,
        **{f"kernel_sizes[{i}]": size for i, size in enumerate(kernel_sizes)},
    )
    if not kernel_sizes:
        raise ValueError(f"kernel_sizes must not be empty. Received: kernel_sizes={kernel_sizes!r}")
    check_rate("dropout", dropout)

    token_ids = _token_ids_input()
    mask = PaddingMask(name="padding_mask")(token_ids)
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, name="token_embedding")(token_ids)
    x = ZeroPadding(name="zero_padding")(x, mask)
    pooled = []
    for size in kernel_sizes:
        y = keras.layers.Conv1D(filters, size, padding="same", activation="relu", name=f"conv{size}")(x)
        pooled.append(MaskedMaxPooling(name=f"max_pool{size}")(y, mask))
    x = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="features")(pooled)
    return keras.Model(token_ids, _logits(x, num_outputs, dropout), name=name)


def bigru_classifier(
    vocabulary_size: int,
    sequence_length: int,
    num_outputs: int,
    embedding_dim: int = 128,
    units: int = 64,
    dropout: float = 0.5,
    embedding_dropout: float = 0.2,
    name: str = "bigru_classifier",
) -> keras.Model:
    """Build a bidirectional GRU classifier: embeddings, a BiGRU over the non-padding tokens, max
    pooling over time, dropout, float32 dense logits.

    `embedding_dropout` drops whole embedding channels (`SpatialDropout1D`), which regularises a
    recurrent model trained from scratch better than dropping single values. Padding (id 0) is
    masked, so the backward GRU starts at each text's last token.

    Args:
        vocabulary_size: number of token ids.
        sequence_length: the longest input; kept for a signature shared with the other builders
            (the model takes any length).
        num_outputs: number of logits.
        embedding_dim: embedding width.
        units: GRU units per direction.
        dropout: dropout rate before the logits.
        embedding_dropout: channel dropout rate on the embeddings.
        name: model name.

    Returns:
        A model mapping int32 ids `[batch, length]` to float32 logits `[batch, num_outputs]`.

    Raises:
        ValueError: for non-positive sizes or bad rates.
    """
    check_positive_int(
        vocabulary_size=vocabulary_size,
        sequence_length=sequence_length,
        num_outputs=num_outputs,
        embedding_dim=embedding_dim,
        units=units,
    )
    check_rate("dropout", dropout)
    check_rate("embedding_dropout", embedding_dropout)

    token_ids = _token_ids_input()
    mask = PaddingMask(name="padding_mask")(token_ids)
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, name="token_embedding")(token_ids)
    if embedding_dropout > 0.0:
        x = keras.layers.SpatialDropout1D(embedding_dropout, name="embedding_dropout")(x)
    x = keras.layers.Bidirectional(keras.layers.GRU(units, return_sequences=True), name="bigru")(x, mask=mask)
    pooled = MaskedMaxPooling(name="max_pool")(x, mask)
    return keras.Model(token_ids, _logits(pooled, num_outputs, dropout), name=name)


# --- ensembles ---------------------------------------------------------------------------------


def ensemble_classifier(members: Sequence[keras.Model], name: str = "ensemble_classifier") -> keras.Model:
    """Join classifiers over the same token ids into one model that returns every member's logits.

    The members do not share weights, and a loss applied to each member's logits separately (see
    `member_loss`) trains each exactly as it would train alone, on the same batches: the ensemble
    costs one training run and one export. Predictions average the members' probabilities
    (`mean_member_probabilities`), the classic ensemble that beats its best member when the
    members make different mistakes (on SST-2: bag of embeddings, CNN and BiGRU).

    Args:
        members: at least two models mapping int32 ids `[batch, length]` to float32 logits
            `[batch, K]`, all with the same K and distinct names.
        name: model name.

    Returns:
        A model mapping int32 ids `[batch, length]` to float32 member logits `[batch, M, K]`,
        members in the given order.

    Raises:
        ValueError: for fewer than two members, repeated names or different output widths.
    """
    members = list(members)
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least two members. Received: {len(members)} member(s)")
    names = [member.name for member in members]
    if len(set(names)) != len(names):
        raise ValueError(f"ensemble members need distinct names. Received: names={names}")
    widths = {member.name: member.output.shape[-1] for member in members}
    if len(set(widths.values())) != 1:
        raise ValueError(f"ensemble members must return the same number of logits. Received: {widths}")
    width = next(iter(widths.values()))

    token_ids = _token_ids_input()
    logits = [
        keras.layers.Reshape((1, width), name=f"{member.name}_logits")(member(token_ids))
        for member in members
    ]
    return keras.Model(token_ids, keras.layers.Concatenate(axis=1, name="member_logits")(logits), name=name)


def member_loss(loss: keras.losses.Loss) -> keras.losses.Loss:
    """Apply a `[batch, K]` loss to each member's logits `[batch, M, K]` and average over members.

    The targets `[batch, K]` are repeated for every member, so each member's gradient is what its
    own loss alone would give (the members share no weights).

    Args:
        loss: a Keras loss taking targets and logits `[batch, K]` (e.g. `CategoricalCrossentropy`).

    Returns:
        A loss taking targets `[batch, K]` and member logits `[batch, M, K]`.
    """
    return MemberLoss(loss)


@keras.saving.register_keras_serializable(package="tfapps")
class MemberLoss(keras.losses.Loss):
    """A `[batch, K]` loss averaged over ensemble members' logits `[batch, M, K]` (`member_loss`)."""

    def __init__(self, loss: keras.losses.Loss, name: str | None = None, **kwargs):
        if isinstance(loss, dict):  # from get_config
            loss = keras.losses.deserialize(loss)
        super().__init__(name=name or f"member_{loss.name}", **kwargs)
        self.loss = loss

    def call(self, y_true, y_pred):
        members = keras.ops.shape(y_pred)[1]
        width = keras.ops.shape(y_pred)[-1]
        repeated = keras.ops.repeat(keras.ops.expand_dims(y_true, 1), members, axis=1)
        per_member = self.loss.call(
            keras.ops.reshape(repeated, (-1, width)), keras.ops.reshape(y_pred, (-1, width))
        )
        return keras.ops.mean(keras.ops.reshape(per_member, (-1, members)), axis=1)

    def get_config(self):
        return {**super().get_config(), "loss": keras.losses.serialize(self.loss)}


def mean_member_probabilities(member_logits, multi_label: bool = False):
    """The ensemble's probabilities `[batch, K]`: the mean over members of each member's softmax
    (or, with `multi_label`, independent sigmoids) of its logits `[batch, M, K]`."""
    member_logits = keras.ops.cast(member_logits, "float32")
    if multi_label:
        probabilities = keras.ops.sigmoid(member_logits)
    else:
        probabilities = keras.ops.softmax(member_logits, axis=-1)
    return keras.ops.mean(probabilities, axis=1)


# --- masked-language-model pretraining ---------------------------------------------------------


def masked_lm_pretrainer(encoder: keras.Model, name: str = "masked_lm_pretrainer") -> keras.Model:
    """Wrap an encoder for masked-language-model pretraining (BERT's MLM task).

    The model gathers the encoder's outputs at the masked positions and predicts the original
    tokens with `keras_hub.layers.MaskedLMHead`, whose output projection is the transpose of the
    encoder's token embedding (weight tying, Press & Wolf 2016). The encoder is shared, not copied:
    fitting this model trains the very variables a `transformer_classifier` built with (or around)
    the same encoder uses.

    Masking happens in the input pipeline (`mlm_dataset`), so every epoch sees fresh masks. Train
    with `masked_lm_loss()` (mean cross-entropy over the real masked positions):

        >>> classifier = transformer_classifier(vocab_size, seq_len, num_outputs=2)
        >>> pretrainer = masked_lm_pretrainer(classifier.get_layer("encoder"))
        >>> pretrainer.compile("adam", loss=masked_lm_loss(),
        ...                    weighted_metrics=[keras.metrics.SparseCategoricalAccuracy()])
        >>> pretrainer.fit(mlm_dataset(ids_dataset, vocab_size, mask_token_id=4), epochs=3)
        >>> classifier.fit(...)   # starts from the pretrained encoder

    Saving: save the classifier (or `encoder`), not this model; its head reuses the encoder's
    embedding, which a `.keras` reload of the pretrainer alone would not re-tie.

    Args:
        encoder: an encoder from `transformer_encoder` (or a classifier's `get_layer("encoder")`).
        name: model name.

    Returns:
        A model with inputs `{"token_ids": int32 [batch, length], "mask_positions": int32
        [batch, masks]}` and float32 logits `[batch, masks, vocabulary_size]` at the masked positions.

    Raises:
        ValueError: if `encoder` has no `TokenAndPositionEmbedding`.
    """
    embedding = _embedding_of(encoder)
    token_ids = _token_ids_input()
    mask_positions = keras.Input((None,), dtype="int32", name="mask_positions")
    sequence = encoder(token_ids)
    logits = keras_hub.layers.MaskedLMHead(
        token_embedding=embedding.token_embedding,
        intermediate_activation="gelu",
        # float32 like every other head here: the softmax over the vocabulary needs the range.
        dtype="float32",
        name="mlm_head",
    )(sequence, mask_positions=mask_positions)
    return keras.Model({"token_ids": token_ids, "mask_positions": mask_positions}, logits, name=name)


def masked_lm_loss() -> keras.losses.Loss:
    """Sparse cross-entropy on MLM logits, averaged over the real (weight 1) masked positions."""
    # "mean_with_sample_weight": padding slots (weight 0) of rows with fewer masks than
    # `mask_selection_length` neither count in the loss nor dilute its mean.
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")


def mlm_dataset(
    ids_dataset: tf.data.Dataset,
    vocabulary_size: int,
    mask_token_id: int,
    mask_rate: float = 0.15,
    mask_selection_length: int | None = None,
    unselectable_token_ids: Sequence[int] = _DEFAULT_UNSELECTABLE_IDS,
) -> tf.data.Dataset:
    """Turn batches of token ids into masked-LM training examples with BERT's masking.

    `keras_hub.layers.MaskedLMMaskGenerator` selects `mask_rate` of each row's maskable tokens
    (never `unselectable_token_ids`: `[PAD]`, `[CLS]`, `[SEP]` by default) and replaces 80% of them by
    `[MASK]`, 10% by a random token and leaves 10% unchanged; the model must predict the originals.
    Masks are drawn anew each time the dataset is iterated (no seed: tensorflow-text's selector is
    not seedable).

    Args:
        ids_dataset: a dataset of int32 id batches `[batch, length]` (batch before masking: masking
            a whole batch at once is much faster than per example).
        vocabulary_size: number of token ids (random replacements are drawn from it).
        mask_token_id: the id of `[MASK]`.
        mask_rate: fraction of maskable tokens selected per row.
        mask_selection_length: number of mask slots per row (the most selected in a row); default
            `ceil(mask_rate * length)`, which is never exceeded.
        unselectable_token_ids: ids never selected.

    Returns:
        A dataset of `({"token_ids": masked ids int32 [batch, length], "mask_positions": int32
        [batch, masks]}, original ids int32 [batch, masks], weights float32 [batch, masks])` for
        `masked_lm_pretrainer`'s `fit`; weights are 1 for real masks, 0 for padding slots.

    Raises:
        ValueError: for a bad rate or ids, or a dataset whose elements are not `[batch, length]`.
    """
    check_positive_int(vocabulary_size=vocabulary_size)
    if not 0.0 < mask_rate < 1.0:
        raise ValueError(f"mask_rate must be in (0, 1). Received: mask_rate={mask_rate!r}")
    if not 0 <= mask_token_id < vocabulary_size:
        raise ValueError(
            f"mask_token_id must be in 0..{vocabulary_size - 1}. Received: mask_token_id={mask_token_id!r}"
        )
    spec = ids_dataset.element_spec
    if not isinstance(spec, tf.TensorSpec) or spec.shape.rank != 2 or not spec.dtype.is_integer:
        raise ValueError(
            f"ids_dataset must yield integer id batches [batch, length]. Received: element_spec={spec!r}"
        )
    if mask_selection_length is None:
        length = spec.shape[1]
        if length is None:
            raise ValueError(
                "mask_selection_length is needed when the dataset's length is unknown. "
                f"Received: element_spec={spec!r}"
            )
        mask_selection_length = max(1, math.ceil(mask_rate * length))
    check_positive_int(mask_selection_length=mask_selection_length)

    masker = keras_hub.layers.MaskedLMMaskGenerator(
        vocabulary_size=vocabulary_size,
        mask_selection_rate=mask_rate,
        mask_token_id=mask_token_id,
        mask_selection_length=mask_selection_length,
        unselectable_token_ids=[int(i) for i in unselectable_token_ids],
        # The generator's float outputs (weights) in float32 whatever the global policy.
        dtype="float32",
    )

    def mask(ids):
        masked = masker(tf.cast(ids, tf.int32))
        features = {
            "token_ids": tf.cast(masked["token_ids"], tf.int32),
            "mask_positions": tf.cast(masked["mask_positions"], tf.int32),
        }
        return features, tf.cast(masked["mask_ids"], tf.int32), tf.cast(masked["mask_weights"], tf.float32)

    return ids_dataset.map(mask, num_parallel_calls=tf.data.AUTOTUNE)
