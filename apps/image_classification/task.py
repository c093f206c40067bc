"""Image classification: a folder of labelled images in, labels and scores out of the served graph."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import keras
import numpy as np

from tfapps.apps.config import with_values
from tfapps.apps.image_classification import data as image_data
from tfapps.apps.image_classification.config import PRESETS, ImageClassificationConfig
from tfapps.apps.image_classification.report import write_report
from tfapps.apps.image_classification.signatures import sample_request, serving_signatures
from tfapps.apps.task import Datasets, per_replica_batch_size
from tfapps.models.backbones import build_backbone, normalise_input
from tfapps.models.heads.classification import classification_head
from tfapps.models.metrics import classification_report
from tfapps.pipelines.reader import find_split, list_labelled_images
from tfapps.pipelines.synthetic import write_shapes_dataset

__all__ = ["ImageClassificationTask"]

logger = logging.getLogger(__name__)


class ImageClassificationTask:
    """Class folders (or a path,label CSV) → CNN classifier → `image_bytes` in, labels out."""

    name: ClassVar[str] = "image_classification"
    config_cls: ClassVar[type] = ImageClassificationConfig
    presets: ClassVar[dict] = PRESETS
    primary_metric: ClassVar[str] = "accuracy"

    def _splits(self, config):
        d = config.data
        return image_data.labelled_splits(
            d.train, d.val, d.validation_split, d.seed, d.skip_corrupt, d.class_names
        )

    def resolve_data(self, config):
        """Fill `data.class_names` and resolve `data.color_mode=auto` from the training files."""
        train, val = self._splits(config)
        color = config.data.color_mode
        if color == "auto":
            color = "grayscale" if train.channels == 1 and (val is None or val.channels == 1) else "rgb"
        counts = train.counts()
        logger.info(
            "%d training images in %d classes (%s); %d validation images; %d skipped",
            len(train.paths),
            len(counts),
            ", ".join(f"{k}: {v}" for k, v in counts.items()),
            len(val.paths) if val else 0,
            len(train.skipped),
        )
        return with_values(config, **{"data.class_names": list(train.class_names), "data.color_mode": color})

    def build_model(self, config) -> keras.Model:
        """Rescale to 0..1 (ImageNet-normalise for keras-hub backbones), backbone, pooled linear head."""
        channels = 1 if config.data.color_mode == "grayscale" else 3
        shape = (*config.data.image_size, channels)
        inputs = keras.Input(shape, name="image")
        x = normalise_input(inputs, config.model.backbone, channels)
        backbone = build_backbone(
            config.model.backbone,
            shape,
            widths=config.model.widths,
            convs_per_stage=config.model.convs_per_stage,
        )
        logits = classification_head(
            backbone(x),
            len(config.data.class_names),
            dropout=config.model.dropout,
            pooling=config.model.pooling,
            hidden_units=config.model.head_units,
        )
        return keras.Model(inputs, logits, name="image_classifier")

    def make_datasets(self, config, input_context=None) -> Datasets:
        train, val = self._splits(config)
        per_replica = per_replica_batch_size(config, input_context)
        weights = image_data.class_weights(train, config.data.class_weights)
        return Datasets(
            train=image_data.make_dataset(train, config, True, per_replica, input_context, weights),
            val=image_data.make_dataset(val, config, False, per_replica, input_context) if val else None,
            train_examples=len(train.paths),
            val_examples=len(val.paths) if val else 0,
        )

    def loss(self, config):
        return keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=config.model.label_smoothing
        )

    def metrics(self, config):
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
        if len(config.data.class_names) > 5:
            metrics.append(keras.metrics.TopKCategoricalAccuracy(k=5, name="top5_accuracy"))
        return metrics

    def evaluate(self, model, config, data: str, out_dir: Path) -> dict[str, float]:
        """Evaluate on every image under `data` (its `test/` split when it has one)."""
        path = find_split(data, "test") or data
        files = list_labelled_images(path, tuple(config.data.class_names), config.data.skip_corrupt)
        logits = model.predict(image_data.eval_dataset(files, config), verbose=0)
        metrics, matrix = classification_report(np.asarray(files.labels), logits, config.data.class_names)
        metrics["skipped"] = float(len(files.skipped))
        write_report(Path(out_dir), metrics, matrix, config.data.class_names)
        return metrics

    def signatures(self, model, config):
        return serving_signatures(model, config)

    def sample_request(self, config):
        return sample_request(config)

    def synthetic_data(self, root) -> str:
        """Four classes of generated shape images (PNG and JPEG), 16 per class."""
        return str(write_shapes_dataset(Path(root) / "shapes", images_per_class=16, size=32))
