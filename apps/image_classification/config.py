"""Image classification config and presets."""

from __future__ import annotations

import dataclasses
from typing import Literal

from tfapps.apps.config import check_ranges
from tfapps.apps.task import DataConfig, RuntimeConfig, TrainConfig
from tfapps.models.backbones import BackboneName

__all__ = [
    "PRESETS",
    "AugmentConfig",
    "ImageClassificationConfig",
    "ImageDataConfig",
    "ImageModelConfig",
    "ServingConfig",
]


@dataclasses.dataclass(frozen=True)
class ImageDataConfig(DataConfig):
    """Image data: a folder of class folders or a `path,label` CSV (paths relative to the CSV).

    Attributes:
        image_size: `[height, width]` every image is resized to (training and serving).
        color_mode: `auto` (grayscale when every image is), `rgb` or `grayscale`.
        class_names: class order; filled from the data at training time and saved with the run.
        skip_corrupt: skip (and count) undecodable files instead of failing before training.
        class_weights: `balanced` weights classes inversely to their frequency; `auto` does so
            when the largest class has at least twice the examples of the smallest.
        cache: keep decoded, resized images in memory after the first epoch.
        shuffle_buffer: shuffle buffer size; 0 shuffles the whole (per-worker) dataset.
    """

    image_size: tuple[int, int] = (64, 64)
    color_mode: Literal["auto", "rgb", "grayscale"] = "auto"
    class_names: tuple[str, ...] = ()
    skip_corrupt: bool = False
    class_weights: Literal["auto", "balanced", "none"] = "auto"
    cache: bool = True
    shuffle_buffer: int = 0


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation (never applied when serving).

    Attributes:
        flip: random horizontal flips.
        crop_padding: pad by this many pixels and crop back at a random offset; 0 disables.
        rotation: maximum rotation as a fraction of a full turn; 0 disables.
        contrast: maximum relative contrast change; 0 disables.
        mix: `mixup` or `cutmix` batches; `none` disables.
        mix_alpha: Beta distribution parameter of the mixing weight.
    """

    flip: bool = True
    crop_padding: int = 0
    rotation: float = 0.0
    contrast: float = 0.0
    mix: Literal["none", "mixup", "cutmix"] = "none"
    mix_alpha: float = 0.2


@dataclasses.dataclass(frozen=True)
class ImageModelConfig:
    """Model architecture.

    Attributes:
        backbone: `simple_cnn` (fast on CPUs) or a keras-hub architecture built from config.
        widths: filters per stage of `simple_cnn`.
        convs_per_stage: convolutions per stage of `simple_cnn`.
        pooling: `avg` (global average pooling) or `flatten` (keeps feature positions; suits
            small centred images; fixes the input size).
        head_units: width of a hidden ReLU layer in the head; 0 for none.
        dropout: dropout before the classifier.
        label_smoothing: label smoothing of the cross-entropy loss.
    """

    backbone: BackboneName = "simple_cnn"
    widths: tuple[int, ...] = (32, 64, 128)
    convs_per_stage: int = 2
    pooling: Literal["avg", "flatten"] = "avg"
    head_units: int = 0
    dropout: float = 0.2
    label_smoothing: float = 0.0


@dataclasses.dataclass(frozen=True)
class ServingConfig:
    """What the serving signature returns.

    Attributes:
        top_k: number of labels and scores returned per image (capped at the class count).
    """

    top_k: int = 5


@dataclasses.dataclass(frozen=True)
class ImageClassificationConfig:
    """Full image-classification config (see `tfapps config show image_classification`)."""

    data: ImageDataConfig = ImageDataConfig()
    augment: AugmentConfig = AugmentConfig()
    model: ImageModelConfig = ImageModelConfig()
    train: TrainConfig = TrainConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    serving: ServingConfig = ServingConfig()

    def validate(self) -> None:
        """Check value ranges that types cannot express.

        Raises:
            ConfigError: naming the first invalid value (`check_ranges`).
        """
        checks = [
            (
                all(s >= 8 for s in self.data.image_size),
                "data.image_size",
                "both sides >= 8",
                self.data.image_size,
            ),
            (
                0.0 <= self.data.validation_split < 1.0,
                "data.validation_split",
                "in [0, 1)",
                self.data.validation_split,
            ),
            (self.train.epochs >= 1, "train.epochs", ">= 1", self.train.epochs),
            (self.train.batch_size >= 1, "train.batch_size", ">= 1", self.train.batch_size),
            (self.train.learning_rate > 0, "train.learning_rate", "> 0", self.train.learning_rate),
            (self.serving.top_k >= 1, "serving.top_k", ">= 1", self.serving.top_k),
            (0.0 <= self.model.dropout < 1.0, "model.dropout", "in [0, 1)", self.model.dropout),
            (
                len(self.model.widths) >= 1 and min(self.model.widths) >= 1,
                "model.widths",
                "positive filters",
                self.model.widths,
            ),
            (self.augment.crop_padding >= 0, "augment.crop_padding", ">= 0", self.augment.crop_padding),
            (self.data.shuffle_buffer >= 0, "data.shuffle_buffer", ">= 0", self.data.shuffle_buffer),
            (self.model.head_units >= 0, "model.head_units", ">= 0", self.model.head_units),
        ]
        check_ranges(checks)


_IMAGENET = {
    "augment": {"flip": True, "crop_padding": 16, "rotation": 0.03, "contrast": 0.1},
    "train": {"batch_size": 32, "warmup_epochs": 1.0},
}

PRESETS: dict[str, dict] = {
    # Seconds on a laptop: the contract test and the CLI tests use it.
    "tiny": {
        "data": {"image_size": [32, 32], "cache": True},
        "augment": {"flip": False},
        "model": {"backbone": "simple_cnn", "widths": [8, 16], "convs_per_stage": 1, "dropout": 0.0},
        "train": {
            "epochs": 1,
            "batch_size": 8,
            "learning_rate": 3e-3,
            "lr_schedule": "constant",
            "weight_decay": 0.0,
        },
    },
    # Small images on two CPU cores in minutes (Fashion-MNIST: see bench/fashion_mnist.py).
    "cpu": {
        "data": {"image_size": [28, 28]},
        "augment": {"flip": True, "crop_padding": 2},
        # One conv per stage and a flatten head: 2.5x the throughput of two convs per stage, and
        # keeping feature positions gains ~2 points on small centred images (bench/fashion_mnist.py).
        "model": {
            "backbone": "simple_cnn",
            "widths": [32, 64, 128],
            "convs_per_stage": 1,
            "pooling": "flatten",
            "dropout": 0.3,
        },
        "train": {
            "epochs": 20,
            "batch_size": 128,
            "learning_rate": 2e-3,
            "lr_schedule": "cosine",
            "warmup_epochs": 0.5,
            "weight_decay": 5e-4,
        },
    },
    "resnet18": {
        **_IMAGENET,
        "data": {"image_size": [224, 224]},
        "model": {"backbone": "resnet18", "dropout": 0.0},
    },
    "resnet50": {
        **_IMAGENET,
        "data": {"image_size": [224, 224]},
        "model": {"backbone": "resnet50", "dropout": 0.0},
    },
    "efficientnet_b0": {
        **_IMAGENET,
        "data": {"image_size": [224, 224]},
        "model": {"backbone": "efficientnet_b0", "dropout": 0.2},
    },
    "mobilenet_v3_small": {
        **_IMAGENET,
        "data": {"image_size": [160, 160]},
        "model": {"backbone": "mobilenet_v3_small", "dropout": 0.2},
    },
}
