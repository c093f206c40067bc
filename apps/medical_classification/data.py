"""Medical classification data: DICOM/PNG/JPEG/NIfTI files or MedMNIST arrays → tf.data batches.

Every example is read once (`pipelines.medical_data`), resized and normalised with
`preprocess` — the same function the serving signatures run in the graph — and kept in memory
(medical classification sets are small: MedNIST at 64×64 is 24 MB, AdrenalMNIST3D at 28³ 110 MB).
Augmentation (flips, shifts, in-plane quarter turns, contrast/brightness) then runs on the
normalised arrays in tf.data.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from tfapps.models.preprocessing.intensity import normalise_medical, resize_spatial
from tfapps.pipelines.medical_data import (
    MedicalClassificationDataset,
    load_example,
    read_classification_dataset,
)
from tfapps.pipelines.medical_io import read_medical_file
from tfapps.pipelines.reader import find_split

__all__ = [
    "LoadedSplit",
    "class_weights",
    "eval_split",
    "load_split",
    "make_dataset",
    "preprocess",
    "read_dataset",
    "train_val_splits",
]

logger = logging.getLogger(__name__)


def preprocess(images: tf.Tensor, config: Any) -> tf.Tensor:
    """Resize `[B, *spatial, 1]` images in physical units to `data.image_size`, clip to the
    window and normalise (`data.intensity`); the training data and the served graph both run it."""
    d = config.data
    x = resize_spatial(tf.cast(images, tf.float32), d.image_size)
    return normalise_medical(x, d.intensity, tuple(d.window), d.intensity_offset, d.intensity_scale)


class LoadedSplit(NamedTuple):
    """One split in memory: `images` float32 `[N, *spatial, 1]` in physical units at the model's
    size, `labels` int32 `[N]`, the file path of each example ("" for array rows) and the
    windows found in DICOM files."""

    images: np.ndarray
    labels: np.ndarray
    paths: tuple[str, ...]
    windows: Counter


def read_dataset(path: str, split: str, class_names=()) -> MedicalClassificationDataset:
    """Read one dataset (its `split` sub-folder when `path` is a split layout; the reader logs its report)."""
    root = find_split(path, split) or path
    return read_classification_dataset(str(root), split=split, class_names=list(class_names) or None)


def _stratified(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices `(kept, held_out)`: `fraction` of every class held out (at least one where a class
    has two or more examples), chosen by `seed`."""
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = min(max(round(fraction * len(members)), 1), len(members) - 1)
        held += rng.permutation(members)[:count].tolist()
    held_mask = np.zeros(len(labels), bool)
    held_mask[held] = True
    return np.flatnonzero(~held_mask), np.flatnonzero(held_mask)


@functools.lru_cache(maxsize=4)
def _load(path: str, split: str, class_names: tuple[str, ...], size: tuple[int, ...]) -> LoadedSplit:
    # Cached: resolve_data, make_datasets and evaluate read the same split in one process.
    dataset = read_dataset(path, split, class_names)
    windows: Counter = Counter()
    images = []
    for record in dataset.records:
        if record.path and dataset.arrays is None:
            image = read_medical_file(record.path)
            array = image.array
            if image.window is not None:
                windows[tuple(float(v) for v in image.window)] += 1
        else:
            array = load_example(dataset, record)
        array = np.asarray(array, np.float32)
        if size and tuple(array.shape) != size:
            array = resize_spatial(tf.constant(array[None, ..., None]), size).numpy()[0, ..., 0]
        images.append(array)
    shapes = {a.shape for a in images}
    if len(shapes) > 1:
        from tfapps.apps.errors import DataError

        raise DataError(
            "The examples have different sizes; set data.image_size to the size the model should see. "
            f"Received: sizes={sorted(shapes)[:4]}, data.image_size={list(size)}"
        )
    return LoadedSplit(
        images=np.stack(images)[..., None],
        labels=np.array([r.label for r in dataset.records], np.int32),
        paths=tuple(r.path for r in dataset.records),
        windows=windows,
    )


def load_split(path: str, split: str, config: Any) -> LoadedSplit:
    """The examples of one dataset split, at `data.image_size` (their own size when empty)."""
    return _load(path, split, tuple(config.data.class_names), tuple(config.data.image_size))


