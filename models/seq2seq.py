"""An encoder-decoder Transformer for machine translation, its loss and metric, and greedy and beam-search
decoding that run inside a TensorFlow graph.

Conventions (shared by everything in this module, and by the SentencePiece tokenizer):

- Token ids are int32: `<pad>` 0, `<s>` 2, `</s>` 3. Source ids `[batch, S]` are `pieces... </s>` then
  padding; the decoder input is `<s> target...` and the labels `target... </s>`, both padded with 0.
- `transformer_seq2seq` maps `{"source_ids": [B, S], "decoder_ids": [B, T]}` to float32 logits
  `[B, T, target_vocabulary_size]` (float32 even under mixed precision), for any batch size and any
  lengths up to `max_source_length` / `max_target_length` (the learned positions stop there).
- Decoding (`greedy_decode`, `beam_search`) uses only core TensorFlow ops, so a `tf.function` over it
  can be saved in a SavedModel signature with a `[None, None]` source and served by stock
  `tensorflow_model_server`. It never emits `<pad>` or `<s>`; a hypothesis is its tokens up to and
  including `</s>`, then padding (or `max_length` tokens without `</s>`), and its score is its
  log-probability under the model, divided by GNMT's length penalty `((5 + length) / 6) ** alpha`
  (Wu et al., 2016), `length` counting the `</s>`.

Incremental decoding: the decoder's keras-hub `TransformerDecoder` layers keep a key/value cache per
layer (`self_attention_cache`, `[rows, 2, max_length, heads, head_dim]`), so each decoding step runs
the decoder over one new position and attends to the cached keys and values of the earlier ones; the
cross-attention keys and values of the encoder output are computed once. See
`TransformerSeq2Seq.call_decoder_with_cache`.
"""

from __future__ import annotations

import math
import numbers

import keras
import keras_hub
import tensorflow as tf

from tfapps.models.checks import check_positive_int, check_rate
from tfapps.models.text_encoders import PaddingMask, encoder_blocks

__all__ = [
    "BOS_ID",
    "EOS_ID",
    "PAD_ID",
    "MaskedSparseCrossentropy",
    "MaskedTokenAccuracy",
    "TransformerSeq2Seq",
    "beam_search",
    "greedy_decode",
    "masked_sparse_crossentropy",
    "masked_token_accuracy",
    "transformer_seq2seq",
]

# Keep in step with `tfapps.models.preprocessing.subword` (the SentencePiece tokenizer's ids).
PAD_ID, BOS_ID, EOS_ID = 0, 2, 3
# Tokens decoding never emits: padding means "after the end", and `<s>` only starts the decoder input.
_NEVER_EMITTED = (PAD_ID, BOS_ID)


# --- layers ------------------------------------------------------------------------------------


def _write_rows(cache, start, update):
    """`cache` with `update` written over rows `start:start + len(update)` of axis 1.

    Core-op version of `keras.ops.slice_update`, which the TensorFlow backend implements with
    `XlaDynamicUpdateSlice`: outside XLA that op needs an XLA compiler at run time, which stock
    `tensorflow_model_server` lacks.
    """
    end = start + tf.shape(update)[1]
    return tf.ensure_shape(tf.concat([cache[:, :start], update, cache[:, end:]], axis=1), cache.shape)


class _CoreOpsCachedAttention(keras_hub.layers.CachedMultiHeadAttention):
    """keras-hub's cached attention whose cache update uses core TensorFlow ops (`_write_rows`)."""

    def call(
        self,
        query,
        value,
        key=None,
        attention_mask=None,
        cache=None,
        cache_update_index=None,
        return_attention_scores=False,
        training=None,
    ):
        if cache is None or cache_update_index is None or return_attention_scores:
            return super().call(
                query,
                value,
                key=key,
                attention_mask=attention_mask,
                cache=cache,
                cache_update_index=cache_update_index,
                return_attention_scores=return_attention_scores,
                training=training,
            )
        # As CachedMultiHeadAttention: project the new positions, write them into the cache, attend.
        key = value if key is None else key
        cache = tf.convert_to_tensor(cache)
        key_cache = _write_rows(cache[:, 0], cache_update_index, self._key_dense(key))
        value_cache = _write_rows(cache[:, 1], cache_update_index, self._value_dense(value))
        output, _ = self._compute_attention(
            query=self._query_dense(query),
            key=key_cache,
            value=value_cache,
            attention_mask=attention_mask,
            training=training,
        )
        return self._output_dense(output), tf.stack([key_cache, value_cache], axis=1)


