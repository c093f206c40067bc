"""Semantic segmentation: image and mask folders in, class masks out of the served graph."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from tfapps.apps.config import with_values
from tfapps.apps.semantic_segmentation import data as segmentation_data
from tfapps.apps.semantic_segmentation.config import PRESETS, SegmentationConfig
from tfapps.apps.semantic_segmentation.signatures import sample_request, segment_fn, serving_signatures
from tfapps.apps.semantic_segmentation.synthetic import write_shapes_segmentation
from tfapps.apps.task import Datasets, per_replica_batch_size
from tfapps.models.backbones import normalise_input
from tfapps.models.segmentation import (
    MeanIoUIgnoringVoid,
    SegmentationLoss,
    confusion_matrix,
    deeplab_v3,
    median_frequency_weights,
    segmentation_metrics,
    unet,
)
from tfapps.pipelines.reader import find_split
from tfapps.pipelines.segmentation_data import load_mask

__all__ = ["SemanticSegmentationTask"]

logger = logging.getLogger(__name__)


def _plot_iou(metrics: dict[str, float], names: list[str], path: Path) -> None:
    """A bar per class (IoU; classes absent from ground truth and predictions left empty)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    values = [metrics.get(f"iou/{name}", 0.0) for name in names]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * len(names) + 1.5), 3.5))
    ax.bar(range(len(names)), values, color="tab:blue")
    ax.axhline(
        metrics["mean_iou"], color="tab:red", linestyle="--", label=f"mean IoU {metrics['mean_iou']:.3f}"
    )
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("IoU")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


class SemanticSegmentationTask:
    """Image + mask pairs → U-Net or DeepLabV3 → `image_bytes` in, class masks out."""

    name: ClassVar[str] = "semantic_segmentation"
    config_cls: ClassVar[type] = SegmentationConfig
    presets: ClassVar[dict] = PRESETS
    primary_metric: ClassVar[str] = "mean_iou"

    def resolve_data(self, config):
        """Fill `data.class_names` and `data.palette` from the data (config, `classes.txt`, ...)."""
        train, records, val = segmentation_data.train_val_records(config)
        logger.info("%d training images, %d validation images", len(records), len(val))
        return with_values(
            config,
            **{"data.class_names": list(train.class_names), "data.palette": [list(c) for c in train.palette]},
        )

    def build_model(self, config) -> keras.Model:
        """Normalise, then U-Net (0..1 inputs) or DeepLabV3 (ImageNet-normalised inputs)."""
        shape = (*config.data.image_size, 3)
        num_classes = len(config.data.class_names)
        inputs = keras.Input(shape, name="image")
        m = config.model
        if m.architecture == "unet":
            x = normalise_input(inputs, "unet")
            network = unet(
                shape,
                num_classes,
                base_filters=m.base_filters,
                depth=m.depth,
                dropout=m.dropout,
                batch_norm_momentum=m.batch_norm_momentum,
            )
        else:
            x = normalise_input(inputs, m.backbone)
            network = deeplab_v3(shape, num_classes, backbone=m.backbone)
        return keras.Model(inputs, network(x), name=f"segmenter_{m.architecture}")

    def make_datasets(self, config, input_context=None) -> Datasets:
        train, records, val = segmentation_data.train_val_records(config)
        per_replica = per_replica_batch_size(config, input_context)
        palette = train.palette
        return Datasets(
            train=segmentation_data.make_dataset(records, config, palette, True, per_replica, input_context),
            val=(
                segmentation_data.make_dataset(val, config, palette, False, per_replica, input_context)
                if val
                else None
            ),
            train_examples=len(records),
            val_examples=len(val),
        )

    def loss(self, config):
        weights = None
        if config.model.class_weights == "balanced":
            train, _, _ = segmentation_data.train_val_records(config)
            counts = train.class_pixel_counts
            if counts is not None:
                weights = [float(w) for w in median_frequency_weights(counts)]
                logger.info("Median-frequency class weights: %s", ", ".join(f"{w:.2f}" for w in weights))
        return SegmentationLoss(
            len(config.data.class_names),
            ignore_index=config.data.ignore_index,
            class_weights=weights,
            dice_weight=config.model.dice_weight,
        )

    def metrics(self, config):
        return [MeanIoUIgnoringVoid(len(config.data.class_names), ignore_index=config.data.ignore_index)]

    def evaluate(self, model, config, data: str, out_dir: Path) -> dict[str, float]:
        """IoU of the served masks (at each image's own size) against the ground truth, over every
        image of `data` (its `test/` split when it has one); writes metrics, a per-class table, the
        confusion matrix and coloured examples."""
        path = str(find_split(data, "test") or data)
        dataset = segmentation_data.read_split(config, path, config.data.class_names)
        names, ignore = list(config.data.class_names), config.data.ignore_index
        segment = tf.function(segment_fn(model, config), input_signature=[tf.TensorSpec([None], tf.string)])
        confusion = np.zeros((len(names), len(names)), np.int64)
        out = Path(out_dir)
        (out / "examples").mkdir(parents=True, exist_ok=True)
        for start in range(0, len(dataset.records), config.train.batch_size):
            batch = dataset.records[start : start + config.train.batch_size]
            encoded = tf.constant([Path(r.image_path).read_bytes() for r in batch])
            pngs = segment(encoded)["mask_png_bytes"].numpy()
            for i, (record, png) in enumerate(zip(batch, pngs, strict=True)):
                predicted = np.array(Image.open(io.BytesIO(png)))
                truth = load_mask(record.mask_path, palette=dataset.palette, ignore_index=ignore).astype(
                    np.int64
                )
                truth[(truth >= len(names)) & (truth != ignore)] = ignore
                confusion += confusion_matrix(truth, predicted, len(names), ignore)
                if start + i < 6:
                    (out / "examples" / f"{start + i:02d}_{Path(record.image_path).stem}.png").write_bytes(
                        png
                    )
        metrics = {k: float(v) for k, v in segmentation_metrics(confusion, names).items()}
        metrics["images"] = float(len(dataset.records))
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
        (out / "confusion_matrix.json").write_text(
            json.dumps({"labels": names, "matrix": confusion.tolist()})
        )
        with (out / "per_class.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["class", "pixels", "iou"])
            for i, name in enumerate(names):
                writer.writerow([name, int(confusion[i].sum()), metrics.get(f"iou/{name}", "")])
        (out / "data_report.txt").write_text(dataset.report.summary() + "\n")
        _plot_iou(metrics, names, out / "per_class_iou.png")
        logger.info("mean IoU %.3f, pixel accuracy %.3f", metrics["mean_iou"], metrics["pixel_accuracy"])
        return metrics

    def signatures(self, model, config):
        return serving_signatures(model, config)

    def sample_request(self, config):
        return sample_request(config)

    def synthetic_data(self, root) -> str:
        """24 generated images of discs and squares with index masks and a `classes.txt`."""
        return str(write_shapes_segmentation(Path(root) / "shapes_segmentation"))
