"""Image-classification data: stratified splits, class weights and the tf.data pipeline."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfapps.apps.config import resolve
from tfapps.apps.errors import DataError
from tfapps.apps.image_classification import TASK
from tfapps.apps.image_classification.data import class_weights, eval_dataset, labelled_splits, make_dataset
from tfapps.pipelines.reader import LabelledFiles, list_labelled_images
from tfapps.pipelines.synthetic import write_shapes_dataset


def config_for(path, **values):
    """The tiny preset on `path`, with dotted overrides, data fields resolved."""
    config = resolve(TASK.config_cls, TASK.presets, preset="tiny", values={"data.train": str(path), **values})
    return TASK.resolve_data(config)


def splits(path, val="", validation_split=0.25, seed=0, class_names=()):
    return labelled_splits(str(path), str(val), validation_split, seed, False, tuple(class_names))


def files_with_counts(counts) -> LabelledFiles:
    labels = [label for label, n in enumerate(counts) for _ in range(n)]
    return LabelledFiles([f"f{i}.png" for i in range(len(labels))], labels, tuple("abcdefg"[: len(counts)]))


@pytest.fixture(scope="module")
def shapes10(tmp_path_factory) -> Path:
    """4 classes × 10 images, 24 px: big enough to split, small enough to be quick."""
    return write_shapes_dataset(tmp_path_factory.mktemp("shapes10"), images_per_class=10, size=24, seed=3)


# --- splits -----------------------------------------------------------------------------------


def test_stratified_split_keeps_every_class_on_both_sides(shapes10):
    train, val = splits(shapes10, validation_split=0.25)
    everything = list_labelled_images(shapes10)
    assert set(train.paths).isdisjoint(val.paths)
    assert sorted(train.paths + val.paths) == sorted(everything.paths)
    # round(10 × 0.25) = 2 or 3 per class (banker's rounding gives 2); never zero on either side.
    assert set(val.counts().values()) == {2}
    assert set(train.counts().values()) == {8}
    for part in (train, val):
        assert part.class_names == everything.class_names
        for path, label in zip(part.paths, part.labels, strict=True):
            assert Path(path).parent.name == part.class_names[label]


def test_tiny_fraction_still_puts_one_of_each_class_in_val(shapes10):
    train, val = splits(shapes10, validation_split=0.01)
    assert set(val.counts().values()) == {1}
    assert set(train.counts().values()) == {9}


def test_stratified_split_is_deterministic_with_the_seed(shapes10):
    first = splits(shapes10, seed=7)[1].paths
    labelled_splits.cache_clear()  # recompute instead of returning the cached lists
    again = splits(shapes10, seed=7)[1].paths
    other = splits(shapes10, seed=8)[1].paths
    assert first == again
    assert set(first) != set(other)


def test_single_image_class_stays_in_training(tmp_path):
    root = write_shapes_dataset(tmp_path, images_per_class=6, size=16, classes=("circle", "square"))
    for extra in sorted((root / "square").iterdir())[1:]:
        extra.unlink()
    train, val = splits(root, validation_split=0.5)
    assert train.counts() == {"circle": 3, "square": 1}
    assert val.counts() == {"circle": 3, "square": 0}


def test_no_split_when_fraction_is_zero(shapes10):
    train, val = splits(shapes10, validation_split=0.0)
    assert val is None
    assert len(train.paths) == 40


def test_explicit_val_uses_training_class_order(tmp_path, shapes10):
    val_root = write_shapes_dataset(
        tmp_path / "val", images_per_class=2, size=16, classes=("square", "circle")
    )
    train, val = splits(shapes10, val=val_root)
    assert len(train.paths) == 40  # nothing held out when val is given
    assert val.class_names == train.class_names == ("circle", "cross", "square", "triangle")
    assert val.counts() == {"circle": 2, "cross": 0, "square": 2, "triangle": 0}


def test_explicit_val_with_unknown_class_is_an_error(tmp_path):
    train_root = write_shapes_dataset(
        tmp_path / "t", images_per_class=2, size=16, classes=("circle", "square")
    )
    val_root = write_shapes_dataset(tmp_path / "v", images_per_class=2, size=16, classes=("circle", "cross"))
    with pytest.raises(DataError, match="cross"):
        splits(train_root, val=val_root)


def test_split_layout_is_used_as_given(tmp_path):
    write_shapes_dataset(tmp_path / "train", images_per_class=4, size=16, classes=("circle", "square"))
    write_shapes_dataset(tmp_path / "val", images_per_class=1, size=16, classes=("circle", "square"))
    write_shapes_dataset(tmp_path / "test", images_per_class=3, size=16, classes=("circle", "square"))
    train, val = splits(tmp_path, validation_split=0.5)
    assert all(Path(p).parts[-3] == "train" for p in train.paths)
    assert all(Path(p).parts[-3] == "val" for p in val.paths)
    assert train.counts() == {"circle": 4, "square": 4}
    assert val.counts() == {"circle": 1, "square": 1}


# --- class weights ----------------------------------------------------------------------------


def test_balanced_weights_are_inverse_frequency():
    weights = class_weights(files_with_counts([6, 2, 2]), "balanced")
    # n / (k × count): 10 / 18, 10 / 6, 10 / 6
    np.testing.assert_allclose(weights, [10 / 18, 10 / 6, 10 / 6], rtol=1e-6)
    assert weights.dtype == np.float32
    # Weighted, every class contributes the same total: count × weight = n / k.
    np.testing.assert_allclose(np.array([6, 2, 2]) * weights, [10 / 3] * 3, rtol=1e-6)


def test_balanced_weights_of_a_balanced_set_are_one():
    np.testing.assert_allclose(class_weights(files_with_counts([4, 4, 4]), "balanced"), [1, 1, 1])


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([6, 3], [9 / 12, 9 / 6]),  # exactly 2× imbalance → weighted
        ([5, 3], None),  # 1.67× → not worth it
        ([4, 4], None),
    ],
)
def test_auto_weights_only_at_twofold_imbalance(counts, expected):
    weights = class_weights(files_with_counts(counts), "auto")
    if expected is None:
        assert weights is None
    else:
        np.testing.assert_allclose(weights, expected, rtol=1e-6)


def test_no_weights_when_disabled_or_a_class_is_missing():
    assert class_weights(files_with_counts([10, 1]), "none") is None
    assert class_weights(files_with_counts([5, 0, 5]), "balanced") is None


# --- make_dataset -----------------------------------------------------------------------------


def first_batches(dataset, n=1):
    return [tuple(t.numpy() for t in batch) for batch in dataset.take(n)]


def test_training_batches_have_the_right_shapes_and_dtypes(shapes10):
    config = config_for(shapes10)
    train, _ = splits(shapes10, validation_split=0.0)
    dataset = make_dataset(train, config, training=True, batch_size=8)
    images_spec, labels_spec = dataset.element_spec
    assert images_spec.shape.as_list() == [8, 32, 32, 3]  # drop_remainder: static batch for fit
    assert images_spec.dtype == tf.float32
    assert labels_spec.shape.as_list() == [8, 4]
    ((images, labels),) = first_batches(dataset)
    assert images.min() >= 0.0 and images.max() <= 255.0 and images.max() > 1.0  # 0..255, not 0..1
    assert labels.dtype == np.float32
    np.testing.assert_array_equal(labels.sum(axis=1), np.ones(8))
    assert set(np.unique(labels)) <= {0.0, 1.0}


def test_eval_batches_follow_the_file_order(shapes10):
    config = config_for(shapes10)
    files, _ = splits(shapes10, validation_split=0.0)
    dataset = make_dataset(files, config, training=False, batch_size=16)
    assert dataset.element_spec[0].shape.as_list() == [None, 32, 32, 3]
    # Unshuffled, batched then repeated: each pass of ceil(40 / 16) = 3 batches is exactly the 40
    # files in order (the last batch partial), and the next pass starts again at the first file.
    batches = first_batches(dataset, 4)
    assert [len(b[1]) for b in batches] == [16, 16, 8, 16]
    labels = np.concatenate([b[1] for b in batches])
    np.testing.assert_array_equal(labels, np.eye(4)[files.labels + files.labels[:16]])


def test_weighted_dataset_yields_sample_weights(shapes10):
    config = config_for(shapes10)
    files, _ = splits(shapes10, validation_split=0.0)
    weights = np.array([0.5, 1.0, 2.0, 4.0], np.float32)
    dataset = make_dataset(files, config, training=True, batch_size=8, weights=weights)
    assert len(dataset.element_spec) == 3
    for _images, labels, sample_weights in first_batches(dataset, 3):
        assert sample_weights.shape == (8,)
        np.testing.assert_array_equal(sample_weights, weights[labels.argmax(axis=1)])


def test_class_weights_from_config_reach_the_training_data(tmp_path):
    root = write_shapes_dataset(tmp_path / "d", images_per_class=6, size=16, classes=("circle", "square"))
    for extra in sorted((root / "square").iterdir())[2:]:
        extra.unlink()  # 6 circles, 2 squares: 3× imbalance → auto weights
    config = config_for(root, **{"data.validation_split": 0.0})
    datasets = TASK.make_datasets(config)
    (_, labels, weights), *_ = first_batches(datasets.train)
    expected = np.where(labels.argmax(axis=1) == 0, 8 / 12, 8 / 4)
    np.testing.assert_allclose(weights, expected, rtol=1e-6)


@pytest.mark.parametrize("mix", ["mixup", "cutmix"])
def test_same_seed_gives_the_same_first_batches(shapes10, mix):
    # Every random stage at once: shuffle, flip, crop, rotation, contrast and batch mixing.
    values = {
        "augment.flip": True,
        "augment.crop_padding": 4,
        "augment.rotation": 0.05,
        "augment.contrast": 0.2,
        "augment.mix": mix,
        "augment.mix_alpha": 1.0,
    }
    config = config_for(shapes10, **values)
    files, _ = splits(shapes10, validation_split=0.0)
    first = first_batches(make_dataset(files, config, training=True, batch_size=8), 3)
    again = first_batches(make_dataset(files, config, training=True, batch_size=8), 3)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    other = first_batches(make_dataset(files, config_for(shapes10, **values, **{"data.seed": 5}), True, 8), 1)
    assert not np.array_equal(first[0][0], other[0][0])


@pytest.mark.parametrize("mix", ["mixup", "cutmix"])
def test_mixed_label_rows_sum_to_one(shapes10, mix):
    config = config_for(shapes10, **{"augment.mix": mix, "augment.mix_alpha": 1.0})
    files, _ = splits(shapes10, validation_split=0.0)
    batches = first_batches(make_dataset(files, config, training=True, batch_size=8), 4)
    labels = np.concatenate([b[1] for b in batches])
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, rtol=1e-5)
    assert labels.min() >= 0.0
    assert ((labels > 0) & (labels < 1)).any()  # some rows really are mixed


def test_images_of_different_sizes_are_resized(tmp_path):
    rng = np.random.default_rng(0)
    sizes = [(9, 9), (50, 20), (33, 80), (32, 32), (100, 100), (17, 64)]
    for i, (h, w) in enumerate(sizes):
        for name, ext in (("a", "png"), ("b", "jpg")):
            folder = tmp_path / "d" / name
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"{i}.{ext}")
    config = config_for(tmp_path / "d", **{"data.image_size": [24, 40]})
    files, _ = splits(tmp_path / "d", validation_split=0.0)
    ((images, labels),) = first_batches(make_dataset(files, config, training=False, batch_size=12))
    assert images.shape == (12, 24, 40, 3)
    assert labels.shape == (12, 2)


def test_grayscale_set_gives_one_channel_batches(tmp_path):
    root = write_shapes_dataset(
        tmp_path, images_per_class=4, size=16, classes=("circle", "cross"), grayscale=True
    )
    config = config_for(root)
    assert config.data.color_mode == "grayscale"
    files, _ = splits(root, validation_split=0.0)
    ((images, _),) = first_batches(make_dataset(files, config, training=True, batch_size=4))
    assert images.shape == (4, 32, 32, 1)


def test_input_context_shards_the_files(shapes10):
    config = config_for(shapes10, **{"data.cache": False})
    files, _ = splits(shapes10, validation_split=0.0)
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline)
        ((_, labels),) = first_batches(
            make_dataset(files, config, False, batch_size=20, input_context=context)
        )
        seen.append(labels.argmax(axis=1))
    # Each pipeline reads every other file, so each sees half of every class.
    for labels in seen:
        assert Counter(labels.tolist()) == {0: 5, 1: 5, 2: 5, 3: 5}
    np.testing.assert_array_equal(seen[0], np.asarray(files.labels[0::2]))
    np.testing.assert_array_equal(seen[1], np.asarray(files.labels[1::2]))


def test_eval_dataset_yields_every_image_once_in_order(shapes10):
    config = config_for(shapes10)
    files, _ = splits(shapes10, validation_split=0.0)
    images = np.concatenate(list(eval_dataset(files, config, batch_size=16).as_numpy_iterator()))
    assert images.shape == (40, 32, 32, 3)
    reference = np.concatenate([b[0] for b in first_batches(make_dataset(files, config, False, 40))])
    np.testing.assert_array_equal(images, reference)


def test_eval_dataset_without_files_is_an_error(shapes10):
    config = config_for(shapes10)
    with pytest.raises(DataError, match="No images to evaluate"):
        eval_dataset(LabelledFiles([], [], ("a", "b")), config)
