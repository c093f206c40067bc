"""Backbones by name: the CPU-friendly `simple_cnn` and keras-hub architectures built from config."""

from __future__ import annotations

from typing import Literal

import keras

from tfapps.models.backbones.keras_hub_backbones import KERAS_HUB_BACKBONES
from tfapps.models.backbones.simple_cnn import simple_cnn

__all__ = ["BackboneName", "build_backbone", "is_imagenet_style"]

BackboneName = Literal["simple_cnn", "resnet18", "resnet50", "efficientnet_b0", "mobilenet_v3_small"]


def is_imagenet_style(name: str) -> bool:
    """True for backbones that expect ImageNet mean/std normalised inputs (the keras-hub ones)."""
    return name in KERAS_HUB_BACKBONES


def build_backbone(
    name: str,
    input_shape: tuple[int, int, int],
    widths: tuple[int, ...] = (32, 64, 128),
    convs_per_stage: int = 2,
) -> keras.Model:
    """Build a randomly initialised backbone mapping normalised images to a feature map.

    Args:
        name: one of `BackboneName`.
        input_shape: `(height, width, channels)`.
        widths, convs_per_stage: `simple_cnn` shape; ignored by keras-hub backbones.

    Raises:
        ValueError: unknown backbone name.
    """
    if name == "simple_cnn":
        return simple_cnn(input_shape, widths=widths, convs_per_stage=convs_per_stage)
    if name in KERAS_HUB_BACKBONES:
        return KERAS_HUB_BACKBONES[name](input_shape)
    raise ValueError(
        f"Unknown backbone. Expected one of simple_cnn, {', '.join(KERAS_HUB_BACKBONES)}. Received: backbone={name!r}"
    )