@keras.saving.register_keras_serializable(package="tfapps")
class Seq2SeqDecoderLayer(keras_hub.layers.TransformerDecoder):
    """`keras_hub.layers.TransformerDecoder` whose attention caches update with core TensorFlow ops.

    Identical weights, arguments and results; only the op that writes new keys and values into a
    cache differs (see `_write_rows`), so a decoding graph runs in stock TF Serving.
    """

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        super().build(decoder_sequence_shape, encoder_sequence_shape)
        # keras-hub creates its attention layers inside `build`, with no way to pass a class; the
        # subclass only overrides `call`, so switching the class of the built layers is safe.
        for attention in (self._self_attention_layer, self._cross_attention_layer):
            if attention is not None:
                attention.__class__ = _CoreOpsCachedAttention


# --- model -------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="tfapps")
class TransformerSeq2Seq(keras.Model):
    """Encoder-decoder Transformer (Vaswani et al., 2017) with pre-layer-norm blocks and tied output
    embeddings. Build it with `transformer_seq2seq`, which documents the arguments.

    A functional model whose layers are also attributes (keras-hub's backbone pattern), so decoding
    can run its pieces separately on the same weights:

    - `encoder` (also `get_layer("encoder")`): a sub-model, source ids `[B, S]` → `[B, S, hidden_dim]`.
    - `call_decoder_with_cache`: the decoder over a few positions with key/value caches.
    - `empty_caches`: zero caches to start from.

    The config holds the constructor arguments and `from_config` rebuilds the model from them, so a
    `.keras` reload ties the shared embeddings again.
    """

    def __init__(
        self,
        source_vocabulary_size: int,
        target_vocabulary_size: int,
        max_source_length: int,
        max_target_length: int,
        hidden_dim: int = 256,
        num_layers: int = 3,
        num_heads: int = 4,
        intermediate_dim: int = 512,
        dropout: float = 0.1,
        share_embeddings: bool = False,
        **kwargs,
    ):
        check_positive_int(
            source_vocabulary_size=source_vocabulary_size,
            target_vocabulary_size=target_vocabulary_size,
            max_source_length=max_source_length,
            max_target_length=max_target_length,
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
        if share_embeddings and source_vocabulary_size != target_vocabulary_size:
            raise ValueError(
                "share_embeddings needs one vocabulary for both sides. Received: "
                f"source_vocabulary_size={source_vocabulary_size}, "
                f"target_vocabulary_size={target_vocabulary_size}"
            )

        # fairseq's convention for tied embeddings: N(0, 1/sqrt(hidden_dim)) tables whose lookups are
        # scaled by sqrt(hidden_dim), so inputs have unit scale and first logits are moderate.
        def token_embedding(vocabulary_size, name):
            return keras.layers.ReversibleEmbedding(
                vocabulary_size,
                hidden_dim,
                embeddings_initializer=keras.initializers.RandomNormal(stddev=hidden_dim**-0.5),
                # float32 logits (and the softmax after them) under mixed precision.
                reverse_dtype="float32",
                name=name,
            )

        def position_embedding(length, name):
            return keras_hub.layers.PositionEmbedding(
                length, initializer=keras.initializers.TruncatedNormal(stddev=0.02), name=name
            )

        # === layers ===
        # Not `TokenAndPositionEmbedding`: it owns its token table, so the two sides could not share
        # one. keras-hub's Bart composes the same two layers for the same reason.
        self.source_token_embedding = token_embedding(
            source_vocabulary_size, "token_embedding" if share_embeddings else "source_token_embedding"
        )
        self.source_position_embedding = position_embedding(max_source_length, "source_position_embedding")
        self.target_token_embedding = (
            self.source_token_embedding
            if share_embeddings
            else token_embedding(target_vocabulary_size, "target_token_embedding")
        )
        self.target_position_embedding = position_embedding(max_target_length, "target_position_embedding")
        self.embedding_scale = math.sqrt(hidden_dim)
        self.decoder_dropout = keras.layers.Dropout(dropout, name="decoder_embeddings_dropout")
        self.decoder_layers = [
            Seq2SeqDecoderLayer(
                intermediate_dim=intermediate_dim,
                num_heads=num_heads,
                dropout=dropout,
                activation="gelu",
                normalize_first=True,
                name=f"decoder_layer_{index}",
            )
            for index in range(num_layers)
        ]
        self.decoder_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="decoder_final_layer_norm")

        # === encoder ===
        source_ids = keras.Input((None,), dtype="int32", name="source_ids")
        x = self._embed(source_ids, self.source_token_embedding, self.source_position_embedding)
        x = keras.layers.Dropout(dropout, name="encoder_embeddings_dropout")(x)
        source_padding_mask = PaddingMask(name="source_padding_mask")(source_ids)
        x = encoder_blocks(
            x,
            source_padding_mask,
            num_layers,
            num_heads,
            intermediate_dim,
            dropout,
            name_prefix="encoder_layer",
        )
        x = keras.layers.LayerNormalization(epsilon=1e-5, name="encoder_final_layer_norm")(x)
        self.encoder = keras.Model(source_ids, x, name="encoder")

        # === encoder-decoder ===
        source_ids = keras.Input((None,), dtype="int32", name="source_ids")
        decoder_ids = keras.Input((None,), dtype="int32", name="decoder_ids")
        encoder_sequence = self.encoder(source_ids)
        x = self._embed(decoder_ids, self.target_token_embedding, self.target_position_embedding)
        x = self.decoder_dropout(x)
        source_padding_mask = PaddingMask(name="source_padding_mask")(source_ids)
        decoder_padding_mask = PaddingMask(name="decoder_padding_mask")(decoder_ids)
        for layer in self.decoder_layers:
            x = layer(
                x,
                encoder_sequence,
                decoder_padding_mask=decoder_padding_mask,
                encoder_padding_mask=source_padding_mask,
            )
        logits = self.target_token_embedding(self.decoder_norm(x), reverse=True)
        super().__init__(
            inputs={"source_ids": source_ids, "decoder_ids": decoder_ids}, outputs=logits, **kwargs
        )

        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.share_embeddings = share_embeddings

    def _embed(self, ids, token_embedding, position_embedding, start_index=0):
        tokens = token_embedding(ids) * self.embedding_scale
        return tokens + position_embedding(tokens, start_index=start_index)

    def empty_caches(self, rows, target_length, source_length):
        """Zero key/value caches for `call_decoder_with_cache`.

        Args:
            rows: number of sequences decoded together (batch, or batch x beam).
            target_length: positions the self-attention caches hold (the most tokens to decode).
            source_length: the encoder sequence's length.

        Returns:
            `(self_attention_caches, cross_attention_caches)`: lists with one tensor per decoder
            layer, `[rows, 2, target_length, num_heads, head_dim]` and `[rows, 2, source_length,
            num_heads, head_dim]`, in the decoder's compute dtype.
        """
        head_dim = self.hidden_dim // self.num_heads
        dtype = self.decoder_layers[0].compute_dtype
        self_shape = tf.stack([rows, 2, target_length, self.num_heads, head_dim])
        cross_shape = tf.stack([rows, 2, source_length, self.num_heads, head_dim])
        return (
            [tf.zeros(self_shape, dtype) for _ in self.decoder_layers],
            [tf.zeros(cross_shape, dtype) for _ in self.decoder_layers],
        )

    def call_decoder_with_cache(
        self,
        decoder_ids,
        encoder_sequence,
        source_padding_mask,
        self_attention_caches,
        self_attention_cache_update_index,
        cross_attention_caches,
        cross_attention_cache_update_index=None,
    ):
        """Run the decoder over the positions `index..index + len(decoder_ids) - 1` with key/value caches.

        Keras-hub's `Seq2SeqLM.call_decoder_with_cache` contract (see its Bart model): the new
        positions' self-attention keys and values are written into `self_attention_caches` at
        `self_attention_cache_update_index`, and they attend (causally) to everything cached before.
        Pass `cross_attention_cache_update_index=0` on the first call to fill the cross-attention
        caches from `encoder_sequence`, and `None` afterwards to reuse them. Inference only (no dropout).

        Args:
            decoder_ids: int32 `[rows, n]`, the decoder input at those positions (usually n = 1).
            encoder_sequence: the encoder output `[rows, S, hidden_dim]`.
            source_padding_mask: bool `[rows, S]`, `True` at real source tokens.
            self_attention_caches, cross_attention_caches: per-layer caches (`empty_caches`).
            self_attention_cache_update_index: int or scalar int tensor, the first position.
            cross_attention_cache_update_index: `0` or `None`, see above.

        Returns:
            `(logits, self_attention_caches, cross_attention_caches)`: float32 logits
            `[rows, n, target_vocabulary_size]` and the updated caches.
        """
        index = self_attention_cache_update_index
        x = self._embed(decoder_ids, self.target_token_embedding, self.target_position_embedding, index)
        next_self, next_cross = [], []
        for layer, self_cache, cross_cache in zip(
            self.decoder_layers, self_attention_caches, cross_attention_caches, strict=True
        ):
            x, self_cache, cross_cache = layer(
                x,
                encoder_sequence,
                encoder_padding_mask=source_padding_mask,
                self_attention_cache=self_cache,
                self_attention_cache_update_index=index,
                cross_attention_cache=cross_cache,
                cross_attention_cache_update_index=cross_attention_cache_update_index,
                training=False,
            )
            next_self.append(self_cache)
            next_cross.append(cross_cache)
        logits = self.target_token_embedding(self.decoder_norm(x), reverse=True)
        return logits, next_self, next_cross

    def get_config(self):
        # Not the functional config (a layer graph): the arguments, so `from_config` rebuilds the model
        # through `__init__` and shared embeddings stay shared.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "source_vocabulary_size": self.source_vocabulary_size,
            "target_vocabulary_size": self.target_vocabulary_size,
            "max_source_length": self.max_source_length,
            "max_target_length": self.max_target_length,
            "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "share_embeddings": self.share_embeddings,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def transformer_seq2seq(
    source_vocabulary_size: int,
    target_vocabulary_size: int,
    max_source_length: int,
    max_target_length: int,
    hidden_dim: int = 256,
    num_layers: int = 3,
    num_heads: int = 4,
    intermediate_dim: int = 512,
    dropout: float = 0.1,
    share_embeddings: bool = False,
    name: str = "transformer_seq2seq",
) -> TransformerSeq2Seq:
    """Build an encoder-decoder Transformer for translation from keras-hub layers (random initialisation).

    Encoder: source token embeddings (scaled by sqrt(hidden_dim)) plus learned positions, dropout,
    `num_layers` pre-layer-norm `keras_hub.layers.TransformerEncoder` blocks (GELU) attending only to
    non-padding tokens, a final layer norm. Decoder: the same for the target side with
    `keras_hub.layers.TransformerDecoder` blocks (causal self-attention, cross-attention to the
    non-padding source positions), a final layer norm, and the output projection tied to the target
    token embedding (Press & Wolf, 2017). With `share_embeddings` (one vocabulary for both languages)
    the source and target token embeddings are one table, which also projects the logits.

    Args:
        source_vocabulary_size, target_vocabulary_size: number of token ids on each side.
        max_source_length: the longest source (number of learned source positions).
        max_target_length: the longest decoder input (`<s>` plus target), and so the most tokens
            decoding can produce.
        hidden_dim: width of embeddings and blocks; a multiple of `num_heads`.
        num_layers: number of encoder blocks, and of decoder blocks.
        num_heads: attention heads per block.
        intermediate_dim: width of each block's feed-forward layer.
        dropout: dropout rate of embeddings, attention and feed-forward outputs.
        share_embeddings: one token table for both sides; needs equal vocabulary sizes.
        name: model name.

    Returns:
        A `TransformerSeq2Seq` mapping `{"source_ids": int32 [B, S], "decoder_ids": int32 [B, T]}` to
        float32 logits `[B, T, target_vocabulary_size]`. Logits at padding positions of
        `decoder_ids` are meaningless; `masked_sparse_crossentropy` ignores them.

    Raises:
        ValueError: for non-positive sizes, `hidden_dim` not a multiple of `num_heads`, a bad rate,
            or `share_embeddings` with different vocabulary sizes.

    Example:
        >>> model = transformer_seq2seq(8000, 8000, 64, 64, share_embeddings=True)
        >>> model({"source_ids": source_ids, "decoder_ids": decoder_ids})   # [B, T, 8000]
        >>> ids, scores = beam_search(model, source_ids, beam_size=4, max_length=64)
    """
    return TransformerSeq2Seq(
        source_vocabulary_size=source_vocabulary_size,
        target_vocabulary_size=target_vocabulary_size,
        max_source_length=max_source_length,
        max_target_length=max_target_length,
        hidden_dim=hidden_dim,
        num_layers=num_layers,
        num_heads=num_heads,
        intermediate_dim=intermediate_dim,
        dropout=dropout,
        share_embeddings=share_embeddings,
        name=name,
    )


