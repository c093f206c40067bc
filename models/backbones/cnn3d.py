"""A small 3D ResNet backbone for volumes (MedMNIST-3D sized: 28³ or 64³) that trains on CPUs."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import keras

__all__ = ["resnet3d"]


def _not_positive_int(value) -> bool:
    return isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1


def _check_arguments(input_shape, widths, blocks_per_stage, batch_norm_momentum, dropout) -> tuple:
    input_shape = tuple(input_shape)
    if len(input_shape) != 4 or any(s is not None and s < 1 for s in input_shape) or input_shape[-1] is None:
        raise ValueError(
            "input_shape must be (depth, height, width, channels) with positive sizes (spatial sizes may "
            f"be None) and a known channel count. Received: input_shape={input_shape!r}"
        )
    if not widths or any(_not_positive_int(w) for w in widths):
        raise ValueError(
            f"widths must be a non-empty sequence of positive integers. Received: widths={widths!r}"
        )
    if _not_positive_int(blocks_per_stage):
        raise ValueError(
            f"blocks_per_stage must be a positive integer. Received: blocks_per_stage={blocks_per_stage!r}"
        )
    if not 0.0 <= batch_norm_momentum < 1.0:
        raise ValueError(
            f"batch_norm_momentum must be in [0, 1). Received: batch_norm_momentum={batch_norm_momentum!r}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")
    return input_shape


def _conv_bn(x, filters: int, strides: int, name: str, momentum: float, kernel_size: int = 3):
    x = keras.layers.Conv3D(
        filters, kernel_size, strides=strides, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    return keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)


def _basic_block(x, filters: int, strides: int, name: str, momentum: float):
    """He et al.'s basic block: two 3x3x3 conv-BN, a projection shortcut when the shape changes."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, strides, f"{name}_shortcut", momentum, kernel_size=1)
    y = _conv_bn(x, filters, strides, f"{name}_a", momentum)
    y = keras.layers.ReLU(name=f"{name}_a_relu")(y)
    y = _conv_bn(y, filters, 1, f"{name}_b", momentum)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def resnet3d(
    input_shape: tuple[int | None, int | None, int | None, int],
    widths: Sequence[int] = (16, 32, 64, 128),
    blocks_per_stage: int = 1,
    batch_norm_momentum: float = 0.9,
    dropout: float = 0.0,
    name: str = "resnet3d",
) -> keras.Model:
    """Build a small 3D ResNet mapping volumes to a feature map (no pooling, so Grad-CAM can use it).

    A 3x3x3 conv-BN-ReLU stem with `widths[0]` filters at full resolution (MedMNIST volumes are
    only 28³ or 64³, so there is no stride-2 stem to lose detail), then one stage per entry of
    `widths`: every stage but the first starts with a stride-2 basic block (halving each spatial
    size, rounding up), followed by the rest of its `blocks_per_stage` basic residual blocks
    (two 3x3x3 conv-BN with ReLU, identity or 1x1x1 projection shortcut). The output stride is
    `2**(len(widths) - 1)`: 28³ → 4³ and 64³ → 8³ with the default four stages.

    Args:
        input_shape: `(depth, height, width, channels)`; spatial sizes may be `None`.
        widths: filters of each stage.
        blocks_per_stage: basic blocks per stage (the first of a downsampling stage has stride 2).
        batch_norm_momentum: momentum of the batch-norm moving statistics; Keras' 0.99 settles too
            slowly for small datasets with tens of steps per epoch.
        dropout: dropout rate on the output feature map; 0 for none.
        name: model name.

    Returns:
        A model mapping `[batch, D, H, W, channels]` to `[batch, d, h, w, widths[-1]]`.

    Raises:
        ValueError: for a malformed `input_shape`, empty or non-positive `widths`, or rates out of range.

    Example:
        >>> backbone = resnet3d((28, 28, 28, 1), widths=(8, 16, 32))
        >>> backbone.output_shape   # (None, 7, 7, 7, 32)
    """
    widths = tuple(widths)
    input_shape = _check_arguments(input_shape, widths, blocks_per_stage, batch_norm_momentum, dropout)

    inputs = keras.Input(input_shape, name="volume")
    x = _conv_bn(inputs, widths[0], 1, "stem", batch_norm_momentum)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for stage, filters in enumerate(widths):
        for block in range(blocks_per_stage):
            strides = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(x, filters, strides, f"stage{stage}_block{block}", batch_norm_momentum)
    if dropout > 0.0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, x, name=name)
