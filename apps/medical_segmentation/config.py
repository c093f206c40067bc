"""Medical (3D) segmentation config and presets."""

from __future__ import annotations

import dataclasses
from typing import Literal

from tfapps.apps.config import check_ranges
from tfapps.apps.task import DataConfig, RuntimeConfig, TrainConfig

__all__ = [
    "PRESETS",
    "VolumeAugmentConfig",
    "VolumeDataConfig",
    "VolumeModelConfig",
    "VolumeSegmentationConfig",
    "VolumeServingConfig",
]


@dataclasses.dataclass(frozen=True)
class VolumeDataConfig(DataConfig):
    """NIfTI image/label volumes: `imagesTr/` + `labelsTr/` (Medical Segmentation Decathlon) or an
    `image,label` / `image_0,...,image_k,label` CSV (paths relative to the CSV).

    Attributes:
        channels: image channels (modalities); filled from the data.
        class_names: class order, background first; from the config, `label_groups`, the
            dataset's `dataset.json`, or `class_0..` up to the largest label value.
        label_groups: merge label values into classes: class `i + 1` is every voxel whose value
            is in `label_groups[i]`, everything else background, e.g. `[[1, 2, 3, 4]]` for BraTS'
            whole tumour. Empty: label values are class ids.
        intensity: `nonzero_zscore` (per volume and channel over nonzero voxels: brain MRI),
            `zscore` (over all voxels) or `none`; the same function runs in the served graph.
        patch_size: `[depth, height, width]` of the training patches (multiples of 2**depth).
        patches_per_case: patches drawn from each training case per epoch.
        foreground_fraction: share of patches centred on a random foreground voxel (the rest
            anywhere): small structures would otherwise be rare in the patches.
        val_patches_per_case: fixed validation patches per validation case (drawn once).
    """

    channels: int = 0
    class_names: tuple[str, ...] = ()
    label_groups: tuple[tuple[int, ...], ...] = ()
    intensity: Literal["nonzero_zscore", "zscore", "none"] = "nonzero_zscore"
    patch_size: tuple[int, int, int] = (64, 64, 64)
    patches_per_case: int = 16
    foreground_fraction: float = 0.5
    val_patches_per_case: int = 8


@dataclasses.dataclass(frozen=True)
class VolumeAugmentConfig:
    """Training augmentation of patches and their labels (never when serving).

    Attributes:
        flip: mirror each spatial axis with probability 0.5.
        intensity_scale: maximum relative intensity change (after normalisation); 0 disables.
        intensity_shift: maximum intensity shift (after normalisation); 0 disables.
    """

    flip: bool = True
    intensity_scale: float = 0.1
    intensity_shift: float = 0.1


@dataclasses.dataclass(frozen=True)
class VolumeModelConfig:
    """3D U-Net and its loss.

    Attributes:
        base_filters: filters at full resolution (doubling per level).
        depth: down-sampling levels.
        dropout: dropout at the bottleneck.
        batch_norm_momentum: batch-norm momentum.
        dice_weight: weight of the soft Dice term added to the cross-entropy.
    """

    base_filters: int = 8
    depth: int = 3
    dropout: float = 0.0
    batch_norm_momentum: float = 0.9
    dice_weight: float = 1.0


@dataclasses.dataclass(frozen=True)
class VolumeServingConfig:
    """Sliding-window inference in the served graph.

    Attributes:
        window: `[depth, height, width]` of the windows; empty: `data.patch_size`.
        overlap: overlap of neighbouring windows, in [0, 1).
        window_batch: windows run through the network at once.
        blend: `gaussian` (centre of each window weighs more) or `constant`.
    """

    window: tuple[int, ...] = ()
    overlap: float = 0.5
    window_batch: int = 4
    blend: Literal["gaussian", "constant"] = "gaussian"