# --- loss and metric ---------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="tfapps")
class MaskedSparseCrossentropy(keras.losses.Loss):
    """Label-smoothed cross-entropy of logits `[B, T, V]` against ids `[B, T]`, averaged over the
    non-padding labels (`masked_sparse_crossentropy`)."""

    def __init__(
        self,
        label_smoothing: float = 0.1,
        name: str = "masked_sparse_crossentropy",
        reduction: str = "mean_with_sample_weight",
        **kwargs,
    ):
        super().__init__(name=name, reduction=reduction, **kwargs)
        check_rate("label_smoothing", label_smoothing)
        self.label_smoothing = float(label_smoothing)

    def __call__(self, y_true, y_pred, sample_weight=None):
        # Padding labels get weight 0; "mean_with_sample_weight" then divides by the real labels' count.
        mask = tf.cast(tf.not_equal(tf.cast(y_true, tf.int32), PAD_ID), self.dtype)
        if sample_weight is not None:
            sample_weight = tf.cast(sample_weight, self.dtype)
            if sample_weight.shape.rank == 1:
                sample_weight = sample_weight[:, tf.newaxis]
            mask = mask * sample_weight
        return super().__call__(y_true, y_pred, sample_weight=mask)

    def call(self, y_true, y_pred):
        log_probs = tf.nn.log_softmax(tf.cast(y_pred, tf.float32))
        nll = -tf.gather(log_probs, tf.cast(y_true, tf.int32), batch_dims=2)
        # Smoothing mixes the one-hot target with a uniform one: (1 - e) * nll + e * mean over the vocabulary.
        uniform = -tf.reduce_mean(log_probs, axis=-1)
        return (1.0 - self.label_smoothing) * nll + self.label_smoothing * uniform

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def masked_sparse_crossentropy(label_smoothing: float = 0.1) -> MaskedSparseCrossentropy:
    """The translation loss: label-smoothed (Szegedy et al., 2016) sparse cross-entropy on logits
    `[B, T, V]` against label ids `[B, T]`, averaged over the labels that are not padding (id 0).

    Args:
        label_smoothing: the mass spread uniformly over the vocabulary, in [0, 1); 0.1 as in
            Vaswani et al. (2017).

    Raises:
        ValueError: for a `label_smoothing` outside [0, 1).
    """
    return MaskedSparseCrossentropy(label_smoothing=label_smoothing)


