"""Serving signature: encoded images of any sizes in, boxes in each original image's pixels out.

Decoding and resizing use the training pipeline's `decode_rgb` / `resize_image`; peak extraction,
box decoding and class-wise NMS run in the graph (`decode_detections`), then boxes are scaled back
from the model's input to each image's own width and height.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfapps.apps.samples import shape_pngs
from tfapps.models.heads.centernet import decode_detections
from tfapps.models.preprocessing.image import decode_rgb, resize_image
from tfapps.serving.export import Signature

__all__ = ["detect_fn", "sample_request", "serving_signatures"]


def detect_fn(model, config):
    """`image_bytes [B] → {boxes, scores, classes, labels, num_detections}` as a plain function."""
    size = tuple(config.data.image_size)
    class_names = list(config.data.class_names)
    serving = config.serving

    def preprocess(encoded):
        image = decode_rgb(encoded)
        return resize_image(image, size), tf.cast(tf.shape(image)[:2], tf.float32)

    def detect(image_bytes):
        images, original = tf.map_fn(
            preprocess,
            image_bytes,
            fn_output_signature=(tf.TensorSpec([*size, 3], tf.float32), tf.TensorSpec([2], tf.float32)),
        )
        head = tf.cast(model(images, training=False), tf.float32)
        found = decode_detections(
            head,
            num_classes=len(class_names),
            stride=config.model.output_stride,
            max_detections=serving.max_detections,
            score_threshold=serving.score_threshold,
            nms_iou_threshold=serving.nms_iou_threshold,
        )
        scale = tf.tile(original / tf.constant(size, tf.float32), [1, 2])[:, None, :]
        valid = tf.range(serving.max_detections)[None, :] < found["num_detections"][:, None]
        labels = tf.where(valid, tf.gather(tf.constant(class_names), found["classes"]), "")
        return {
            "boxes": found["boxes"] * scale,
            "scores": found["scores"],
            "classes": found["classes"],
            "labels": labels,
            "num_detections": found["num_detections"],
        }

    return detect


def serving_signatures(model, config) -> dict[str, Signature]:
    """`serving_default`: `image_bytes` string `[None]` (any sizes) → `boxes` `[None, K, 4]` (pixel
    `ymin, xmin, ymax, xmax` in each original image), `scores` `[None, K]`, `classes` `[None, K]`
    (0-based indices), `labels` `[None, K]` (names, "" past `num_detections`), `num_detections`."""
    return {
        "serving_default": Signature(
            detect_fn(model, config), {"image_bytes": tf.TensorSpec([None], tf.string)}
        )
    }


def sample_request(config, count: int = 2) -> dict[str, np.ndarray]:
    """PNG images of different sizes with a square and a disc on them (deterministic)."""
    height, width = config.data.image_size
    return {"image_bytes": shape_pngs(height, width, count)}
