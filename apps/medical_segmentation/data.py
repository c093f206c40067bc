"""Medical segmentation data: NIfTI cases → normalised volumes in memory → random 3D patches.

Cases are read once (`pipelines.medical_data`), their labels merged into classes
(`data.label_groups`), normalised with `normalise_intensity` — the function the served graph
runs — and cropped to the box of nonzero image voxels (air and padding teach nothing). Training
patches are drawn anew every epoch, `data.foreground_fraction` of them centred on a foreground
voxel; flips and intensity changes follow in tf.data. Validation patches are drawn once.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from tfapps.models.volumes import normalise_intensity, random_flip_3d, random_intensity
from tfapps.pipelines.medical_data import VolumeDataset, load_case, read_segmentation_volumes
from tfapps.pipelines.reader import find_split
from tfapps.pipelines.splits import train_and_validation

__all__ = [
    "Case",
    "class_ids",
    "load_cases",
    "make_dataset",
    "normalise",
    "read_volumes",
    "train_val_cases",
]

logger = logging.getLogger(__name__)

# Foreground voxels kept per case for centring patches (a random subset: enough to cover a tumour).
_MAX_FOREGROUND_SAMPLES = 50_000


class Case(NamedTuple):
    """One case in memory: `image` float32 `[D, H, W, C]` (normalised), `label` int32 `[D, H, W]`
    class ids, the voxel spacing and affine of the image file, and its id."""

    case_id: str
    image: np.ndarray
    label: np.ndarray
    spacing: tuple[float, ...]
    affine: np.ndarray


def read_volumes(path: str, split: str) -> VolumeDataset:
    """Read one dataset (its `split` sub-folder when `path` is a split layout; the reader logs its report)."""
    root = find_split(path, split) or path
    return read_segmentation_volumes(str(root), split=split)


def class_ids(label: np.ndarray, label_groups) -> np.ndarray:
    """Label values → class ids: group `i` becomes class `i + 1`, other values 0; without groups
    the values themselves."""
    values = np.rint(label).astype(np.int32)
    if not label_groups:
        return values
    ids = np.zeros_like(values)
    for i, group in enumerate(label_groups):
        ids[np.isin(values, list(group))] = i + 1
    return ids


def normalise(image: np.ndarray | tf.Tensor, config: Any) -> tf.Tensor:
    """`[B, D, H, W, C]` volumes in physical units → the network's input (`data.intensity`)."""
    return normalise_intensity(tf.cast(image, tf.float32), mode=config.data.intensity)


def _spacing(affine: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in np.linalg.norm(np.asarray(affine)[:3, :3], axis=0))


@functools.lru_cache(maxsize=2)
def _load(path: str, split: str, label_groups: tuple, intensity: str) -> tuple[Case, ...]:
    # Cached: resolve_data, make_datasets and evaluate read the same cases in one process.
    dataset = read_volumes(path, split)
    cases = []
    for record in dataset.records:
        image, label, affine = load_case(record)
        image = normalise_intensity(tf.constant(image[None], tf.float32), mode=intensity).numpy()[0]
        cases.append(Case(record.case_id, image, class_ids(label, label_groups), _spacing(affine), affine))
    return tuple(cases)


def load_cases(path: str, split: str, config: Any) -> tuple[Case, ...]:
    """Every case of one dataset split, normalised, with class-id labels."""
    d = config.data
    return _load(path, split, tuple(tuple(g) for g in d.label_groups), d.intensity)


def train_val_cases(config: Any) -> tuple[tuple[Case, ...], tuple[Case, ...]]:
    """Training cases and validation cases (`data.val`, a `val/` split beside `train/`, or a seeded
    `validation_split` of the training cases)."""
    d = config.data
    train = load_cases(d.train, "train", config)
    val_path = d.val or (str(find_split(d.train, "val")) if find_split(d.train, "val") else "")
    if val_path:
        return train, load_cases(val_path, "val", config)
    fraction = d.validation_split if len(train) > 1 else 0.0
    kept, held = train_and_validation(list(train), None, fraction, d.seed, key=lambda case: case.case_id)
    return tuple(kept), tuple(held)


