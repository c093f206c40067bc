"""Detection data: annotation files → records → tf.data batches of images and CenterNet targets.

Images are decoded with `decode_rgb` and resized with `resize_image`, the functions the serving
graph uses, so training and serving see the same pixels. Augmentation is box-aware: a random crop
(scale jitter: the crop is resized to the model's input) keeps the boxes whose centre stays
inside, clipped to the crop; a horizontal flip mirrors them. Random draws come from a seeded
stream that changes every epoch, so runs are reproducible.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tfapps.models.heads.centernet import encode_targets
from tfapps.models.preprocessing.augment import jitter_colour
from tfapps.models.preprocessing.image import decode_rgb, resize_image
from tfapps.pipelines.detection_data import (
    DetectionDataset,
    DetectionRecord,
    read_detection_dataset,
)
from tfapps.pipelines.reader import scan_images
from tfapps.pipelines.splits import train_and_validation

__all__ = ["image_batches", "make_dataset", "read_split", "train_val_records"]

logger = logging.getLogger(__name__)


def read_split(config: Any, path: str, class_names: Sequence[str] | None = None) -> DetectionDataset:
    """Read one dataset with the config's format, image folder and split; log its data report.

    Every image is also decoded once by TensorFlow (the decoder training uses): a file whose
    header reads but whose data is corrupt or truncated is left out with a warning naming it,
    instead of failing an epoch halfway (`undecodable_images` of `evaluate` counts them).
    """
    d = config.data
    dataset = read_detection_dataset(
        path,
        format=d.format,
        image_dir=d.image_dir or None,
        class_names=list(class_names) if class_names else None,
        split=d.split or None,
    )
    logger.info("%s", dataset.report.summary())
    ok, _ = scan_images([r.image_path for r in dataset.records])
    if ok.all():
        return dataset
    bad = [r.image_path for r, good in zip(dataset.records, ok, strict=True) if not good]
    logger.warning(
        "Skipping %d image(s) TensorFlow cannot decode (corrupt or truncated): %s",
        len(bad),
        ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""),
    )
    kept = tuple(r for r, good in zip(dataset.records, ok, strict=True) if good)
    return dataclasses.replace(dataset, records=kept)


def train_val_records(config: Any) -> tuple[DetectionDataset, list[DetectionRecord], list[DetectionRecord]]:
    """The training dataset and its records, and the validation records (`data.val`, or a seeded
    `validation_split` of the training records)."""
    d = config.data
    train = read_split(config, d.train, d.class_names or None)
    val = read_split(config, d.val, train.class_names).records if d.val else None
    records, val = train_and_validation(train.records, val, d.validation_split, d.seed)
    return train, records, val


def _padded(records: Sequence[DetectionRecord], max_boxes: int) -> dict[str, np.ndarray]:
    """Paths, boxes `[N, max_boxes, 4]`, classes and counts; the largest boxes are kept first."""
    boxes = np.zeros((len(records), max_boxes, 4), np.float32)
    classes = np.zeros((len(records), max_boxes), np.int32)
    counts = np.zeros(len(records), np.int32)
    for i, record in enumerate(records):
        areas = (record.boxes[:, 2] - record.boxes[:, 0]) * (record.boxes[:, 3] - record.boxes[:, 1])
        keep = np.argsort(-areas, kind="stable")[:max_boxes]
        counts[i] = len(keep)
        boxes[i, : len(keep)] = record.boxes[keep]
        classes[i, : len(keep)] = record.classes[keep]
    return {
        "path": np.array([r.image_path for r in records]),
        "boxes": boxes,
        "classes": classes,
        "num_boxes": counts,
    }


def _random_crop(image, boxes, classes, num_boxes, scale_min: float, seed):
    """A random crop of at least `scale_min` of each side; boxes clipped to it, those whose centre
    falls outside dropped (the kept ones move to the front)."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.random.stateless_uniform([2], seed, scale_min, 1.0)
    crop = tf.maximum(tf.floor(shape * scale), 1.0)
    offset = tf.floor(tf.random.stateless_uniform([2], seed + 1) * (shape - crop + 1.0))
    top_left = tf.tile(offset, [2])
    shifted = boxes - top_left
    centre = (shifted[:, :2] + shifted[:, 2:]) / 2
    valid = tf.range(tf.shape(boxes)[0]) < num_boxes
    inside = tf.reduce_all((centre >= 0) & (centre < crop), axis=1) & valid
    clipped = tf.clip_by_value(shifted, 0.0, tf.tile(crop, [2]))
    order = tf.argsort(tf.cast(~inside, tf.int32), stable=True)  # kept boxes first, in order
    cropped = tf.image.crop_to_bounding_box(
        image,
        tf.cast(offset[0], tf.int32),
        tf.cast(offset[1], tf.int32),
        tf.cast(crop[0], tf.int32),
        tf.cast(crop[1], tf.int32),
    )
    return (
        cropped,
        tf.gather(clipped, order),
        tf.gather(classes, order),
        tf.reduce_sum(tf.cast(inside, tf.int32)),
    )


