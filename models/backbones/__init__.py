"""Backbones by name: the CPU-friendly `simple_cnn` and keras-hub architectures built from config."""

from __future__ import annotations

from typing import Literal

import keras

from tfapps.models.backbones.cnn3d import resnet3d
from tfapps.models.backbones.keras_hub_backbones import KERAS_HUB_BACKBONES
from tfapps.models.backbones.simple_cnn import simple_cnn

__all__ = ["BackboneName", "build_backbone", "is_imagenet_style", "normalise_input", "resnet3d"]

# ImageNet channel statistics on the 0..1 scale, used by the keras-hub backbones.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

BackboneName = Literal["simple_cnn", "resnet18", "resnet50", "efficientnet_b0", "mobilenet_v3_small"]


def is_imagenet_style(name: str) -> bool:
    """True for backbones that expect ImageNet mean/std normalised inputs (the keras-hub ones)."""
    return name in KERAS_HUB_BACKBONES


def normalise_input(images, backbone: str, channels: int = 3):
    """Scale 0..255 images to what `backbone` expects: 0..1, then ImageNet mean/std for the
    keras-hub backbones (the grey-level mean of the statistics for one channel)."""
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(images)
    if not is_imagenet_style(backbone):
        return x
    mean = _IMAGENET_MEAN if channels == 3 else (sum(_IMAGENET_MEAN) / 3,)
    std = _IMAGENET_STD if channels == 3 else (sum(_IMAGENET_STD) / 3,)
    return keras.layers.Normalization(mean=mean, variance=[s * s for s in std], name="normalize")(x)


def build_backbone(
    name: str,
    input_shape: tuple[int, int, int],
    widths: tuple[int, ...] = (32, 64, 128),
    convs_per_stage: int = 2,
    batch_norm_momentum: float = 0.99,
) -> keras.Model:
    """Build a randomly initialised backbone mapping normalised images to a feature map.

    Args:
        name: one of `BackboneName`.
        input_shape: `(height, width, channels)`.
        widths, convs_per_stage, batch_norm_momentum: `simple_cnn` settings; ignored by keras-hub
            backbones.

    Raises:
        ValueError: unknown backbone name.
    """
    if name == "simple_cnn":
        return simple_cnn(
            input_shape,
            widths=widths,
            convs_per_stage=convs_per_stage,
            batch_norm_momentum=batch_norm_momentum,
        )
    if name in KERAS_HUB_BACKBONES:
        return KERAS_HUB_BACKBONES[name](input_shape)
    raise ValueError(
        f"Unknown backbone. Expected one of simple_cnn, {', '.join(KERAS_HUB_BACKBONES)}. Received: backbone={name!r}"
    )
