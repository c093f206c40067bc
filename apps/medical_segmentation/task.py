"""Medical (3D) segmentation: NIfTI volumes in; class masks of the same size out of the served
graph, by sliding-window inference."""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from tfapps.apps.config import with_values
from tfapps.apps.errors import DataError, NotFoundError
from tfapps.apps.medical_segmentation import data as volume_data
from tfapps.apps.medical_segmentation.config import PRESETS, VolumeSegmentationConfig
from tfapps.apps.medical_segmentation.signatures import sample_request, segment_fn, serving_signatures
from tfapps.apps.medical_segmentation.synthetic import write_synthetic_volumes
from tfapps.apps.task import Datasets, per_replica_batch_size
from tfapps.models.segmentation import SegmentationLoss
from tfapps.models.volumes import dice_per_class, hd95, unet3d
from tfapps.pipelines.medical_data import load_case
from tfapps.pipelines.medical_io import write_nifti

__all__ = ["ForegroundDice", "MedicalSegmentationTask"]

logger = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="tfapps")
class ForegroundDice(keras.metrics.Metric):
    """Dice of the predicted classes, averaged over the foreground classes (ids 1..K-1), from
    voxel counts accumulated over all batches (a class absent everywhere counts as 1)."""

    def __init__(self, num_classes: int, name: str = "dice", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.intersection = self.add_weight(shape=(num_classes,), initializer="zeros", name="intersection")
        self.total = self.add_weight(shape=(num_classes,), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        truth = tf.one_hot(tf.cast(y_true, tf.int32), self.num_classes)
        predicted = tf.one_hot(tf.argmax(y_pred, axis=-1), self.num_classes)
        axes = list(range(len(truth.shape) - 1))
        self.intersection.assign_add(tf.reduce_sum(truth * predicted, axis=axes))
        self.total.assign_add(tf.reduce_sum(truth + predicted, axis=axes))

    def result(self):
        dice = tf.where(self.total > 0, 2 * self.intersection / tf.maximum(self.total, 1.0), 1.0)
        return tf.reduce_mean(dice[1:])

    def reset_state(self):
        self.intersection.assign(tf.zeros_like(self.intersection))
        self.total.assign(tf.zeros_like(self.total))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def _plot_case(image: np.ndarray, truth: np.ndarray, predicted: np.ndarray, title: str, path: Path) -> None:
    """The axial slice with the most foreground: image, ground truth and prediction."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    k = int(np.argmax((truth > 0).sum(axis=(0, 1)))) if truth.ndim == 3 else 0
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    for ax, overlay, name in zip(
        axes, (None, truth, predicted), ("image", "truth", "prediction"), strict=True
    ):
        ax.imshow(image[:, :, k].T, cmap="gray", origin="lower")
        if overlay is not None:
            ax.imshow(np.ma.masked_equal(overlay[:, :, k].T, 0), cmap="autumn", alpha=0.5, origin="lower")
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _mean(values: list[float]) -> float:
    """Mean of the finite values (NaN when there are none)."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


class MedicalSegmentationTask:
    """NIfTI cases → 3D U-Net on patches → `volume` of any size in, class mask out."""

    name: ClassVar[str] = "medical_segmentation"
    config_cls: ClassVar[type] = VolumeSegmentationConfig
    presets: ClassVar[dict] = PRESETS
    primary_metric: ClassVar[str] = "dice"

    def resolve_data(self, config):
        """Fill `data.channels` and `data.class_names` (config, label groups, `dataset.json`, or
        the largest label value in the training cases)."""
        d = config.data
        dataset = volume_data.read_volumes(d.train, "train")
        names = tuple(d.class_names)
        if not names:
            if d.label_groups:
                names = ("background", *(f"class_{i + 1}" for i in range(len(d.label_groups))))
            elif dataset.label_names:
                names = tuple(dataset.label_names)
            else:
                cases = volume_data.load_cases(d.train, "train", config)
                names = tuple(f"class_{i}" for i in range(int(max(c.label.max() for c in cases)) + 1))
                names = ("background", *names[1:])
        if len(names) < 2:
            raise DataError(
                "Segmentation needs a background and at least one foreground class; the labels hold "
                f"only background. Received: class_names={list(names)}, data.train='{d.train}'"
            )
        if d.label_groups and len(names) != len(d.label_groups) + 1:
            raise DataError(
                "data.class_names must name the background and one class per label group. "
                f"Received: class_names={list(names)}, label_groups={[list(g) for g in d.label_groups]}"
            )
        logger.info(
            "%d training cases, %d channels, classes %s", len(dataset.records), dataset.channels, list(names)
        )
        return with_values(config, **{"data.channels": dataset.channels, "data.class_names": list(names)})

    def build_model(self, config) -> keras.Model:
        """A 3D U-Net on normalised patches (`[None, None, None, C]`: any multiple of 2**depth)."""
        m = config.model
        return unet3d(
            (None, None, None, config.data.channels),
            len(config.data.class_names),
            base_filters=m.base_filters,
            depth=m.depth,
            batch_norm_momentum=m.batch_norm_momentum,
            dropout=m.dropout,
        )

    def make_datasets(self, config, input_context=None) -> Datasets:
        train, val = volume_data.train_val_cases(config)
        per_replica = per_replica_batch_size(config, input_context)
        train_ds, train_count = volume_data.make_dataset(train, config, True, per_replica, input_context)
        val_ds, val_count = (
            volume_data.make_dataset(val, config, False, per_replica, input_context) if val else (None, 0)
        )
        return Datasets(train=train_ds, val=val_ds, train_examples=train_count, val_examples=val_count)

    def loss(self, config):
        return SegmentationLoss(
            len(config.data.class_names), ignore_index=-1, dice_weight=config.model.dice_weight
        )

    def metrics(self, config):
        return [ForegroundDice(len(config.data.class_names))]

    def evaluate(self, model, config, data: str, out_dir: Path) -> dict[str, float]:
        """Dice and HD95 (in the image's physical units) per foreground class of the served
        masks on every case of `data`'s `test` split (all of `data` when it has none); writes the
        predicted masks as NIfTI (with each image's affine), a per-case table and slice views.

        `dice/<c>` and `hd95/<c>` average the cases where they are defined: Dice is undefined when
        class `c` is absent from both masks, HD95 when it is absent from either (`per_case.csv`
        keeps every case's value, NaN or inf); `dice` is the mean over the foreground classes."""
        names = list(config.data.class_names)
        try:
            dataset = volume_data.read_volumes(data, "test")
        except NotFoundError:  # no test split: the whole of `data` is the evaluation set
            dataset = volume_data.read_volumes(data, "train")
        segment = tf.function(segment_fn(model, config))
        out = Path(out_dir)
        (out / "predictions").mkdir(parents=True, exist_ok=True)
        (out / "examples").mkdir(parents=True, exist_ok=True)
        rows = []
        for record in dataset.records:
            image, label, affine = load_case(record)
            truth = volume_data.class_ids(label, config.data.label_groups)
            predicted = segment(tf.constant(image[None], tf.float32))["mask"].numpy()[0]
            spacing = tuple(float(v) for v in np.linalg.norm(affine[:3, :3], axis=0))
            dice = dice_per_class(truth, predicted, len(names))
            row = {"case": record.case_id}
            for c in range(1, len(names)):
                row[f"dice/{names[c]}"] = float(dice[c])
                row[f"hd95/{names[c]}"] = float(hd95(truth == c, predicted == c, spacing))
            rows.append(row)
            write_nifti(
                out / "predictions" / f"{record.case_id}_mask.nii.gz", predicted.astype(np.uint8), affine
            )
            foreground = ", ".join(f"{names[c]} {dice[c]:.3f}" for c in range(1, len(names)))
            _plot_case(
                image[..., 0],
                truth,
                predicted,
                f"{record.case_id}: dice {foreground}",
                out / "examples" / f"{record.case_id}.png",
            )
            logger.info("%s: dice %s", record.case_id, foreground)
        metrics: dict[str, float] = {}
        for c in range(1, len(names)):
            metrics[f"dice/{names[c]}"] = _mean([r[f"dice/{names[c]}"] for r in rows])
            metrics[f"hd95/{names[c]}"] = _mean([r[f"hd95/{names[c]}"] for r in rows])
        metrics["dice"] = _mean([metrics[f"dice/{n}"] for n in names[1:]])
        metrics["cases"] = float(len(rows))
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
        with (out / "per_case.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["case"])
            writer.writeheader()
            writer.writerows(rows)
        (out / "data_report.txt").write_text(dataset.report.summary() + "\n")
        return metrics

    def signatures(self, model, config):
        return serving_signatures(model, config)

    def sample_request(self, config):
        return sample_request(config)

    def synthetic_data(self, root) -> str:
        """Eight generated MRI-like cases with a bright ball as the foreground, MSD layout."""
        return str(write_synthetic_volumes(Path(root) / "volumes"))
