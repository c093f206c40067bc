"""Object detection config and presets."""

from __future__ import annotations

import dataclasses
from typing import Literal

from tfapps.apps.config import check_ranges
from tfapps.apps.task import DataConfig, RuntimeConfig, TrainConfig
from tfapps.models.backbones import BackboneName

__all__ = [
    "PRESETS",
    "DetectionAugmentConfig",
    "DetectionConfig",
    "DetectionDataConfig",
    "DetectionModelConfig",
    "DetectionServingConfig",
]


@dataclasses.dataclass(frozen=True)
class DetectionDataConfig(DataConfig):
    """Detection data: COCO JSON, Pascal VOC XML, YOLO txt or a TF OD API CSV (`format=auto` tells).

    Attributes:
        format: `auto` (detected from the files), `coco`, `voc`, `yolo` or `csv`.
        image_dir: where the images are when not beside the annotations (COCO, VOC, CSV).
        split: a split name to read from a dataset holding several (`train`, `val`, ...); empty
            reads what `--data` points at.
        image_size: `[height, width]` the model sees; images are stretched to it and boxes are
            mapped back to each original image's pixels when serving.
        class_names: class order; filled from the data at training time and saved with the run.
        max_boxes: boxes kept per training image (the rest are dropped, largest first kept).
        cache: keep decoded images in memory after the first epoch.
        shuffle_buffer: shuffle buffer size; 0 shuffles the whole (per-worker) dataset.
    """

    format: Literal["auto", "coco", "voc", "yolo", "csv"] = "auto"
    image_dir: str = ""
    split: str = ""
    image_size: tuple[int, int] = (256, 256)
    class_names: tuple[str, ...] = ()
    max_boxes: int = 64
    cache: bool = True
    shuffle_buffer: int = 0


@dataclasses.dataclass(frozen=True)
class DetectionAugmentConfig:
    """Box-aware training augmentation (never applied when serving).

    Attributes:
        flip: random horizontal flips (boxes mirrored).
        crop_scale_min: random crops keep this fraction of each side or more (scale jitter: the
            crop is resized to the model's input); boxes are clipped and kept when their centre
            stays inside. 1.0 disables cropping.
        brightness: maximum brightness change, in 0..255 units; 0 disables.
        contrast: maximum relative contrast change; 0 disables.
    """

    flip: bool = True
    crop_scale_min: float = 0.6
    brightness: float = 20.0
    contrast: float = 0.2


@dataclasses.dataclass(frozen=True)
class DetectionModelConfig:
    """An anchor-free CenterNet-style detector: backbone, upsampling neck, centre/size/offset heads.

    Attributes:
        backbone: `simple_cnn` (fast on CPUs) or a keras-hub architecture built from config.
        widths: filters per stage of `simple_cnn`.
        convs_per_stage: convolutions per stage of `simple_cnn`.
        output_stride: input pixels per cell of the output heat maps; the neck upsamples the
            backbone's features to it (a power of two, at most the backbone's stride).
        neck_channels: filters of each upsampling step of the neck.
        head_channels: filters of the hidden convolution of each head.
        size_weight: weight of the box-size loss.
        offset_weight: weight of the centre-offset loss.
    """

    backbone: BackboneName = "simple_cnn"
    widths: tuple[int, ...] = (32, 64, 128, 256)
    convs_per_stage: int = 1
    output_stride: int = 4
    neck_channels: int = 64
    head_channels: int = 64
    size_weight: float = 0.1
    offset_weight: float = 1.0


@dataclasses.dataclass(frozen=True)
class DetectionServingConfig:
    """What the serving signature returns.

    Attributes:
        max_detections: K, the detections returned per image (padded with zeros).
        score_threshold: detections scoring below it are dropped.
        nms_iou_threshold: class-wise non-maximum suppression IoU threshold.
    """

    max_detections: int = 100
    score_threshold: float = 0.05
    nms_iou_threshold: float = 0.5


