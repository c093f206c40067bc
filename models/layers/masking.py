"""Mask handling shared by layers that take their padding masks as explicit inputs."""

from __future__ import annotations

import keras

__all__ = ["DropsKerasMask"]


class DropsKerasMask(keras.layers.Layer):
    """Base of layers that take their padding mask as an explicit input: they accept, then drop,
    the Keras mask that a masked layer upstream (a BiGRU given `mask=`) attaches to its output. A
    layer without mask support would warn about it, and a mask that reached the model's output
    would make Keras apply it to the loss."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, *args, **kwargs):
        return None
