"""Medical image classification: DICOM/PNG/JPEG/NIfTI or MedMNIST in; labels, scores and a Grad-CAM
saliency map out of the served graph."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from tfapps.apps.config import with_values
from tfapps.apps.errors import DataError
from tfapps.apps.medical_classification import data as medical_data
from tfapps.apps.medical_classification.config import PRESETS, MedicalClassificationConfig
from tfapps.apps.medical_classification.evaluation import medical_classification_metrics, write_report
from tfapps.apps.medical_classification.signatures import classify_fn, sample_request, serving_signatures
from tfapps.apps.medical_classification.synthetic import write_synthetic_scans
from tfapps.apps.task import Datasets, per_replica_batch_size
from tfapps.models.backbones import build_backbone, resnet3d

__all__ = ["MedicalClassificationTask", "SoftmaxAUC"]

logger = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="tfapps")
class SoftmaxAUC(keras.metrics.AUC):
    """ROC AUC of softmax probabilities against one-hot labels: the positive class's for two
    classes, else the one-vs-rest mean (as the evaluation's scikit-learn figure)."""

    def __init__(self, num_classes: int = 2, name: str = "auc", **kwargs):
        kwargs.pop("multi_label", None)
        kwargs.pop("num_labels", None)
        super().__init__(
            name=name,
            multi_label=num_classes > 2,
            num_labels=num_classes if num_classes > 2 else None,
            **kwargs,
        )
        self.num_classes = num_classes

    def update_state(self, y_true, y_pred, sample_weight=None):
        probabilities = tf.nn.softmax(tf.cast(y_pred, tf.float32), axis=-1)
        if self.num_classes == 2:
            return super().update_state(y_true[:, 1], probabilities[:, 1])
        return super().update_state(y_true, probabilities)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


class MedicalClassificationTask:
    """Medical images or volumes → 2D CNN / 3D ResNet → labels, scores and Grad-CAM saliency."""

    name: ClassVar[str] = "medical_classification"
    config_cls: ClassVar[type] = MedicalClassificationConfig
    presets: ClassVar[dict] = PRESETS
    primary_metric: ClassVar[str] = "accuracy"

    def resolve_data(self, config):
        """Fill class names, spatial dims, the model size (the data's own when unset) and the
        intensity window (the training DICOMs' most common one when unset)."""
        d = config.data
        dataset = medical_data.read_dataset(d.train, "train", d.class_names)
        size = tuple(d.image_size)
        if not size:
            if dataset.shape is None:
                raise DataError(
                    "The training examples have different sizes; set data.image_size "
                    f"({'[depth, height, width]' if dataset.spatial_dims == 3 else '[height, width]'}). "
                    f"Received: data.train='{d.train}'"
                )
            size = tuple(dataset.shape)
        if len(size) != dataset.spatial_dims:
            raise DataError(
                f"data.image_size has {len(size)} sides but the data is {dataset.spatial_dims}D. "
                f"Received: data.image_size={list(size)}"
            )
        values = {
            "data.class_names": list(dataset.class_names),
            "data.spatial_dims": dataset.spatial_dims,
            "data.image_size": list(size),
        }
        resolved = with_values(config, **values)
        train, val = medical_data.train_val_splits(resolved)
        if not d.window and train.windows:
            window, count = train.windows.most_common(1)[0]
            logger.info("Intensity window %s from %d DICOM files", list(window), count)
            values["data.window"] = list(window)
        counts = np.bincount(train.labels, minlength=len(dataset.class_names))
        logger.info(
            "%d training examples (%s), %d validation; %dD, model size %s",
            len(train.labels),
            ", ".join(f"{n}: {c}" for n, c in zip(dataset.class_names, counts, strict=True)),
            0 if val is None else len(val.labels),
            dataset.spatial_dims,
            list(size),
        )
        return with_values(config, **values)

    def build_model(self, config) -> keras.Model:
        """`features` (2D backbone or 3D ResNet) then `head` (global pooling, dropout, logits):
        two named sub-models, so the serving graph can take Grad-CAM at the feature map."""
        d, m = config.data, config.model
        shape = (*d.image_size, 1)
        inputs = keras.Input(shape, name="volume" if d.spatial_dims == 3 else "image")
        if d.spatial_dims == 3:
            backbone = resnet3d(
                shape,
                widths=tuple(m.widths),
                blocks_per_stage=m.convs_per_stage,
                batch_norm_momentum=m.batch_norm_momentum,
            )
        else:
            backbone = build_backbone(
                m.backbone,
                shape,
                widths=tuple(m.widths),
                convs_per_stage=m.convs_per_stage,
                batch_norm_momentum=m.batch_norm_momentum,
            )
        features = keras.Model(backbone.inputs, backbone.outputs[0], name="features")
        feature_input = keras.Input(features.output.shape[1:], name="feature_map")
        pool = (
            keras.layers.GlobalAveragePooling3D
            if d.spatial_dims == 3
            else keras.layers.GlobalAveragePooling2D
        )
        x = pool(name="pool")(feature_input)
        if m.head_units > 0:
            x = keras.layers.Dense(m.head_units, activation="relu", name="head_hidden")(x)
        if m.dropout > 0:
            x = keras.layers.Dropout(m.dropout, name="head_dropout")(x)
        logits = keras.layers.Dense(len(d.class_names), dtype="float32", name="logits")(x)
        head = keras.Model(feature_input, logits, name="head")
        return keras.Model(inputs, head(features(inputs)), name="medical_classifier")

    def make_datasets(self, config, input_context=None) -> Datasets:
        train, val = medical_data.train_val_splits(config)
        per_replica = per_replica_batch_size(config, input_context)
        weights = medical_data.class_weights(
            train.labels, len(config.data.class_names), config.data.class_weights
        )
        return Datasets(
            train=medical_data.make_dataset(train, config, True, per_replica, input_context, weights),
            val=medical_data.make_dataset(val, config, False, per_replica, input_context) if val else None,
            train_examples=len(train.labels),
            val_examples=0 if val is None else len(val.labels),
        )

    def loss(self, config):
        return keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=config.model.label_smoothing
        )

    def metrics(self, config):
        return [
            keras.metrics.CategoricalAccuracy(name="accuracy"),
            SoftmaxAUC(len(config.data.class_names), name="auc"),
        ]

    def evaluate(self, model, config, data: str, out_dir: Path) -> dict[str, float]:
        """Accuracy, AUC, per-class sensitivity and specificity on the `test` split of `data` (all of
        it when it has none); writes metrics, tables, ROC curves and saliency examples."""
        split = medical_data.eval_split(data, config)
        classify = tf.function(classify_fn(model, config))
        probabilities, examples = [], []
        for start in range(0, len(split.labels), config.train.batch_size):
            batch = tf.constant(split.images[start : start + config.train.batch_size])
            answer = classify(batch)
            probabilities.append(answer["probabilities"].numpy())
            if start == 0:
                examples = [
                    (split.images[i, ..., 0], answer["saliency"].numpy()[i])
                    for i in range(min(6, len(batch)))
                ]
        probabilities = np.concatenate(probabilities)
        names = list(config.data.class_names)
        metrics, matrix = medical_classification_metrics(split.labels, probabilities, names)
        write_report(Path(out_dir), metrics, matrix, names, split, probabilities, examples)
        logger.info(
            "accuracy %.4f, auc %.4f on %d examples", metrics["accuracy"], metrics["auc"], len(split.labels)
        )
        return metrics

    def signatures(self, model, config):
        return serving_signatures(model, config)

    def sample_request(self, config):
        return sample_request(config)

    def synthetic_data(self, root) -> str:
        """Two classes of generated scans (16-bit DICOM and PNG files), in class folders."""
        return str(write_synthetic_scans(Path(root) / "scans"))