def train_val_splits(config: Any) -> tuple[LoadedSplit, LoadedSplit | None]:
    """The training split and the validation split: `data.val`, a `val/` split beside `train/`,
    or a seeded, per-class `validation_split` of the training examples."""
    d = config.data
    train = load_split(d.train, "train", config)
    val_path = d.val or (str(find_split(d.train, "val")) if find_split(d.train, "val") else "")
    if val_path:
        return train, load_split(val_path, "val", config)
    if d.validation_split <= 0 or len(train.labels) < 2:
        return train, None
    kept, held = _stratified(train.labels, d.validation_split, d.seed)

    def take(indices):
        return LoadedSplit(
            train.images[indices],
            train.labels[indices],
            tuple(train.paths[i] for i in indices),
            train.windows,
        )

    return take(kept), take(held)


def eval_split(path: str, config: Any) -> LoadedSplit:
    """The evaluation examples: the `test` split of a split layout or of a MedMNIST file, else all."""
    return load_split(path, "test", config)


def class_weights(labels: np.ndarray, num_classes: int, mode: str) -> np.ndarray | None:
    """Per-class loss weights `n / (k * count_c)`, or None when not wanted (`auto`: imbalance ≥ 2×)."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    if mode == "none" or counts.min() == 0 or (mode == "auto" and counts.max() < 2 * counts.min()):
        return None
    weights = counts.sum() / (num_classes * counts)
    logger.info("Class weights: %s", np.round(weights, 3).tolist())
    return weights.astype(np.float32)


def _augment(image: tf.Tensor, seed: tf.Tensor, config: Any) -> tf.Tensor:
    """Random flips, shift, quarter turns and intensity change of one normalised `[*spatial, 1]`."""
    a = config.augment
    dims = len(config.data.image_size)
    for i, axis in enumerate(a.flip_axes):
        flip = tf.random.stateless_uniform([], seed + i) < 0.5
        image = tf.cond(
            flip, functools.partial(tf.reverse, image, [axis]), functools.partial(tf.identity, image)
        )
    if a.shift > 0:
        sides = list(config.data.image_size)
        pads = [int(round(a.shift * s)) for s in sides]
        padded = tf.pad(image, [[p, p] for p in pads] + [[0, 0]])
        offsets = tf.random.stateless_uniform([dims], seed + 10, 0, 1) * (
            2 * tf.constant(pads, tf.float32) + 1
        )
        begin = tf.concat([tf.cast(offsets, tf.int32), [0]], 0)
        image = tf.slice(padded, begin, [*sides, 1])
    if a.rotate90 and config.data.image_size[-1] == config.data.image_size[-2]:
        turns = tf.random.stateless_uniform([], seed + 20, 0, 4, dtype=tf.int32)
        perm = [*range(dims - 2), dims - 1, dims - 2, dims]

        def turn(x):  # one quarter turn in the last two spatial axes
            return tf.reverse(tf.transpose(x, perm), [dims - 1])

        for k in range(1, 4):
            image = tf.cond(turns >= k, functools.partial(turn, image), functools.partial(tf.identity, image))
    if a.intensity_scale > 0 or a.intensity_shift > 0:
        scale = 1.0 + tf.random.stateless_uniform([], seed + 30, -a.intensity_scale, a.intensity_scale)
        shift = tf.random.stateless_uniform([], seed + 31, -a.intensity_shift, a.intensity_shift)
        image = image * scale + shift
    return image


def make_dataset(
    split: LoadedSplit,
    config: Any,
    training: bool,
    batch_size: int,
    input_context: Any = None,
    weights: np.ndarray | None = None,
) -> tf.data.Dataset:
    """A repeated, batched dataset of `(images, one_hot_labels[, sample_weights])` for `fit`.

    Images are preprocessed once (`preprocess`), then augmented per epoch when `training`.
    """
    num_classes = len(config.data.class_names)
    images = np.concatenate(
        [
            preprocess(tf.constant(split.images[i : i + 256]), config).numpy()
            for i in range(0, len(split.images), 256)
        ]
    )
    ds = tf.data.Dataset.from_tensor_slices((images, split.labels))
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if training:
        ds = ds.shuffle(
            config.data.shuffle_buffer or len(images), seed=config.data.seed, reshuffle_each_iteration=True
        )
        seeds = tf.data.Dataset.random(seed=config.data.seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(
            lambda pair, seed: (_augment(pair[0], seed, config), pair[1]), num_parallel_calls=tf.data.AUTOTUNE
        )

    def to_example(image, label):
        onehot = tf.one_hot(label, num_classes)
        if weights is None:
            return image, onehot
        return image, onehot, tf.gather(tf.constant(weights), label)

    ds = ds.map(to_example, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.repeat().batch(batch_size, drop_remainder=True) if training else ds.batch(batch_size).repeat()
    return ds.prefetch(tf.data.AUTOTUNE)
