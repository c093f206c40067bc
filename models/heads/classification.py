"""Classification head: global pooling, dropout and a float32 logits layer."""

from __future__ import annotations

import keras

__all__ = ["classification_head"]


def classification_head(features, num_classes: int, dropout: float = 0.0, name: str = "logits"):
    """Map a feature map `[batch, h, w, c]` to logits `[batch, num_classes]`.

    The logits layer runs in float32 even under mixed precision, so softmax and the loss stay stable.
    """
    x = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    return keras.layers.Dense(num_classes, dtype="float32", name=name)(x)
