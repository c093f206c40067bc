"""A DeepSpeech2-like CTC acoustic model over log-mel features, and its CTC loss.

Conventions (shared by everything in this module):

- Inputs are `{"features": [B, F, M] float32, "feature_lengths": [B] int32}`: per-utterance
  normalised log-mel frames, zeros after each utterance's `feature_lengths` frames.
- `ctc_acoustic_model` returns float32 logits `[B, T', vocabulary_size + 1]` (float32 even under
  mixed precision) with `T' = ceil(F / time_stride)`; utterance `b` has
  `output_lengths(feature_lengths, time_stride)[b]` valid frames. Class `vocabulary_size` (the
  last) is the CTC blank, as `tf.nn.ctc_greedy_decoder` and `tf.nn.ctc_beam_search_decoder` expect.
- Frames after an utterance's valid frames are *forced to blank* (`CtcPaddingToBlank`): their
  logits are `-1e4` for every symbol and `0` for the blank, so a forced frame is blank with
  probability 1. CTC over all `T'` frames then equals CTC over each utterance's valid frames, and
  greedy or beam decoding of the padded logits gives each utterance's own answer: no per-row
  lengths need to reach the loss or the decoder.
- Labels `[B, L]` are int32 symbol ids `0..vocabulary_size - 1`, padded at the end with -1.

Padding never changes a valid frame's output: every convolution sees zeros where padding is (the
padded frames are zeroed before each convolution, and the time padding of the strided
convolutions does not depend on the batch's length), the GRUs skip masked frames (so the backward
direction starts at each utterance's last frame), and attention never looks at padded frames.
All normalisation is per frame (layer norm), so nothing depends on the batch or its padding, in
training either.
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
from tfapps.models.layers.masking import DropsKerasMask

__all__ = [
    "PADDING_LOGIT",
    "ConformerBlock",
    "CtcLoss",
    "CtcPaddingToBlank",
    "FrameMask",
    "MaskPaddedFrames",
    "ctc_acoustic_model",
    "output_lengths",
]

# The symbols' logit at a forced-blank frame (the blank's is 0): exp(-1e4) is 0 in float32, so the
# blank has probability exactly 1 there. A finite value keeps the logits JSON-safe for serving.
PADDING_LOGIT = -1e4


def output_lengths(feature_lengths, time_stride: int):
    """Valid frames after the front end: `ceil(feature_lengths / time_stride)`.

    Works on numpy arrays, Python ints and tensors alike (integer arithmetic only).
    """
    return (feature_lengths + time_stride - 1) // time_stride


# --- layers ------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="tfapps")
class FrameMask(DropsKerasMask):
    """`True` at the valid frames of a sequence downsampled `time_stride` times in time.

    Args:
        time_stride: how many input frames one frame of `reference` covers.

    Call arguments:
        feature_lengths: int tensor `[batch]`, valid frames at the input resolution.
        reference: tensor `[batch, frames, ...]` whose frame count is the mask's length.

    Returns:
        bool tensor `[batch, frames]`: `frame < ceil(feature_lengths / time_stride)`.
    """

    def __init__(self, time_stride: int = 1, **kwargs):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        check_positive_int(time_stride=time_stride)
        self.time_stride = int(time_stride)

    def call(self, feature_lengths, reference):
        lengths = output_lengths(keras.ops.cast(feature_lengths, "int32"), self.time_stride)
        frames = keras.ops.arange(keras.ops.shape(reference)[1], dtype="int32")
        return keras.ops.less(frames[None, :], lengths[:, None])

    def compute_output_spec(self, feature_lengths, reference):
        return keras.KerasTensor((reference.shape[0], reference.shape[1]), dtype="bool")

    def get_config(self):
        return {**super().get_config(), "time_stride": self.time_stride}


@keras.saving.register_keras_serializable(package="tfapps")
class MaskPaddedFrames(DropsKerasMask):
    """Zero the padded frames: `where(mask, x, 0)` over the frame axis of `[batch, frames, ...]`.

    Before a "same"-padded convolution this makes the padded frames look exactly like the zeros
    the convolution pads with, so a valid frame's output does not depend on how much padding
    follows the utterance.

    Call arguments:
        x: tensor `[batch, frames, ...]` (any rank >= 2).
        mask: bool tensor `[batch, frames]`, `True` at valid frames.
    """

    def call(self, x, mask):
        for _ in range(len(x.shape) - 2):
            mask = keras.ops.expand_dims(mask, -1)
        return keras.ops.where(mask, x, keras.ops.zeros_like(x))

    def compute_output_spec(self, x, mask):
        return keras.KerasTensor(x.shape, dtype=x.dtype)


@keras.saving.register_keras_serializable(package="tfapps")
class CtcPaddingToBlank(DropsKerasMask):
    """Force the padded frames to the CTC blank (the last class): logits `PADDING_LOGIT` for every
    symbol and 0 for the blank.

    A forced frame is blank with probability 1, so in every CTC alignment the trailing forced
    frames contribute log 1 = 0: CTC over all frames equals CTC over the valid frames (alignments
    that put a symbol on a forced frame have probability exp(-1e4) = 0), and greedy or beam
    decoding over all frames gives the valid frames' answer. Runs in float32.

    Call arguments:
        logits: float tensor `[batch, frames, classes]`, blank last.
        mask: bool tensor `[batch, frames]`, `True` at valid frames.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)

    def call(self, logits, mask):
        logits = keras.ops.cast(logits, "float32")
        num_symbols = logits.shape[-1] - 1
        forced = keras.ops.concatenate(
            [keras.ops.full((num_symbols,), PADDING_LOGIT, dtype="float32"), keras.ops.zeros((1,), "float32")]
        )
        return keras.ops.where(keras.ops.expand_dims(mask, -1), logits, forced)

    def compute_output_spec(self, logits, mask):
        return keras.KerasTensor(logits.shape, dtype="float32")


