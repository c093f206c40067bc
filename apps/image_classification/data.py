"""tf.data pipelines for image classification: split, shard, decode, cache, shuffle, batch, augment."""

from __future__ import annotations

import functools
import logging
from collections import Counter

import numpy as np
import tensorflow as tf

from tfapps.apps.errors import DataError
from tfapps.models.preprocessing.augment import image_augmenter, mix_batch
from tfapps.models.preprocessing.image import DecodeImage
from tfapps.pipelines.reader import LabelledFiles, find_split, list_labelled_images

__all__ = ["class_weights", "eval_dataset", "labelled_splits", "make_dataset"]

logger = logging.getLogger(__name__)
AUTOTUNE = tf.data.AUTOTUNE


def _stratified_split(
    files: LabelledFiles, fraction: float, seed: int
) -> tuple[LabelledFiles, LabelledFiles]:
    rng = np.random.default_rng(seed)
    labels = np.asarray(files.labels)
    val_index = []
    for label in range(len(files.class_names)):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        take = int(round(len(members) * fraction))
        if fraction > 0 and len(members) > 1:
            take = min(max(take, 1), len(members) - 1)  # keep every class on both sides
        val_index.extend(members[:take].tolist())
    is_val = np.zeros(len(labels), bool)
    is_val[val_index] = True

    def subset(mask):
        keep = np.flatnonzero(mask)
        return LabelledFiles(
            [files.paths[i] for i in keep],
            [files.labels[i] for i in keep],
            files.class_names,
            files.skipped,
            files.channels,
        )

    return subset(~is_val), subset(is_val)


@functools.lru_cache(maxsize=8)
def labelled_splits(
    train: str, val: str, validation_split: float, seed: int, skip_corrupt: bool, class_names: tuple[str, ...]
) -> tuple[LabelledFiles, LabelledFiles | None]:
    """List, check and split the training and validation files (cached: the scan decodes every file).

    A folder with `train/` and `val/` (or `validation/`) sub-folders is used as given; a folder of
    class folders or a CSV is split per class with `validation_split` unless `val` is given.
    """
    train_root = find_split(train, "train") or train
    split_val = find_split(train, "val")
    train_files = list_labelled_images(train_root, class_names, skip_corrupt)
    if val or split_val:
        val_files = list_labelled_images(val or split_val, train_files.class_names, skip_corrupt)
        return train_files, val_files
    if validation_split <= 0:
        return train_files, None
    train_part, val_part = _stratified_split(train_files, validation_split, seed)
    return train_part, (val_part if val_part.paths else None)


def class_weights(files: LabelledFiles, mode: str) -> np.ndarray | None:
    """Per-class loss weights `n / (k * count_c)`, or None when not wanted (`auto`: imbalance ≥ 2×)."""
    counts = np.array([Counter(files.labels).get(i, 0) for i in range(len(files.class_names))], np.float64)
    if mode == "none" or counts.min() == 0:
        return None
    if mode == "auto" and counts.max() < 2 * counts.min():
        return None
    weights = counts.sum() / (len(counts) * counts)
    logger.info("Class weights: %s", dict(zip(files.class_names, np.round(weights, 3).tolist(), strict=True)))
    return weights.astype(np.float32)


def _decoded(files: LabelledFiles, config, input_context=None) -> tf.data.Dataset:
    decoder = DecodeImage(config.data.image_size, channels=1 if config.data.color_mode == "grayscale" else 3)
    dataset = tf.data.Dataset.from_tensor_slices((files.paths, np.asarray(files.labels, np.int32)))
    if input_context is not None and input_context.num_input_pipelines > 1:
        dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    return dataset.map(
        lambda path, label: (decoder.decode_one(tf.io.read_file(path)), label), num_parallel_calls=AUTOTUNE
    )


def make_dataset(
    files: LabelledFiles,
    config,
    training: bool,
    batch_size: int,
    input_context=None,
    weights: np.ndarray | None = None,
) -> tf.data.Dataset:
    """A repeated, batched dataset of `(images, one_hot_labels[, sample_weights])` for `fit`.

    Args:
        files: the files of this split.
        config: the image-classification config (data fields resolved).
        training: shuffle, augment and drop the last partial batch.
        batch_size: per-replica batch size.
        input_context: `tf.distribute.InputContext`; the files are sharded by input pipeline.
        weights: per-class sample weights, or None.
    """
    num_classes = len(config.data.class_names)
    dataset = _decoded(files, config, input_context)
    if config.data.cache:
        dataset = dataset.cache()
    if training:
        buffer = config.data.shuffle_buffer or len(files.paths)
        dataset = dataset.shuffle(buffer, seed=config.data.seed, reshuffle_each_iteration=True)
    if training:
        dataset = dataset.repeat().batch(batch_size, drop_remainder=True)
    else:
        # Batch, then repeat: each validation pass of ceil(n / batch) steps sees every example
        # exactly once, the same window every epoch.
        dataset = dataset.batch(batch_size).repeat()
    augment = config.augment
    augmenter = (
        image_augmenter(
            config.data.image_size,
            flip=augment.flip,
            crop_padding=augment.crop_padding,
            rotation=augment.rotation,
            contrast=augment.contrast,
            seed=config.data.seed,
        )
        if training
        else None
    )
    class_weight_table = tf.constant(weights) if weights is not None else None
    # Each batch's random draws are keyed by (seed, input pipeline, batch index): reproducible, and
    # independent of which thread of the parallel map runs it.
    pipeline_id = input_context.input_pipeline_id if input_context is not None else 0
    base_seed = tf.constant(config.data.seed + 1_000_003 * pipeline_id, tf.int64)

    def finish(index, batch):
        images, labels = batch
        seed = tf.stack([base_seed, index])
        one_hot = tf.one_hot(labels, num_classes)
        if augmenter is not None:
            images = augmenter(images, seed=seed)
        if training and augment.mix != "none":
            images, one_hot = mix_batch(
                images, one_hot, mode=augment.mix, alpha=augment.mix_alpha, seed=seed + 1
            )
        if class_weight_table is not None:
            return images, one_hot, tf.gather(class_weight_table, labels)
        return images, one_hot

    options = tf.data.Options()
    options.deterministic = True
    dataset = dataset.enumerate().map(finish, num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE).with_options(options)


def eval_dataset(files: LabelledFiles, config, batch_size: int = 64) -> tf.data.Dataset:
    """Every file once, in order, as batches of images (labels are read from `files`)."""
    if not files.paths:
        raise DataError(f"No images to evaluate. Received: files={len(files.paths)}")
    return _decoded(files, config).map(lambda image, label: image).batch(batch_size).prefetch(AUTOTUNE)
