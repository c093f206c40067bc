"""Classification head: pooling (or flattening), optional hidden layer, dropout, float32 logits."""

from __future__ import annotations

import keras

__all__ = ["classification_head"]


def classification_head(
    features,
    num_classes: int,
    dropout: float = 0.0,
    pooling: str = "avg",
    hidden_units: int = 0,
    name: str = "logits",
):
    """Map a feature map `[batch, h, w, c]` to logits `[batch, num_classes]`.

    Args:
        features: the backbone's feature map.
        num_classes: number of classes.
        dropout: dropout before the logits layer.
        pooling: `avg` (global average pooling: any input size) or `flatten` (keeps where
            features are: better for small, centred images; fixes the input size).
        hidden_units: width of a ReLU layer before the logits; 0 for none.
        name: name of the logits layer.

    The logits layer runs in float32 even under mixed precision, so softmax and the loss stay stable.
    """
    if pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    elif pooling == "flatten":
        x = keras.layers.Flatten(name="flatten")(features)
    else:
        raise ValueError(f"pooling must be 'avg' or 'flatten'. Received: pooling={pooling!r}")
    if hidden_units > 0:
        x = keras.layers.Dense(hidden_units, activation="relu", name="head_hidden")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    return keras.layers.Dense(num_classes, dtype="float32", name=name)(x)