@keras.saving.register_keras_serializable(package="tfapps")
class ConformerBlock(DropsKerasMask):
    """One Conformer block (Gulati et al., 2020) over `[batch, frames, hidden_dim]`.

    `x + FFN/2 → x + MHSA → x + Conv → x + FFN/2 → LayerNorm`, each module pre-layer-normed:

    - FFN: LayerNorm, Dense(`ffn_multiplier * hidden_dim`, Swish), dropout, Dense, dropout.
    - MHSA: LayerNorm, `keras.layers.MultiHeadAttention` whose keys are the valid frames only,
      dropout. Position information comes from the sinusoidal encoding the model adds at the input
      (not the paper's relative encoding).
    - Conv: LayerNorm, pointwise Dense(2 * hidden_dim) + GLU, padded frames zeroed, depthwise
      convolution (`conv_kernel_size`, "same"), LayerNorm (the paper's batch norm would mix the
      statistics of padded frames and other utterances into training), Swish, pointwise Dense,
      dropout.

    Args:
        hidden_dim: width in and out; a multiple of `num_heads`.
        num_heads: attention heads.
        conv_kernel_size: frames the depthwise convolution spans.
        ffn_multiplier: width of the feed-forward modules over `hidden_dim`.
        dropout: dropout rate of every module's output and of the attention weights.

    Call arguments:
        x: float tensor `[batch, frames, hidden_dim]`.
        padding_mask: bool tensor `[batch, frames]`, `True` at valid frames.
    """

    def __init__(
        self,
        hidden_dim: int,
        num_heads: int,
        conv_kernel_size: int = 15,
        ffn_multiplier: int = 4,
        dropout: float = 0.1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int(
            hidden_dim=hidden_dim,
            num_heads=num_heads,
            conv_kernel_size=conv_kernel_size,
            ffn_multiplier=ffn_multiplier,
        )
        check_rate("dropout", dropout)
        if hidden_dim % num_heads:
            raise ValueError(
                f"hidden_dim must be a multiple of num_heads ({num_heads}). Received: hidden_dim={hidden_dim}"
            )
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.conv_kernel_size = int(conv_kernel_size)
        self.ffn_multiplier = int(ffn_multiplier)
        self.dropout = float(dropout)

        def sublayer(cls, name, *args, **kw):
            return cls(*args, name=name, dtype=self.dtype_policy, **kw)

        def norm(name):
            return sublayer(keras.layers.LayerNormalization, name, epsilon=1e-5)

        ffn_dim = self.ffn_multiplier * self.hidden_dim
        self.ffn = []
        for index in (1, 2):
            self.ffn.append(
                (
                    norm(f"ffn{index}_norm"),
                    sublayer(keras.layers.Dense, f"ffn{index}_inner", ffn_dim, activation="silu"),
                    sublayer(keras.layers.Dense, f"ffn{index}_outer", self.hidden_dim),
                )
            )
        self.attention_norm = norm("attention_norm")
        self.attention = sublayer(
            keras.layers.MultiHeadAttention,
            "attention",
            num_heads=self.num_heads,
            key_dim=self.hidden_dim // self.num_heads,
            dropout=self.dropout,
        )
        self.conv_norm = norm("conv_norm")
        self.pointwise_in = sublayer(keras.layers.Dense, "pointwise_in", 2 * self.hidden_dim)
        self.depthwise = sublayer(
            keras.layers.DepthwiseConv1D, "depthwise", self.conv_kernel_size, padding="same", use_bias=False
        )
        self.depthwise_norm = norm("depthwise_norm")
        self.pointwise_out = sublayer(keras.layers.Dense, "pointwise_out", self.hidden_dim)
        self.final_norm = norm("final_norm")
        self.output_dropout = sublayer(keras.layers.Dropout, "output_dropout", self.dropout)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        inner_shape = input_shape[:-1] + (self.ffn_multiplier * self.hidden_dim,)
        for norm, inner, outer in self.ffn:
            norm.build(input_shape)
            inner.build(input_shape)
            outer.build(inner_shape)
        self.attention_norm.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.conv_norm.build(input_shape)
        self.pointwise_in.build(input_shape)
        self.depthwise.build(input_shape)
        self.depthwise_norm.build(input_shape)
        self.pointwise_out.build(input_shape)
        self.final_norm.build(input_shape)
        self.built = True

    def _feed_forward(self, index, x, training):
        norm, inner, outer = self.ffn[index]
        y = self.output_dropout(inner(norm(x)), training=training)
        return self.output_dropout(outer(y), training=training)

    def call(self, x, padding_mask, training=None):
        x = x + 0.5 * self._feed_forward(0, x, training)

        # [batch, query, key]: every query attends to the valid frames only.
        frames = keras.ops.shape(x)[1]
        attention_mask = keras.ops.broadcast_to(
            keras.ops.expand_dims(padding_mask, 1), (keras.ops.shape(x)[0], frames, frames)
        )
        y = self.attention_norm(x)
        y = self.attention(y, y, attention_mask=attention_mask, training=training)
        x = x + self.output_dropout(y, training=training)

        y = self.pointwise_in(self.conv_norm(x))
        gate_input, gate = keras.ops.split(y, 2, axis=-1)
        y = gate_input * keras.ops.sigmoid(gate)
        # The depthwise convolution's "same" padding is zeros: make the padded frames zeros too.
        y = keras.ops.where(keras.ops.expand_dims(padding_mask, -1), y, keras.ops.zeros_like(y))
        y = keras.ops.silu(self.depthwise_norm(self.depthwise(y)))
        x = x + self.output_dropout(self.pointwise_out(y), training=training)

        x = x + 0.5 * self._feed_forward(1, x, training)
        return self.final_norm(x)

    def compute_output_shape(self, input_shape, *args, **kwargs):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_dim": self.hidden_dim,
            "num_heads": self.num_heads,
            "conv_kernel_size": self.conv_kernel_size,
            "ffn_multiplier": self.ffn_multiplier,
            "dropout": self.dropout,
        }


