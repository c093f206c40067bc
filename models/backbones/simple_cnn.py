"""A small VGG-style convolutional backbone that trains quickly on CPUs."""

from __future__ import annotations

import keras

__all__ = ["simple_cnn"]


def simple_cnn(
    input_shape: tuple[int, int, int],
    widths: tuple[int, ...] = (32, 64, 128),
    convs_per_stage: int = 2,
    name: str = "simple_cnn",
    batch_norm_momentum: float = 0.99,
) -> keras.Model:
    """Stages of `convs_per_stage` × (3×3 conv, batch norm, ReLU), halving resolution between stages.

    Args:
        input_shape: `(height, width, channels)` of the (normalised) input.
        widths: filters of each stage.
        convs_per_stage: convolutions per stage.
        name: model name.
        batch_norm_momentum: batch-norm momentum; lower (0.9) lets the inference statistics settle
            within the few hundred steps a small dataset gives.

    Returns:
        A model mapping images to a feature map `[batch, h, w, widths[-1]]`.
    """
    if not widths or convs_per_stage < 1:
        raise ValueError(
            f"simple_cnn needs at least one stage and one conv per stage. Received: widths={widths}, convs_per_stage={convs_per_stage}"
        )
    inputs = keras.Input(input_shape)
    x = inputs
    for stage, filters in enumerate(widths):
        if stage > 0:
            x = keras.layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
        for i in range(convs_per_stage):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"stage{stage}_conv{i}")(
                x
            )
            x = keras.layers.BatchNormalization(momentum=batch_norm_momentum, name=f"stage{stage}_bn{i}")(x)
            x = keras.layers.ReLU(name=f"stage{stage}_relu{i}")(x)
    return keras.Model(inputs, x, name=name)
