"""Semantic segmentation config and presets."""

from __future__ import annotations

import dataclasses
from typing import Literal

from tfapps.apps.config import check_ranges
from tfapps.apps.task import DataConfig, RuntimeConfig, TrainConfig

__all__ = [
    "PRESETS",
    "SegmentationAugmentConfig",
    "SegmentationConfig",
    "SegmentationDataConfig",
    "SegmentationModelConfig",
]


@dataclasses.dataclass(frozen=True)
class SegmentationDataConfig(DataConfig):
    """Segmentation data: `images/` + `masks/`, Pascal VOC, or CamVid-style `<split>/` + `<split>annot/`.

    Attributes:
        split: the split to read when `--data` is a dataset root holding several.
        image_size: `[height, width]` the model sees (images and masks are resized to it; served
            masks are returned at this size and, as PNG, at each image's own size).
        class_names: class order; from the config, a `classes.txt`, or the data.
        palette: one `[r, g, b]` per class for the served PNG masks; empty: from the data.
        ignore_index: mask value of void pixels, ignored by the loss and the metrics.
        cache: keep decoded images and masks in memory after the first epoch.
        shuffle_buffer: shuffle buffer size; 0 shuffles the whole (per-worker) dataset.
    """

    split: str = ""
    image_size: tuple[int, int] = (256, 256)
    class_names: tuple[str, ...] = ()
    palette: tuple[tuple[int, int, int], ...] = ()
    ignore_index: int = 255
    cache: bool = True
    shuffle_buffer: int = 0


@dataclasses.dataclass(frozen=True)
class SegmentationAugmentConfig:
    """Training augmentation applied to the image and its mask together (never when serving).

    Attributes:
        flip: random horizontal flips.
        crop_scale_min: random crops keep this fraction of each side or more, then are resized
            to the model's input (scale jitter); 1.0 disables cropping.
        brightness: maximum brightness change, in 0..255 units; 0 disables.
        contrast: maximum relative contrast change; 0 disables.
    """

    flip: bool = True
    crop_scale_min: float = 0.5
    brightness: float = 20.0
    contrast: float = 0.2


@dataclasses.dataclass(frozen=True)
class SegmentationModelConfig:
    """Model and loss.

    Attributes:
        architecture: `unet` (built here, fast on CPUs) or `deeplab_v3` (keras-hub ResNet + ASPP).
        backbone: the DeepLabV3 backbone, `resnet18` or `resnet50`.
        base_filters: U-Net filters at full resolution (doubling per level).
        depth: U-Net levels (the input sides must be multiples of 2**depth).
        dropout: dropout after the U-Net bottleneck.
        batch_norm_momentum: U-Net batch-norm momentum; 0.9 lets the inference statistics settle
            within a few epochs of a small dataset (Keras' 0.99 needs hundreds of steps).
        class_weights: `balanced` (median-frequency weights from the training masks' pixel counts)
            or `none`.
        dice_weight: weight of the soft Dice term added to the cross-entropy; 0 for none.
    """

    architecture: Literal["unet", "deeplab_v3"] = "unet"
    backbone: Literal["resnet18", "resnet50"] = "resnet18"
    base_filters: int = 32
    depth: int = 4
    dropout: float = 0.0
    batch_norm_momentum: float = 0.9
    class_weights: Literal["balanced", "none"] = "balanced"
    dice_weight: float = 0.5


@dataclasses.dataclass(frozen=True)
class SegmentationConfig:
    """Full semantic-segmentation config (see `tfapps config show semantic_segmentation`)."""

    data: SegmentationDataConfig = SegmentationDataConfig()
    augment: SegmentationAugmentConfig = SegmentationAugmentConfig()
    model: SegmentationModelConfig = SegmentationModelConfig()
    train: TrainConfig = TrainConfig(batch_size=8)
    runtime: RuntimeConfig = RuntimeConfig()

    def validate(self) -> None:
        """Check value ranges that types cannot express.

        Raises:
            ConfigError: naming the first invalid value (`check_ranges`).
        """
        multiple = 2**self.model.depth if self.model.architecture == "unet" else 32
        check_ranges(
            [
                (
                    all(s >= multiple and s % multiple == 0 for s in self.data.image_size),
                    "data.image_size",
                    f"both sides multiples of {multiple} ({self.model.architecture})",
                    self.data.image_size,
                ),
                (
                    0 <= self.data.ignore_index <= 255,
                    "data.ignore_index",
                    "in 0..255",
                    self.data.ignore_index,
                ),
                (
                    all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in self.data.palette),
                    "data.palette",
                    "[r, g, b] triples in 0..255",
                    self.data.palette,
                ),
                (
                    0.0 <= self.data.validation_split < 1.0,
                    "data.validation_split",
                    "in [0, 1)",
                    self.data.validation_split,
                ),
                (
                    0.1 <= self.augment.crop_scale_min <= 1.0,
                    "augment.crop_scale_min",
                    "in [0.1, 1]",
                    self.augment.crop_scale_min,
                ),
                (1 <= self.model.depth <= 6, "model.depth", "in 1..6", self.model.depth),
                (self.model.base_filters >= 1, "model.base_filters", ">= 1", self.model.base_filters),
                (self.model.dice_weight >= 0, "model.dice_weight", ">= 0", self.model.dice_weight),
                (self.train.epochs >= 1, "train.epochs", ">= 1", self.train.epochs),
                (self.train.batch_size >= 1, "train.batch_size", ">= 1", self.train.batch_size),
                (self.train.learning_rate > 0, "train.learning_rate", "> 0", self.train.learning_rate),
            ]
        )


PRESETS: dict[str, dict] = {
    # Seconds on a laptop: the contract test and the CLI tests use it.
    "tiny": {
        "data": {"image_size": [32, 32]},
        "augment": {"flip": False, "crop_scale_min": 1.0, "brightness": 0.0, "contrast": 0.0},
        "model": {"base_filters": 4, "depth": 2},
        "train": {
            "epochs": 1,
            "batch_size": 4,
            "learning_rate": 3e-3,
            "lr_schedule": "constant",
            "weight_decay": 0.0,
        },
    },
    # Two CPU cores, tens of minutes: CamVid (bench/camvid.py).
    "cpu": {
        "data": {"image_size": [192, 256]},
        "model": {"base_filters": 16, "depth": 4, "dropout": 0.1},
        "train": {
            "epochs": 120,
            "batch_size": 8,
            "learning_rate": 3e-3,
            "lr_schedule": "cosine",
            "warmup_epochs": 2.0,
            "weight_decay": 1e-4,
            "clipnorm": 5.0,
        },
    },
    "deeplab_v3": {
        "data": {"image_size": [384, 512]},
        "model": {"architecture": "deeplab_v3", "backbone": "resnet50", "dice_weight": 0.0},
        "train": {"batch_size": 8, "warmup_epochs": 1.0},
    },
}