# --- the model ---------------------------------------------------------------------------------


def _check_arguments(
    num_features,
    vocabulary_size,
    encoder,
    conv_filters,
    conv_kernel,
    time_stride,
    hidden_units,
    num_layers,
    num_heads,
    conv_kernel_size,
    dropout,
):
    check_positive_int(
        num_features=num_features,
        vocabulary_size=vocabulary_size,
        hidden_units=hidden_units,
        num_layers=num_layers,
        num_heads=num_heads,
        conv_kernel_size=conv_kernel_size,
        time_stride=time_stride,
    )
    check_rate("dropout", dropout)
    if encoder not in ("bigru", "conformer"):
        raise ValueError(f"encoder must be 'bigru' or 'conformer'. Received: encoder={encoder!r}")
    if not all(isinstance(f, numbers.Integral) and not isinstance(f, bool) and f >= 1 for f in conv_filters):
        raise ValueError(
            f"conv_filters must be positive integers. Received: conv_filters={tuple(conv_filters)!r}"
        )
    if len(conv_kernel) != 2 or not all(
        isinstance(k, numbers.Integral) and not isinstance(k, bool) and k >= 1 for k in conv_kernel
    ):
        raise ValueError(
            "conv_kernel must be two positive integers (time, frequency). "
            f"Received: conv_kernel={tuple(conv_kernel)!r}"
        )
    if time_stride & (time_stride - 1) or time_stride > 2 ** len(conv_filters):
        raise ValueError(
            "time_stride must be a power of two, at most 2 ** len(conv_filters) "
            f"({2 ** len(conv_filters)}): each convolution strides 1 or 2 in time. "
            f"Received: time_stride={time_stride}"
        )
    if encoder == "bigru" and hidden_units % 2:
        raise ValueError(
            f"hidden_units must be even for encoder='bigru' (half per direction). Received: hidden_units={hidden_units}"
        )
    if encoder == "conformer" and hidden_units % num_heads:
        raise ValueError(
            f"hidden_units must be a multiple of num_heads ({num_heads}) for encoder='conformer'. "
            f"Received: hidden_units={hidden_units}"
        )


