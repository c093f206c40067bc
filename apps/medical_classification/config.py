"""Medical image classification config and presets."""

from __future__ import annotations

import dataclasses
from typing import Literal

from tfapps.apps.config import check_ranges
from tfapps.apps.task import DataConfig, RuntimeConfig, TrainConfig
from tfapps.models.backbones import BackboneName

__all__ = [
    "PRESETS",
    "MedicalAugmentConfig",
    "MedicalClassificationConfig",
    "MedicalDataConfig",
    "MedicalModelConfig",
    "MedicalServingConfig",
]


@dataclasses.dataclass(frozen=True)
class MedicalDataConfig(DataConfig):
    """Medical images: class folders of DICOM/PNG/JPEG/NIfTI files, a MedMNIST `.npz`, or an
    `image,label` CSV (paths relative to the CSV).

    Attributes:
        image_size: the size the model sees: `[height, width]` for 2D images, `[depth, height,
            width]` for volumes; empty: the data's own size when every example shares one.
        spatial_dims: 2 or 3; filled from the data.
        class_names: class order; from the config or the data (folder names, CSV labels).
        window: `[center, width]` intensity window in physical units (e.g. HU); values are
            clipped to it before normalisation, in training and in the served graph. Empty: the
            most common window stored in the training DICOM files, or none.
        intensity: `zscore` (per image: robust to 8/16-bit and any units), `window` (the window
            mapped to 0..1; needs a window) or `fixed` (`(x - intensity_offset) / intensity_scale`).
        intensity_offset, intensity_scale: the `fixed` normalisation.
        class_weights: `balanced` weights classes inversely to their frequency; `auto` does so
            when the largest class has at least twice the examples of the smallest.
        shuffle_buffer: shuffle buffer size; 0 shuffles the whole (per-worker) dataset.
    """

    image_size: tuple[int, ...] = ()
    spatial_dims: int = 0
    class_names: tuple[str, ...] = ()
    window: tuple[float, ...] = ()
    intensity: Literal["zscore", "window", "fixed"] = "zscore"
    intensity_offset: float = 0.0
    intensity_scale: float = 1.0
    class_weights: Literal["auto", "balanced", "none"] = "auto"
    shuffle_buffer: int = 0


@dataclasses.dataclass(frozen=True)
class MedicalAugmentConfig:
    """Training augmentation (never when serving).

    Attributes:
        flip_axes: spatial axes that may be mirrored at random (0 = height for 2D, depth for
            3D); empty for none. Anatomy has a handedness: flip only where the label does not
            depend on it.
        shift: maximum random translation as a fraction of each side (zero padding); 0 disables.
        rotate90: random multiples of 90° in the last two spatial axes (in-plane).
        intensity_scale: maximum relative change of contrast after normalisation; 0 disables.
        intensity_shift: maximum shift of the normalised values; 0 disables.
    """

    flip_axes: tuple[int, ...] = ()
    shift: float = 0.0
    rotate90: bool = False
    intensity_scale: float = 0.1
    intensity_shift: float = 0.1


@dataclasses.dataclass(frozen=True)
class MedicalModelConfig:
    """Model architecture.

    Attributes:
        backbone: the 2D backbone: `simple_cnn` (fast on CPUs) or a keras-hub architecture
            built from config. Volumes always use the 3D ResNet.
        widths: filters per stage (`simple_cnn` and the 3D ResNet).
        convs_per_stage: convolutions per stage of `simple_cnn`; residual blocks per stage of
            the 3D ResNet.
        batch_norm_momentum: batch-norm momentum (`simple_cnn`, 3D ResNet); 0.9 lets the inference
            statistics settle within the few hundred steps of a small medical dataset.
        head_units: width of a hidden ReLU layer in the head; 0 for none.
        dropout: dropout before the classifier.
        label_smoothing: label smoothing of the cross-entropy loss.
    """

    backbone: BackboneName = "simple_cnn"
    widths: tuple[int, ...] = (32, 64, 128)
    convs_per_stage: int = 2
    batch_norm_momentum: float = 0.9
    head_units: int = 0
    dropout: float = 0.2
    label_smoothing: float = 0.0


@dataclasses.dataclass(frozen=True)
class MedicalServingConfig:
    """What the serving signatures return.

    Attributes:
        top_k: labels and scores returned per image (capped at the class count).
    """

    top_k: int = 3


