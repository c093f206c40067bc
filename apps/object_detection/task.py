"""Object detection: COCO / VOC / YOLO / CSV boxes in, boxes with labels out of the served graph."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import keras
import tensorflow as tf

from tfapps.apps.config import with_values
from tfapps.apps.errors import ConfigError
from tfapps.apps.object_detection import data as detection_data
from tfapps.apps.object_detection.config import PRESETS, DetectionConfig
from tfapps.apps.object_detection.evaluation import coco_metrics, write_examples, write_report
from tfapps.apps.object_detection.signatures import detect_fn, sample_request, serving_signatures
from tfapps.apps.object_detection.synthetic import write_shapes_detection
from tfapps.apps.task import Datasets, per_replica_batch_size
from tfapps.models.backbones import build_backbone, normalise_input
from tfapps.models.heads.centernet import CenterNetLoss, centernet_head
from tfapps.pipelines.reader import find_split

__all__ = ["ObjectDetectionTask"]

logger = logging.getLogger(__name__)


def _upsampling_neck(features, backbone_stride: int, output_stride: int, channels: int):
    """Nearest-neighbour upsampling + 3×3 conv/BN/ReLU steps from the backbone's stride to the
    heads' (CenterNet's ResNet variant, with resize-convolutions instead of deconvolutions)."""
    x, stride, step = features, backbone_stride, 0
    while stride > output_stride:
        x = keras.layers.UpSampling2D(2, name=f"neck_up{step}")(x)
        x = keras.layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"neck_conv{step}")(x)
        x = keras.layers.BatchNormalization(name=f"neck_bn{step}")(x)
        x = keras.layers.ReLU(name=f"neck_relu{step}")(x)
        stride //= 2
        step += 1
    return x


class ObjectDetectionTask:
    """Boxes on images → anchor-free CenterNet-style detector → `image_bytes` in, boxes out."""

    name: ClassVar[str] = "object_detection"
    config_cls: ClassVar[type] = DetectionConfig
    presets: ClassVar[dict] = PRESETS
    primary_metric: ClassVar[str] = "map"

    def resolve_data(self, config):
        """Fill `data.class_names` from the training annotations (their own class list)."""
        train, records, val = detection_data.train_val_records(config)
        logger.info("%d training images, %d validation images", len(records), len(val))
        return with_values(config, **{"data.class_names": list(train.class_names)})

    def build_model(self, config) -> keras.Model:
        """Rescale (ImageNet-normalise for keras-hub backbones), backbone, neck, CenterNet heads."""
        shape = (*config.data.image_size, 3)
        inputs = keras.Input(shape, name="image")
        x = normalise_input(inputs, config.model.backbone)
        backbone = build_backbone(
            config.model.backbone,
            shape,
            widths=config.model.widths,
            convs_per_stage=config.model.convs_per_stage,
        )
        features = backbone(x)
        height, width = config.data.image_size
        backbone_stride = height // features.shape[1]
        if (features.shape[1] * backbone_stride, features.shape[2] * backbone_stride) != (height, width):
            raise ConfigError(
                f"data.image_size must be a multiple of the backbone's stride ({backbone_stride}) so the "
                f"heat maps line up with the image. Received: data.image_size={[height, width]}"
            )
        if backbone_stride < config.model.output_stride:
            raise ConfigError(
                f"model.output_stride must be at most the backbone's stride ({backbone_stride}). "
                f"Received: model.output_stride={config.model.output_stride}"
            )
        x = _upsampling_neck(
            features, backbone_stride, config.model.output_stride, config.model.neck_channels
        )
        outputs = centernet_head(x, len(config.data.class_names), head_channels=config.model.head_channels)
        return keras.Model(inputs, outputs, name="object_detector")

    def make_datasets(self, config, input_context=None) -> Datasets:
        train, records, val = detection_data.train_val_records(config)
        num_classes = len(config.data.class_names)
        per_replica = per_replica_batch_size(config, input_context)
        return Datasets(
            train=detection_data.make_dataset(records, num_classes, config, True, per_replica, input_context),
            val=(
                detection_data.make_dataset(val, num_classes, config, False, per_replica, input_context)
                if val
                else None
            ),
            train_examples=len(records),
            val_examples=len(val),
        )

    def loss(self, config):
        return CenterNetLoss(
            len(config.data.class_names),
            size_weight=config.model.size_weight,
            offset_weight=config.model.offset_weight,
        )

    def metrics(self, config):
        return []

    def evaluate(self, model, config, data: str, out_dir: Path) -> dict[str, float]:
        """COCO metrics of the served detection function on every image of `data` (its `test/`
        split when it has one); writes metrics, a per-class table and drawn examples."""
        path = str(find_split(data, "test") or data)
        dataset = detection_data.read_split(config, path, config.data.class_names)
        records = list(dataset.records)
        detect = tf.function(detect_fn(model, config), input_signature=[tf.TensorSpec([None], tf.string)])
        detections = []
        for batch in detection_data.image_batches([r.image_path for r in records], config.train.batch_size):
            found = {k: v.numpy() for k, v in detect(batch).items()}
            detections += [{k: found[k][i] for k in found} for i in range(len(found["num_detections"]))]
        metrics, per_class = coco_metrics(records, detections, config.data.class_names)
        report = dataset.report
        metrics["images"] = float(len(records))
        metrics["skipped_images"] = float(report.missing_images + report.unreadable_images)
        metrics["undecodable_images"] = float(report.images - len(records))
        metrics = {k: float(v) for k, v in metrics.items()}
        out = Path(out_dir)
        write_report(out, metrics, per_class)
        write_examples(out, records, detections, config.data.class_names)
        (out / "data_report.txt").write_text(report.summary() + "\n")
        logger.info("mAP %.3f, mAP@0.5 %.3f on %d images", metrics["map"], metrics["map_50"], len(records))
        return metrics

    def signatures(self, model, config):
        return serving_signatures(model, config)

    def sample_request(self, config):
        return sample_request(config)

    def synthetic_data(self, root) -> str:
        """32 generated images of squares and discs, boxes in a TF OD API CSV."""
        return str(write_shapes_detection(Path(root) / "shapes_detection"))