def _flip(image, boxes, seed):
    flip = tf.random.stateless_uniform([], seed) < 0.5
    width = tf.cast(tf.shape(image)[1], tf.float32)
    mirrored = tf.stack([boxes[:, 0], width - boxes[:, 3], boxes[:, 2], width - boxes[:, 1]], axis=1)
    return tf.cond(flip, lambda: tf.image.flip_left_right(image), lambda: image), tf.where(
        flip, mirrored, boxes
    )


def _example_fn(config: Any, num_classes: int, training: bool):
    d, a, m = config.data, config.augment, config.model
    size = tuple(d.image_size)
    output_size = (size[0] // m.output_stride, size[1] // m.output_stride)

    def to_example(image, boxes, classes, num_boxes, seed):
        if training and a.crop_scale_min < 1.0:
            image, boxes, classes, num_boxes = _random_crop(
                image, boxes, classes, num_boxes, a.crop_scale_min, seed
            )
        if training and a.flip:
            image, boxes = _flip(image, boxes, seed + 2)
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = tf.tile(tf.constant(size, tf.float32) / shape, [2])
        image = resize_image(image, size)
        if training:
            image = jitter_colour(image, a.brightness, a.contrast, seed + 3)
        target = encode_targets(boxes * scale, classes, num_boxes, output_size, m.output_stride, num_classes)
        return image, target

    return to_example


def make_dataset(
    records: Sequence[DetectionRecord],
    num_classes: int,
    config: Any,
    training: bool,
    batch_size: int,
    input_context: Any = None,
) -> tf.data.Dataset:
    """Endless batches of `(image [B, H, W, 3] float 0..255, target [B, h, w, C + 5])` for `fit`.

    Args:
        records: the images and boxes.
        num_classes: number of classes.
        config: the `DetectionConfig`.
        training: shuffle, augment and drop the last partial batch.
        batch_size: per-replica batch size.
        input_context: `tf.distribute.InputContext` to shard by (None: no sharding).
    """
    d = config.data
    columns = _padded(records, d.max_boxes)
    ds = tf.data.Dataset.from_tensor_slices(columns)
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)

    def load(row):
        return decode_rgb(tf.io.read_file(row["path"])), row["boxes"], row["classes"], row["num_boxes"]

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    if d.cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(d.shuffle_buffer or len(records), seed=d.seed, reshuffle_each_iteration=True)
        # A fresh seed per example and epoch (rerandomize_each_iteration), reproducible per run.
        seeds = tf.data.Dataset.random(seed=d.seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds)
        ds = ds.map(lambda example, seed: (*example, seed), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda *example: (*example, tf.zeros([2], tf.int64)))
    to_example = _example_fn(config, num_classes, training)
    ds = ds.map(to_example, num_parallel_calls=tf.data.AUTOTUNE)
    # Training: `fit` runs `steps_per_epoch` steps of full batches on an endless stream. Validation:
    # batch, then repeat, so each pass of ceil(n / batch) steps sees every example once and every
    # replica always gets a batch.
    ds = ds.repeat().batch(batch_size, drop_remainder=True) if training else ds.batch(batch_size).repeat()
    return ds.prefetch(tf.data.AUTOTUNE)


def image_batches(paths: Sequence[str], batch_size: int) -> tf.data.Dataset:
    """Encoded image files in batches of strings (the serving signature's input), in order."""
    ds = tf.data.Dataset.from_tensor_slices(np.array([str(Path(p)) for p in paths]))
    return ds.map(tf.io.read_file, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