def ctc_acoustic_model(
    num_features: int,
    vocabulary_size: int,
    *,
    encoder: Literal["bigru", "conformer"] = "bigru",
    conv_filters: Sequence[int] = (32, 32),
    conv_kernel: tuple[int, int] = (5, 11),
    time_stride: int = 2,
    hidden_units: int = 256,
    num_layers: int = 3,
    num_heads: int = 4,
    conv_kernel_size: int = 15,
    dropout: float = 0.1,
    name: str = "ctc_acoustic_model",
) -> keras.Model:
    """Build a DeepSpeech2-like CTC acoustic model: a 2D convolutional front end, a BiGRU or
    Conformer encoder, float32 logits with the padded frames forced to blank.

    Front end (DeepSpeech2, Amodei et al., 2016): for each of `conv_filters`, a 2D convolution over
    (time, frequency) with kernel `conv_kernel` (DeepSpeech2's (11, 41) then (11, 21) are too slow
    for a CPU; (5, 11) is the default), stride 2 in frequency and 2 in time for the first
    `log2(time_stride)` layers (1 after), no bias, a layer norm over each frame's (frequency,
    channels) map, GELU. Each convolution pads `(k - 1) // 2` frames before and the rest after,
    whatever the batch's length, so `T' = ceil(F / time_stride)` and a valid frame's window never
    moves with the padding; the padded frames are zeroed before each convolution. Then the frame's
    (frequency x channels) map is flattened and projected to `hidden_units`, and dropout.

    Encoders (each followed by a layer norm):

    - `"bigru"`: `num_layers` pre-layer-norm residual blocks `x + Dropout(BiGRU(LayerNorm(x)))`,
      the BiGRU `hidden_units // 2` units per direction, concatenated, so the residual stream
      stays `hidden_units` wide (DeepSpeech2 sums two full-width directions instead: 2.7 times
      the recurrent weights for the same width). The frame mask is passed to the GRUs: the
      backward direction starts at each utterance's last valid frame.
    - `"conformer"`: sinusoidal positions added (`keras_hub.layers.SinePositionEncoding`), dropout,
      then `num_layers` `ConformerBlock`s (`num_heads` heads, depthwise kernel
      `conv_kernel_size`, feed-forward 4 x `hidden_units`).

    Head: Dense(`vocabulary_size + 1`) in float32, then `CtcPaddingToBlank`.

    Args:
        num_features: mel bins per frame (`M`).
        vocabulary_size: number of symbols; the blank is class `vocabulary_size`.
        encoder: `"bigru"` or `"conformer"`.
        conv_filters: filters of each front-end convolution (may be empty: no front end, then
            `time_stride` must be 1).
        conv_kernel: (time, frequency) kernel of every front-end convolution.
        time_stride: total downsampling in time: 1, 2, 4, ... up to `2 ** len(conv_filters)`.
        hidden_units: encoder width.
        num_layers: BiGRU or Conformer blocks.
        num_heads: attention heads (conformer only).
        conv_kernel_size: depthwise kernel of the Conformer convolution module (conformer only).
        dropout: dropout rate after the projection and in the encoder.
        name: model name.

    Returns:
        A model mapping `{"features": [B, F, num_features] float32, "feature_lengths": [B] int32}`
        to float32 logits `[B, ceil(F / time_stride), vocabulary_size + 1]`.

    Raises:
        ValueError: for non-positive sizes, a bad rate or encoder, a `time_stride` that is not a
            power of two the front end can reach, or a width the encoder cannot split.

    Example:
        >>> model = ctc_acoustic_model(80, 28, time_stride=4)
        >>> logits = model({"features": np.zeros((2, 101, 80), "float32"),
        ...                 "feature_lengths": np.array([101, 60], "int32")})
        >>> logits.shape   # (2, 26, 29); utterance 1 has output_lengths(60, 4) = 15 valid frames
    """
    conv_filters = tuple(conv_filters)
    conv_kernel = tuple(conv_kernel)
    _check_arguments(
        num_features,
        vocabulary_size,
        encoder,
        conv_filters,
        conv_kernel,
        time_stride,
        hidden_units,
        num_layers,
        num_heads,
        conv_kernel_size,
        dropout,
    )

    features = keras.Input((None, num_features), dtype="float32", name="features")
    feature_lengths = keras.Input((), dtype="int32", name="feature_lengths")

    x = keras.layers.Reshape((-1, num_features, 1), name="add_channel_axis")(features)
    kernel_time, kernel_freq = conv_kernel
    padding = (
        ((kernel_time - 1) // 2, kernel_time - 1 - (kernel_time - 1) // 2),
        ((kernel_freq - 1) // 2, kernel_freq - 1 - (kernel_freq - 1) // 2),
    )
    stride, frequencies, channels = 1, num_features, 1
    for index, filters in enumerate(conv_filters):
        layer_stride = 2 if stride < time_stride else 1
        mask = FrameMask(stride, name=f"conv_{index}_frame_mask")(feature_lengths, x)
        x = MaskPaddedFrames(name=f"conv_{index}_mask_padding")(x, mask)
        # Explicit padding then "valid": Keras' "same" padding puts (k - s) // 2 or so frames before
        # depending on the batch's length, which would move a strided window with the padding.
        x = keras.layers.ZeroPadding2D(padding, name=f"conv_{index}_pad")(x)
        x = keras.layers.Conv2D(
            filters, conv_kernel, strides=(layer_stride, 2), use_bias=False, name=f"conv_{index}"
        )(x)
        x = keras.layers.LayerNormalization(axis=(-2, -1), epsilon=1e-5, name=f"conv_{index}_norm")(x)
        x = keras.layers.Activation("gelu", name=f"conv_{index}_gelu")(x)
        stride *= layer_stride
        frequencies, channels = math.ceil(frequencies / 2), filters
    x = keras.layers.Reshape((-1, frequencies * channels), name="flatten_frames")(x)
    mask = FrameMask(time_stride, name="frame_mask")(feature_lengths, x)
    x = keras.layers.Dense(hidden_units, name="projection")(x)

    if encoder == "bigru":
        if dropout > 0.0:
            x = keras.layers.Dropout(dropout, name="projection_dropout")(x)
        for index in range(num_layers):
            y = keras.layers.LayerNormalization(epsilon=1e-5, name=f"bigru_{index}_norm")(x)
            y = keras.layers.Bidirectional(
                keras.layers.GRU(hidden_units // 2, return_sequences=True), name=f"bigru_{index}"
            )(y, mask=mask)
            if dropout > 0.0:
                y = keras.layers.Dropout(dropout, name=f"bigru_{index}_dropout")(y)
            x = keras.layers.Add(name=f"bigru_{index}_residual")([x, y])
    else:
        positions = keras_hub.layers.SinePositionEncoding(dtype="float32", name="positions")(x)
        x = keras.layers.Add(name="add_positions")([x, positions])
        if dropout > 0.0:
            x = keras.layers.Dropout(dropout, name="projection_dropout")(x)
        for index in range(num_layers):
            x = ConformerBlock(
                hidden_units,
                num_heads,
                conv_kernel_size=conv_kernel_size,
                dropout=dropout,
                name=f"conformer_{index}",
            )(x, mask)
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="encoder_norm")(x)

    # float32 so the logits, and the CTC after them, stay float32 under mixed precision.
    logits = keras.layers.Dense(vocabulary_size + 1, dtype="float32", name="logits")(x)
    logits = CtcPaddingToBlank(name="padding_to_blank")(logits, mask)
    return keras.Model({"features": features, "feature_lengths": feature_lengths}, logits, name=name)


# --- loss --------------------------------------------------------------------------------------


def _valid_frames(logits):
    """Frames before the trailing run of forced-blank frames (`CtcPaddingToBlank`'s), per row."""
    blank = logits[:, :, -1]
    forced = tf.logical_and(
        tf.equal(blank, 0.0), tf.reduce_all(tf.equal(logits[:, :, :-1], PADDING_LOGIT), axis=-1)
    )
    trailing = tf.reduce_sum(tf.math.cumprod(tf.cast(forced[:, ::-1], tf.int32), axis=1), axis=1)
    return tf.shape(logits)[1] - trailing


@keras.saving.register_keras_serializable(package="tfapps")
class CtcLoss(keras.losses.Loss):
    """CTC loss (Graves et al., 2006) of logits `[B, T', V + 1]` (blank last) against labels
    `[B, L]` (ids `0..V-1`, padded at the end with -1), one value per utterance.

    Each row's frame count is `T'` less the trailing frames that `CtcPaddingToBlank` forced to
    blank. That gives the same loss as all `T'` frames (forced frames contribute log 1 = 0), but
    lets the loss see when an utterance has too few valid frames for its label (it needs one frame
    per label plus one blank between repeated labels).

    Such an infeasible row has infinite CTC loss (over all `T'` frames it would instead be about
    1e4 per label on a forced frame); like PyTorch's `CTCLoss(zero_infinity=True)` its loss and
    gradient are set to zero, so one bad utterance neither ends training with NaNs nor swamps the
    batch. The row is computed with an empty label first: `tf.where` alone would give NaN
    gradients (0 x the NaN of an infinite loss's gradient). A zeroed row still counts in the
    `"sum_over_batch_size"` denominator.

    An empty label (`L = 0`, or all -1) is allowed: its loss is -log p(all blank).

    Args:
        normalize_by_length: divide each utterance's loss by its label length (at least 1).
        name, reduction, dtype: as for `keras.losses.Loss`.
    """

    def __init__(
        self,
        normalize_by_length: bool = False,
        name: str = "ctc_loss",
        reduction: str = "sum_over_batch_size",
        **kwargs,
    ):
        super().__init__(name=name, reduction=reduction, **kwargs)
        self.normalize_by_length = bool(normalize_by_length)

    def call(self, y_true, y_pred):
        logits = tf.cast(y_pred, tf.float32)
        labels = tf.cast(y_true, tf.int32)
        is_label = labels >= 0
        label_length = tf.reduce_sum(tf.cast(is_label, tf.int32), axis=1)
        # One extra padding column: a batch of empty labels (L = 0) still has a label axis.
        labels = tf.pad(tf.where(is_label, labels, 0), [[0, 0], [0, 1]])
        is_label = tf.pad(is_label, [[0, 0], [0, 1]])

        repeats = tf.logical_and(
            tf.logical_and(is_label[:, 1:], is_label[:, :-1]), tf.equal(labels[:, 1:], labels[:, :-1])
        )
        frames_needed = label_length + tf.reduce_sum(tf.cast(repeats, tf.int32), axis=1)
        frames = _valid_frames(logits)
        feasible = frames >= frames_needed

        loss = tf.nn.ctc_loss(
            labels=labels,
            logits=logits,
            label_length=tf.where(feasible, label_length, 0),
            logit_length=frames,
            logits_time_major=False,
            blank_index=-1,
        )
        loss = tf.where(feasible, loss, tf.zeros_like(loss))
        if self.normalize_by_length:
            loss = loss / tf.cast(tf.maximum(label_length, 1), loss.dtype)
        return loss

    def get_config(self):
        return {**super().get_config(), "normalize_by_length": self.normalize_by_length}