@dataclasses.dataclass(frozen=True)
class VolumeSegmentationConfig:
    """Full medical-segmentation config (see `tfapps config show medical_segmentation`)."""

    data: VolumeDataConfig = VolumeDataConfig()
    augment: VolumeAugmentConfig = VolumeAugmentConfig()
    model: VolumeModelConfig = VolumeModelConfig()
    train: TrainConfig = TrainConfig(batch_size=2)
    runtime: RuntimeConfig = RuntimeConfig()
    serving: VolumeServingConfig = VolumeServingConfig()

    def validate(self) -> None:
        """Check value ranges that types cannot express.

        Raises:
            ConfigError: naming the first invalid value (`check_ranges`).
        """
        d, m, s = self.data, self.model, self.serving
        multiple = 2**m.depth
        window = s.window or d.patch_size
        check_ranges(
            [
                (
                    all(p >= multiple and p % multiple == 0 for p in d.patch_size),
                    "data.patch_size",
                    f"three sides, multiples of {multiple} (2**model.depth)",
                    d.patch_size,
                ),
                (
                    len(window) == 3 and all(w >= multiple and w % multiple == 0 for w in window),
                    "serving.window",
                    f"three sides, multiples of {multiple} (2**model.depth), or empty",
                    s.window,
                ),
                (
                    all(len(g) >= 1 and min(g) >= 1 for g in d.label_groups),
                    "data.label_groups",
                    "non-empty groups of label values >= 1 (0 is background)",
                    d.label_groups,
                ),
                (
                    0.0 <= d.foreground_fraction <= 1.0,
                    "data.foreground_fraction",
                    "in [0, 1]",
                    d.foreground_fraction,
                ),
                (d.patches_per_case >= 1, "data.patches_per_case", ">= 1", d.patches_per_case),
                (
                    d.val_patches_per_case >= 1,
                    "data.val_patches_per_case",
                    ">= 1",
                    d.val_patches_per_case,
                ),
                (
                    0.0 <= d.validation_split < 1.0,
                    "data.validation_split",
                    "in [0, 1)",
                    d.validation_split,
                ),
                (1 <= m.depth <= 5, "model.depth", "in 1..5", m.depth),
                (m.base_filters >= 1, "model.base_filters", ">= 1", m.base_filters),
                (m.dice_weight >= 0, "model.dice_weight", ">= 0", m.dice_weight),
                (0.0 <= s.overlap < 1.0, "serving.overlap", "in [0, 1)", s.overlap),
                (s.window_batch >= 1, "serving.window_batch", ">= 1", s.window_batch),
                (self.train.epochs >= 1, "train.epochs", ">= 1", self.train.epochs),
                (self.train.batch_size >= 1, "train.batch_size", ">= 1", self.train.batch_size),
                (self.train.learning_rate > 0, "train.learning_rate", "> 0", self.train.learning_rate),
            ]
        )


PRESETS: dict[str, dict] = {
    # Seconds on a laptop: the contract test and the CLI tests use it.
    "tiny": {
        "data": {"patch_size": [16, 16, 16], "patches_per_case": 2, "val_patches_per_case": 1},
        "augment": {"flip": False, "intensity_scale": 0.0, "intensity_shift": 0.0},
        "model": {"base_filters": 4, "depth": 2},
        "train": {
            "epochs": 1,
            "batch_size": 2,
            "learning_rate": 3e-3,
            "lr_schedule": "constant",
            "weight_decay": 0.0,
        },
    },
    # Two CPU cores, tens of minutes: brain-tumour MRI (bench/brats.py).
    "cpu": {
        "data": {"patch_size": [48, 48, 48], "patches_per_case": 24, "foreground_fraction": 0.5},
        "model": {"base_filters": 8, "depth": 3, "dice_weight": 1.0},
        "serving": {"overlap": 0.25, "window_batch": 2},
        "train": {
            "epochs": 40,
            "batch_size": 2,
            "learning_rate": 3e-3,
            "lr_schedule": "cosine",
            "warmup_epochs": 1.0,
            "weight_decay": 1e-4,
            "clipnorm": 5.0,
        },
    },
}