@dataclasses.dataclass(frozen=True)
class DetectionConfig:
    """Full object-detection config (see `tfapps config show object_detection`)."""

    data: DetectionDataConfig = DetectionDataConfig()
    augment: DetectionAugmentConfig = DetectionAugmentConfig()
    model: DetectionModelConfig = DetectionModelConfig()
    # mAP is computed by `evaluate`, not per epoch: the best checkpoint is the lowest validation loss.
    train: TrainConfig = TrainConfig(monitor="val_loss", batch_size=16)
    runtime: RuntimeConfig = RuntimeConfig()
    serving: DetectionServingConfig = DetectionServingConfig()

    def validate(self) -> None:
        """Check value ranges that types cannot express.

        Raises:
            ConfigError: naming the first invalid value (`check_ranges`).
        """
        stride = self.model.output_stride
        checks = [
            (
                all(s >= 16 and s % stride == 0 for s in self.data.image_size),
                "data.image_size",
                f"both sides >= 16 and multiples of model.output_stride ({stride})",
                self.data.image_size,
            ),
            (stride >= 1 and stride & (stride - 1) == 0, "model.output_stride", "a power of two", stride),
            (self.data.max_boxes >= 1, "data.max_boxes", ">= 1", self.data.max_boxes),
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
            (self.train.epochs >= 1, "train.epochs", ">= 1", self.train.epochs),
            (self.train.batch_size >= 1, "train.batch_size", ">= 1", self.train.batch_size),
            (self.train.learning_rate > 0, "train.learning_rate", "> 0", self.train.learning_rate),
            (
                self.serving.max_detections >= 1,
                "serving.max_detections",
                ">= 1",
                self.serving.max_detections,
            ),
            (
                0.0 <= self.serving.score_threshold < 1.0,
                "serving.score_threshold",
                "in [0, 1)",
                self.serving.score_threshold,
            ),
            (
                0.0 < self.serving.nms_iou_threshold <= 1.0,
                "serving.nms_iou_threshold",
                "in (0, 1]",
                self.serving.nms_iou_threshold,
            ),
        ]
        check_ranges(checks)


PRESETS: dict[str, dict] = {
    # Seconds on a laptop: the contract test and the CLI tests use it.
    "tiny": {
        "data": {"image_size": [64, 64], "max_boxes": 8},
        "augment": {"flip": False, "crop_scale_min": 1.0, "brightness": 0.0, "contrast": 0.0},
        "model": {"widths": [8, 16, 16], "output_stride": 4, "neck_channels": 8, "head_channels": 8},
        "serving": {"max_detections": 10},
        "train": {
            "epochs": 1,
            "batch_size": 8,
            "learning_rate": 3e-3,
            "lr_schedule": "constant",
            "weight_decay": 0.0,
        },
    },
    # Two CPU cores, tens of minutes: the raccoon benchmark (bench/raccoon.py).
    "cpu": {
        "data": {"image_size": [192, 192], "max_boxes": 32},
        # Six stages (stride 32): the receptive field must cover large objects. Five stages reached
        # map_50 0.58 on raccoon, six 0.76 in the same time (bench/raccoon.py).
        "model": {
            "widths": [32, 64, 96, 128, 192, 256],
            "output_stride": 4,
            "neck_channels": 64,
            "head_channels": 32,
        },
        "train": {
            "epochs": 80,
            "batch_size": 16,
            "learning_rate": 2e-3,
            "lr_schedule": "cosine",
            "warmup_epochs": 2.0,
            "weight_decay": 1e-4,
            "clipnorm": 10.0,
        },
    },
    "resnet18": {
        "data": {"image_size": [384, 384]},
        "model": {"backbone": "resnet18", "output_stride": 4, "neck_channels": 128, "head_channels": 64},
        "train": {"batch_size": 16, "warmup_epochs": 1.0, "clipnorm": 10.0},
    },
}