def _cropped(case: Case, patch: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The case cropped to its nonzero image box, zero-padded to at least one patch per side."""
    nonzero = np.argwhere(np.any(case.image != 0, axis=-1))
    image, label = case.image, case.label
    if len(nonzero):
        low, high = nonzero.min(axis=0), nonzero.max(axis=0) + 1
        box = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
        image, label = image[box], label[box]
    pads = [max(0, p - s) for p, s in zip(patch, label.shape, strict=True)]
    if any(pads):
        widths = [(p // 2, p - p // 2) for p in pads]
        image = np.pad(image, [*widths, (0, 0)])
        label = np.pad(label, widths)
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


class PatchSampler:
    """Random patches `(image [p, p, p, C], label [p, p, p])` from in-memory cases.

    Args:
        cases: the cases.
        patch: patch size `(d, h, w)`.
        foreground_fraction: share of patches centred on a random foreground voxel.
        seed: the sampler's seed; the sequence of patches is a function of it.
    """

    def __init__(self, cases, patch, foreground_fraction: float, seed: int):
        self.patch = tuple(int(p) for p in patch)
        self.volumes = [_cropped(c, self.patch) for c in cases]
        self.foreground_fraction = foreground_fraction
        self.rng = np.random.default_rng(seed)
        self.foreground = []
        for _, label in self.volumes:
            voxels = np.argwhere(label > 0)
            if len(voxels) > _MAX_FOREGROUND_SAMPLES:
                voxels = voxels[self.rng.choice(len(voxels), _MAX_FOREGROUND_SAMPLES, replace=False)]
            self.foreground.append(voxels)

    def sample(self, case_index: int) -> tuple[np.ndarray, np.ndarray]:
        """One patch of case `case_index`."""
        image, label = self.volumes[case_index]
        shape = np.array(label.shape)
        size = np.array(self.patch)
        voxels = self.foreground[case_index]
        if len(voxels) and self.rng.random() < self.foreground_fraction:
            centre = voxels[self.rng.integers(len(voxels))]
            start = centre - size // 2 + self.rng.integers(-(size // 4), size // 4 + 1)
        else:
            start = self.rng.integers(0, shape - size + 1)
        start = np.clip(start, 0, shape - size)
        box = tuple(slice(int(a), int(a + p)) for a, p in zip(start, size, strict=True))
        return image[box], label[box]

    def epoch(self, per_case: int):
        """`per_case` patches of every case, cases in a random order."""
        order = np.repeat(np.arange(len(self.volumes)), per_case)
        for index in self.rng.permutation(order):
            yield self.sample(int(index))


def _augment(image, label, seed, config):
    a = config.augment
    if a.flip:
        image, label = random_flip_3d(image, label, seed)
    if a.intensity_scale > 0 or a.intensity_shift > 0:
        image = random_intensity(image, seed + 1, scale=a.intensity_scale, shift=a.intensity_shift)
    return image, label


def make_dataset(
    cases,
    config: Any,
    training: bool,
    batch_size: int,
    input_context: Any = None,
) -> tuple[tf.data.Dataset, int]:
    """Endless batches of `(patches [B, d, h, w, C], labels [B, d, h, w])` and the number of
    patches per epoch.

    Training patches are new every epoch (a sampler per input pipeline, seeded from `data.seed`
    and the pipeline id); validation patches are drawn once from `data.seed`.
    """
    d = config.data
    patch = tuple(d.patch_size)
    channels = cases[0].image.shape[-1]
    signature = (
        tf.TensorSpec([*patch, channels], tf.float32),
        tf.TensorSpec(patch, tf.int32),
    )
    pipeline = input_context.input_pipeline_id if input_context else 0
    if training:
        sampler = PatchSampler(cases, patch, d.foreground_fraction, d.seed + 1000 * pipeline)
        count = d.patches_per_case * len(cases)
        ds = tf.data.Dataset.from_generator(
            lambda: sampler.epoch(d.patches_per_case), output_signature=signature
        )
        seeds = tf.data.Dataset.random(seed=d.seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds.repeat(), seeds).map(
            lambda pair, seed: _augment(*pair, seed, config), num_parallel_calls=tf.data.AUTOTUNE
        )
        return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE), count
    sampler = PatchSampler(cases, patch, d.foreground_fraction, d.seed + 1)
    images, labels = zip(*sampler.epoch(d.val_patches_per_case), strict=True)
    ds = tf.data.Dataset.from_tensor_slices((np.stack(images), np.stack(labels)))
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    return ds.batch(batch_size).repeat().prefetch(tf.data.AUTOTUNE), len(images)
