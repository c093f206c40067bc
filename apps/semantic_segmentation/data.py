"""Segmentation data: image/mask pairs → tf.data batches of images and class-id masks.

Images are decoded with `decode_rgb` and resized with `resize_image`, as in the serving graph;
masks are read as class ids by `load_mask` (palette PNGs hold ids as palette indices, which
TensorFlow's PNG decoder would expand to colours) and resized with nearest-neighbour so ids stay
ids. Augmentation crops and flips the image and its mask together; ids outside the classes
become the ignore index (the data report counted them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfapps.models.preprocessing.augment import jitter_colour
from tfapps.models.preprocessing.image import decode_rgb, resize_image
from tfapps.pipelines.segmentation_data import (
    SegmentationDataset,
    SegmentationRecord,
    load_mask,
    read_segmentation_dataset,
)
from tfapps.pipelines.splits import train_and_validation

__all__ = ["make_dataset", "read_split", "train_val_records"]

logger = logging.getLogger(__name__)


def read_split(config: Any, path: str, class_names: Sequence[str] | None = None) -> SegmentationDataset:
    """Read one dataset with the config's split, classes, palette and ignore index; log its report."""
    d = config.data
    dataset = read_segmentation_dataset(
        path,
        split=d.split or None,
        class_names=list(class_names or d.class_names) or None,
        palette=[list(c) for c in d.palette] or None,
        ignore_index=d.ignore_index,
    )
    logger.info("%s", dataset.report.summary())
    return dataset


def train_val_records(
    config: Any,
) -> tuple[SegmentationDataset, list[SegmentationRecord], list[SegmentationRecord]]:
    """The training dataset and its records, and the validation records (`data.val`, or a seeded
    `validation_split` of the training records)."""
    d = config.data
    train = read_split(config, d.train)
    val = read_split(config, d.val, train.class_names).records if d.val else None
    records, val = train_and_validation(train.records, val, d.validation_split, d.seed)
    return train, records, val


def _read_mask(path: tf.Tensor, palette: Sequence[Sequence[int]], ignore_index: int) -> tf.Tensor:
    def read(raw_path: bytes) -> np.ndarray:
        return load_mask(raw_path.decode(), palette=palette, ignore_index=ignore_index).astype(np.int32)

    mask = tf.numpy_function(read, [path], tf.int32, stateful=False)
    mask.set_shape([None, None])
    return mask


def _crop_and_flip(image, mask, scale_min: float, flip: bool, seed):
    if scale_min < 1.0:
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = tf.random.stateless_uniform([2], seed, scale_min, 1.0)
        crop = tf.maximum(tf.floor(shape * scale), 1.0)
        offset = tf.cast(
            tf.floor(tf.random.stateless_uniform([2], seed + 1) * (shape - crop + 1.0)), tf.int32
        )
        size = tf.cast(crop, tf.int32)
        image = image[offset[0] : offset[0] + size[0], offset[1] : offset[1] + size[1]]
        mask = mask[offset[0] : offset[0] + size[0], offset[1] : offset[1] + size[1]]
    if flip:
        mirror = tf.random.stateless_uniform([], seed + 2) < 0.5
        image = tf.cond(mirror, lambda: tf.reverse(image, [1]), lambda: image)
        mask = tf.cond(mirror, lambda: tf.reverse(mask, [1]), lambda: mask)
    return image, mask


def make_dataset(
    records: Sequence[SegmentationRecord],
    config: Any,
    palette: Sequence[Sequence[int]],
    training: bool,
    batch_size: int,
    input_context: Any = None,
) -> tf.data.Dataset:
    """Endless batches of `(image [B, H, W, 3] float 0..255, mask [B, H, W] int32 ids)` for `fit`.

    Args:
        records: the image/mask pairs.
        config: the `SegmentationConfig` (class names resolved).
        palette: the dataset's palette, for colour masks.
        training: shuffle, augment, and drop the last partial batch.
        batch_size: per-replica batch size.
        input_context: `tf.distribute.InputContext` to shard by (None: no sharding).
    """
    d, a = config.data, config.augment
    num_classes, ignore = len(d.class_names), d.ignore_index
    size = tuple(d.image_size)
    ds = tf.data.Dataset.from_tensor_slices(
        (np.array([r.image_path for r in records]), np.array([r.mask_path for r in records]))
    )
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    palette = [tuple(c) for c in palette]

    def load(image_path, mask_path):
        mask = _read_mask(mask_path, palette, ignore)
        mask = tf.where((mask >= num_classes) & (mask != ignore), ignore, mask)  # unknown ids are void
        return decode_rgb(tf.io.read_file(image_path)), mask

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    if d.cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(d.shuffle_buffer or len(records), seed=d.seed, reshuffle_each_iteration=True)
        seeds = tf.data.Dataset.random(seed=d.seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(lambda pair, seed: (*pair, seed))
    else:
        ds = ds.map(lambda image, mask: (image, mask, tf.zeros([2], tf.int64)))

    def to_example(image, mask, seed):
        if training:
            image, mask = _crop_and_flip(image, mask, a.crop_scale_min, a.flip, seed)
        image = resize_image(image, size)
        mask = tf.image.resize(mask[..., None], size, method="nearest")[..., 0]
        if training:
            image = jitter_colour(image, a.brightness, a.contrast, seed + 3)
        return image, mask

    ds = ds.map(to_example, num_parallel_calls=tf.data.AUTOTUNE)
    # Training: full batches of an endless stream. Validation: batch, then repeat, so each pass of
    # ceil(n / batch) steps sees every example once and every replica gets a batch.
    ds = ds.repeat().batch(batch_size, drop_remainder=True) if training else ds.batch(batch_size).repeat()
    return ds.prefetch(tf.data.AUTOTUNE)