@dataclasses.dataclass(frozen=True)
class MedicalClassificationConfig:
    """Full medical-classification config (see `tfapps config show medical_classification`)."""

    data: MedicalDataConfig = MedicalDataConfig()
    augment: MedicalAugmentConfig = MedicalAugmentConfig()
    model: MedicalModelConfig = MedicalModelConfig()
    train: TrainConfig = TrainConfig(batch_size=32)
    runtime: RuntimeConfig = RuntimeConfig()
    serving: MedicalServingConfig = MedicalServingConfig()

    def validate(self) -> None:
        """Check value ranges that types cannot express.

        Raises:
            ConfigError: naming the first invalid value (`check_ranges`).
        """
        d, a, m = self.data, self.augment, self.model
        dims = d.spatial_dims or len(d.image_size) or 2
        check_ranges(
            [
                (d.spatial_dims in (0, 2, 3), "data.spatial_dims", "2 or 3", d.spatial_dims),
                (
                    not d.image_size or (len(d.image_size) == dims and min(d.image_size) >= 8),
                    "data.image_size",
                    f"{dims} sides >= 8 ([height, width] for 2D, [depth, height, width] for 3D)",
                    d.image_size,
                ),
                (
                    not d.window or (len(d.window) == 2 and d.window[1] > 0),
                    "data.window",
                    "[center, width] with width > 0, or empty",
                    d.window,
                ),
                (
                    d.intensity != "window" or bool(d.window) or not d.spatial_dims,
                    "data.intensity",
                    "zscore or fixed when there is no data.window",
                    d.intensity,
                ),
                (d.intensity_scale != 0, "data.intensity_scale", "non-zero", d.intensity_scale),
                (
                    0.0 <= d.validation_split < 1.0,
                    "data.validation_split",
                    "in [0, 1)",
                    d.validation_split,
                ),
                (
                    all(0 <= axis < dims for axis in a.flip_axes),
                    "augment.flip_axes",
                    f"spatial axes in 0..{dims - 1}",
                    a.flip_axes,
                ),
                (0.0 <= a.shift < 0.5, "augment.shift", "in [0, 0.5)", a.shift),
                (0.0 <= m.dropout < 1.0, "model.dropout", "in [0, 1)", m.dropout),
                (
                    len(m.widths) >= 1 and min(m.widths) >= 1,
                    "model.widths",
                    "positive filters",
                    m.widths,
                ),
                (m.convs_per_stage >= 1, "model.convs_per_stage", ">= 1", m.convs_per_stage),
                (self.train.epochs >= 1, "train.epochs", ">= 1", self.train.epochs),
                (self.train.batch_size >= 1, "train.batch_size", ">= 1", self.train.batch_size),
                (self.train.learning_rate > 0, "train.learning_rate", "> 0", self.train.learning_rate),
                (self.serving.top_k >= 1, "serving.top_k", ">= 1", self.serving.top_k),
            ]
        )


PRESETS: dict[str, dict] = {
    # Seconds on a laptop: the contract test and the CLI tests use it.
    "tiny": {
        "model": {"widths": [8, 16], "convs_per_stage": 1, "dropout": 0.0},
        "augment": {"intensity_scale": 0.0, "intensity_shift": 0.0},
        "train": {
            "epochs": 1,
            "batch_size": 8,
            "learning_rate": 3e-3,
            "lr_schedule": "constant",
            "weight_decay": 0.0,
        },
    },
    # 2D images on two CPU cores in minutes (MedNIST: bench/mednist.py).
    "cpu": {
        "data": {"image_size": [64, 64]},
        "augment": {"shift": 0.08},
        "model": {"widths": [32, 64, 128], "convs_per_stage": 1, "dropout": 0.3},
        "train": {
            "epochs": 15,
            "batch_size": 64,
            "learning_rate": 2e-3,
            "lr_schedule": "cosine",
            "warmup_epochs": 0.5,
            "weight_decay": 5e-4,
        },
    },
    # 28³ volumes on two CPU cores (AdrenalMNIST3D: bench/adrenalmnist3d.py).
    "cpu_3d": {
        "data": {"image_size": [28, 28, 28], "intensity": "fixed", "intensity_scale": 255.0},
        "augment": {"flip_axes": [0, 1, 2], "shift": 0.1, "intensity_scale": 0.0, "intensity_shift": 0.0},
        "model": {"widths": [16, 32, 64], "convs_per_stage": 1, "dropout": 0.3},
        "train": {
            "epochs": 40,
            "batch_size": 32,
            "learning_rate": 2e-3,
            "lr_schedule": "cosine",
            "warmup_epochs": 1.0,
            "weight_decay": 1e-3,
            "monitor": "auc",
        },
    },
}