@keras.saving.register_keras_serializable(package="tfapps")
class MaskedTokenAccuracy(keras.metrics.Metric):
    """The fraction of non-padding labels `[B, T]` whose logit `[B, T, V]` is the highest
    (`masked_token_accuracy`)."""

    def __init__(self, name: str = "token_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable((), initializer="zeros", name="correct")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.cast(y_true, tf.int32)
        weight = tf.cast(tf.not_equal(y_true, PAD_ID), tf.float32)
        if sample_weight is not None:
            sample_weight = tf.cast(sample_weight, tf.float32)
            if sample_weight.shape.rank == 1:
                sample_weight = sample_weight[:, tf.newaxis]
            weight = weight * sample_weight
        hit = tf.cast(tf.equal(tf.argmax(y_pred, axis=-1, output_type=tf.int32), y_true), tf.float32)
        self.correct.assign_add(tf.reduce_sum(hit * weight))
        self.count.assign_add(tf.reduce_sum(weight))

    def result(self):
        return tf.math.divide_no_nan(self.correct, self.count)

    def reset_state(self):
        self.correct.assign(0.0)
        self.count.assign(0.0)


def masked_token_accuracy() -> MaskedTokenAccuracy:
    """Token accuracy of logits `[B, T, V]` against label ids `[B, T]`, over the non-padding labels."""
    return MaskedTokenAccuracy()


# --- decoding ----------------------------------------------------------------------------------


def _check_decoding_args(model, source_ids, max_length, length_penalty):
    if not isinstance(model, TransformerSeq2Seq):
        raise ValueError(
            "model must be a TransformerSeq2Seq (from transformer_seq2seq). "
            f"Received: model={type(model).__name__}"
        )
    source_ids = tf.convert_to_tensor(source_ids)
    if source_ids.shape.rank != 2 or not source_ids.dtype.is_integer:
        raise ValueError(
            f"source_ids must be integer ids [batch, length]. Received: source_ids={source_ids.shape} "
            f"{source_ids.dtype.name}"
        )
    if isinstance(max_length, numbers.Number) and (
        isinstance(max_length, bool) or not isinstance(max_length, numbers.Integral) or max_length < 1
    ):
        raise ValueError(f"max_length must be a positive integer. Received: max_length={max_length!r}")
    if (
        isinstance(length_penalty, bool)
        or not isinstance(length_penalty, numbers.Real)
        or not 0.0 <= length_penalty < math.inf
    ):
        raise ValueError(f"length_penalty must be a number >= 0. Received: length_penalty={length_penalty!r}")
    # Decoding cannot go past the decoder's learned positions.
    if max_length is None:
        max_length = model.max_target_length
    max_length = tf.minimum(tf.cast(max_length, tf.int32), model.max_target_length)
    return tf.cast(source_ids, tf.int32), max_length


def _length_penalty(lengths, alpha: float):
    """GNMT's length penalty `((5 + length) / 6) ** alpha`."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, float(alpha))


class _IncrementalDecoder:
    """A source's encoder output and caches, for decoding `rows` = batch x `repeats` sequences one
    position at a time."""

    def __init__(self, model: TransformerSeq2Seq, source_ids, max_length, repeats: int = 1):
        self.model = model
        encoder_sequence = model.encoder(source_ids, training=False)
        padding_mask = tf.not_equal(source_ids, PAD_ID)
        if repeats > 1:
            # Encode once, then give each beam its own copy.
            encoder_sequence = tf.repeat(encoder_sequence, repeats, axis=0)
            padding_mask = tf.repeat(padding_mask, repeats, axis=0)
        self.encoder_sequence, self.padding_mask = encoder_sequence, padding_mask
        rows = tf.shape(encoder_sequence)[0]
        self_caches, cross_caches = model.empty_caches(rows, max_length, tf.shape(source_ids)[1])
        # One step over `<s>` fills the cross-attention caches; the first decoding step repeats that
        # step (and rewrites the same self-attention keys), which is simpler than special-casing it.
        bos = tf.fill(tf.stack([rows, 1]), BOS_ID)
        _, self.self_caches, self.cross_caches = model.call_decoder_with_cache(
            bos, encoder_sequence, padding_mask, self_caches, 0, cross_caches, 0
        )
        vocabulary = model.target_vocabulary_size
        self.never_emitted = tf.reduce_any(
            tf.equal(tf.range(vocabulary)[:, tf.newaxis], tf.constant(_NEVER_EMITTED)), axis=1
        )

    def step(self, tokens, index, self_caches):
        """Log-probabilities `[rows, vocabulary]` of the token at `index` given `tokens` at `index`
        (the previous output, or `<s>`), and the updated caches. `<pad>` and `<s>` get -inf."""
        logits, self_caches, _ = self.model.call_decoder_with_cache(
            tokens[:, tf.newaxis],
            self.encoder_sequence,
            self.padding_mask,
            self_caches,
            index,
            self.cross_caches,
            None,
        )
        log_probs = tf.nn.log_softmax(logits[:, 0])
        # Not renormalised: scores stay the model's own log-probabilities.
        return tf.where(self.never_emitted, -math.inf, log_probs), self_caches


def _write_column(ids, index, tokens):
    """`ids [..., L]` (zeros from column `index` on) with `tokens [...]` written at column `index`."""
    return ids + tf.one_hot(index, tf.shape(ids)[-1], dtype=ids.dtype) * tokens[..., tf.newaxis]


def greedy_decode(model: TransformerSeq2Seq, source_ids, max_length, length_penalty: float = 0.0):
    """Translate by picking the most likely token at each step, in the graph.

    Works eagerly and inside a `tf.function` with a `[None, None]` source (any batch size, any
    length up to `model.max_source_length`), using core TensorFlow ops only. The loop stops when every
    sequence has emitted `</s>`, or after `max_length` tokens.

    Args:
        model: a model from `transformer_seq2seq`.
        source_ids: int ids `[B, S]`, each row `pieces... </s>` then padding.
        max_length: the most tokens per translation (`</s>` included): a positive int or a scalar
            int tensor, e.g. `tf.shape(source_ids)[1] + 50`. Capped at `model.max_target_length`.
        length_penalty: alpha of the length penalty the scores are divided by; 0 (default) reports
            plain log-probabilities. It does not change the ids.

    Returns:
        `(ids, scores)`: int32 `[B, L]`, each row the tokens up to and including `</s>` then `<pad>`
        (or `max_length` tokens without `</s>`), L the longest row; float32 `[B]`, the
        log-probability of each row divided by `((5 + length) / 6) ** length_penalty`.

    Raises:
        ValueError: for a model not built by `transformer_seq2seq`, `source_ids` not `[B, S]`
            integers, a non-positive `max_length` or a negative `length_penalty`.
    """
    source_ids, max_length = _check_decoding_args(model, source_ids, max_length, length_penalty)
    decoder = _IncrementalDecoder(model, source_ids, max_length)
    batch = tf.shape(source_ids)[0]

    def not_done(index, tokens, ids, scores, lengths, finished, caches):
        return tf.logical_and(index < max_length, tf.logical_not(tf.reduce_all(finished)))

    def step(index, tokens, ids, scores, lengths, finished, caches):
        log_probs, caches = decoder.step(tokens, index, caches)
        # top_k rather than argmax: it breaks ties towards the lower id, as beam search does.
        best_log_prob, best = tf.math.top_k(log_probs, k=1)
        tokens = tf.where(finished, PAD_ID, best[:, 0])
        scores += tf.where(finished, 0.0, best_log_prob[:, 0])
        lengths = tf.where(finished, lengths, index + 1)
        finished = tf.logical_or(finished, tf.equal(tokens, EOS_ID))
        return index + 1, tokens, _write_column(ids, index, tokens), scores, lengths, finished, caches

    steps, _, ids, scores, lengths, _, _ = tf.while_loop(
        not_done,
        step,
        (
            tf.constant(0),
            tf.fill([batch], BOS_ID),
            tf.zeros(tf.stack([batch, max_length]), tf.int32),
            tf.zeros([batch]),
            tf.zeros([batch], tf.int32),
            tf.zeros([batch], tf.bool),
            decoder.self_caches,
        ),
        maximum_iterations=max_length,
    )
    return ids[:, :steps], scores / _length_penalty(lengths, length_penalty)


def beam_search(
    model: TransformerSeq2Seq,
    source_ids,
    beam_size: int = 4,
    max_length=None,
    length_penalty: float = 0.6,
):
    """Translate with beam search under GNMT's length penalty, in the graph.

    Each example keeps `beam_size` hypotheses. At each step every unfinished hypothesis is extended
    by every token, each finished one (it emitted `</s>`) is kept as it is, and the `beam_size` best
    of these candidates by length-normalised score `log p / ((5 + length) / 6) ** length_penalty`
    survive. Finished hypotheses keep their score and length and are never extended; the loop stops
    when all hypotheses are finished, or after `max_length` tokens. With `beam_size=1` this is
    exactly `greedy_decode`. Like any beam search it can miss the model's best translation, and
    (rarely) return a worse one than greedy decoding.

    Batch and beam are flattened into `B * beam_size` decoder rows; after each step the rows'
    self-attention caches are reordered with `tf.gather` to follow their surviving hypotheses. Works
    eagerly and inside a `tf.function` with a `[None, None]` source, using core TensorFlow ops only.

    Args:
        model: a model from `transformer_seq2seq`.
        source_ids: int ids `[B, S]`, each row `pieces... </s>` then padding.
        beam_size: hypotheses kept per example (and returned).
        max_length: the most tokens per translation (`</s>` included): a positive int or a scalar int
            tensor; default and cap `model.max_target_length`.
        length_penalty: alpha; 0 ranks by plain log-probability (favouring short translations),
            larger values favour longer ones. GNMT used 0.6 to 0.7.

    Returns:
        `(ids, scores)`: int32 `[B, beam_size, L]`, each hypothesis its tokens up to and including
        `</s>` then `<pad>` (or `max_length` tokens without `</s>`), L the longest; float32
        `[B, beam_size]`, their length-normalised log-probabilities, best first. Where fewer than
        `beam_size` hypotheses exist (a tiny vocabulary), the rest have score -inf and no tokens.

    Raises:
        ValueError: for a model not built by `transformer_seq2seq`, `source_ids` not `[B, S]`
            integers, a non-positive `beam_size` or `max_length`, or a negative `length_penalty`.
    """
    check_positive_int(beam_size=beam_size)
    source_ids, max_length = _check_decoding_args(model, source_ids, max_length, length_penalty)
    beam_size = int(beam_size)
    decoder = _IncrementalDecoder(model, source_ids, max_length, repeats=beam_size)
    batch = tf.shape(source_ids)[0]
    vocabulary = model.target_vocabulary_size
    # Beam b of example e is decoder row e * beam_size + b.
    first_row = tf.range(batch)[:, tf.newaxis] * beam_size
    is_pad = tf.equal(tf.range(vocabulary), PAD_ID)

    def not_done(index, tokens, ids, scores, lengths, finished, caches):
        return tf.logical_and(index < max_length, tf.logical_not(tf.reduce_all(finished)))

    def step(index, tokens, ids, scores, lengths, finished, caches):
        log_probs, caches = decoder.step(tokens, index, caches)
        log_probs = tf.reshape(log_probs, [batch, beam_size, vocabulary])
        # Candidates [B, beam, vocabulary]: unfinished hypotheses extended by each token; a finished one
        # once, as itself, in its `<pad>` column (so it gains no token).
        kept = tf.where(is_pad, scores[..., tf.newaxis], -math.inf)
        candidate_scores = tf.where(finished[..., tf.newaxis], kept, scores[..., tf.newaxis] + log_probs)
        candidate_lengths = tf.where(finished, lengths, index + 1)
        normalised = candidate_scores / _length_penalty(candidate_lengths, length_penalty)[..., tf.newaxis]
        # top_k sorts, so the beams stay best first.
        _, best = tf.math.top_k(tf.reshape(normalised, [batch, beam_size * vocabulary]), k=beam_size)
        origin, tokens = best // vocabulary, best % vocabulary
        scores = tf.gather(tf.reshape(candidate_scores, [batch, -1]), best, batch_dims=1)
        lengths = tf.gather(candidate_lengths, origin, batch_dims=1)
        # -inf candidates (a masked token, or nothing left to choose) are dead ends: finished.
        finished = tf.reduce_any(
            [tf.gather(finished, origin, batch_dims=1), tf.equal(tokens, EOS_ID), tf.math.is_inf(scores)],
            axis=0,
        )
        ids = _write_column(tf.gather(ids, origin, batch_dims=1), index, tokens)
        caches = [tf.gather(cache, tf.reshape(first_row + origin, [-1])) for cache in caches]
        return index + 1, tf.reshape(tokens, [-1]), ids, scores, lengths, finished, caches

    # Beam 0 starts alone: the others are empty finished hypotheses (score -inf) that any real
    # candidate replaces.
    first = tf.equal(tf.range(beam_size), 0)
    steps, _, ids, scores, lengths, _, _ = tf.while_loop(
        not_done,
        step,
        (
            tf.constant(0),
            tf.fill([batch * beam_size], BOS_ID),
            tf.zeros(tf.stack([batch, beam_size, max_length]), tf.int32),
            tf.tile(tf.where(first, 0.0, -math.inf)[tf.newaxis], [batch, 1]),
            tf.zeros([batch, beam_size], tf.int32),
            tf.tile(tf.logical_not(first)[tf.newaxis], [batch, 1]),
            decoder.self_caches,
        ),
        maximum_iterations=max_length,
    )
    ids = tf.where(tf.math.is_inf(scores)[..., tf.newaxis], 0, ids[:, :, :steps])
    return ids, scores / _length_penalty(lengths, length_penalty)
