"""The image-classification task: data resolution, model, serving signature and evaluation."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfapps.apps.config import resolve
from tfapps.apps.errors import ConfigError
from tfapps.apps.image_classification import TASK
from tfapps.apps.image_classification.data import eval_dataset, labelled_splits
from tfapps.models.preprocessing.image import DecodeImage
from tfapps.pipelines.reader import list_labelled_images
from tfapps.pipelines.synthetic import write_shapes_dataset

SHAPE_CLASSES = ("circle", "cross", "square", "triangle")  # sorted: the label order


def config_for(path, **values):
    config = resolve(TASK.config_cls, TASK.presets, preset="tiny", values={"data.train": str(path), **values})
    return TASK.resolve_data(config)


def encode(pixels: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def colour_model(config) -> keras.Model:
    """A fixed (untrained) classifier whose prediction depends on each image's mean colour."""
    channels = 1 if config.data.color_mode == "grayscale" else 3
    inputs = keras.Input((*config.data.image_size, channels))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.layers.Dense(len(config.data.class_names))
    logits = dense(pooled)
    rng = np.random.default_rng(0)
    dense.set_weights(
        [
            rng.normal(0, 0.2, (channels, len(config.data.class_names))).astype("float32"),
            np.zeros(4, "float32"),
        ]
    )
    return keras.Model(inputs, logits)


@pytest.fixture(scope="module")
def config(shapes_dir):
    return config_for(shapes_dir)


@pytest.fixture(scope="module")
def model(config):
    keras.utils.set_random_seed(0)
    return TASK.build_model(config)


# --- resolve_data and build_model -------------------------------------------------------------


def test_resolve_data_fills_class_names_and_colour(config):
    assert config.data.class_names == SHAPE_CLASSES
    assert config.data.color_mode == "rgb"


def test_resolve_data_detects_grayscale(tmp_path):
    root = write_shapes_dataset(
        tmp_path, images_per_class=3, size=16, classes=("circle", "cross"), grayscale=True
    )
    config = config_for(root)
    assert config.data.class_names == ("circle", "cross")
    assert config.data.color_mode == "grayscale"
    assert TASK.build_model(config).input_shape == (None, 32, 32, 1)


def test_resolve_data_keeps_an_explicit_colour_mode(tmp_path):
    root = write_shapes_dataset(
        tmp_path, images_per_class=3, size=16, classes=("circle", "cross"), grayscale=True
    )
    assert config_for(root, **{"data.color_mode": "rgb"}).data.color_mode == "rgb"


def test_resolve_data_keeps_given_class_order(shapes_dir):
    order = ("triangle", "square", "cross", "circle", "hexagon")
    config = config_for(shapes_dir, **{"data.class_names": list(order)})
    assert config.data.class_names == order


def test_build_model_output_shape(model, config):
    assert model.input_shape == (None, 32, 32, 3)
    assert model.output_shape == (None, 4)
    logits = model(np.zeros((3, 32, 32, 3), "float32"), training=False)
    assert logits.shape == (3, 4) and logits.dtype == "float32"


# --- serving signature ------------------------------------------------------------------------


def test_signature_on_real_png_and_jpeg_bytes(shapes_dir, config, model):
    files = sorted(shapes_dir.rglob("*.png"))[:2] + sorted(shapes_dir.rglob("*.jpg"))[:2]
    signature = TASK.signatures(model, config)["serving_default"]
    assert signature.inputs["image_bytes"].shape.as_list() == [None]
    out = signature.fn(image_bytes=tf.constant([f.read_bytes() for f in files]))
    probabilities = out["probabilities"].numpy()
    labels = out["labels"].numpy()
    scores = out["scores"].numpy()
    assert probabilities.shape == (4, 4)
    # top_k=5 is capped at the 4 classes.
    assert labels.shape == scores.shape == (4, 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert {label.decode() for label in labels.ravel()} <= set(SHAPE_CLASSES)
    assert (np.diff(scores, axis=1) <= 0).all()  # best first
    np.testing.assert_allclose(scores, -np.sort(-probabilities, axis=1), rtol=1e-6)
    for row in range(4):
        # Each label's probability is its score (ties aside, the label is the argsort's class).
        indices = [SHAPE_CLASSES.index(label.decode()) for label in labels[row]]
        np.testing.assert_allclose(probabilities[row, indices], scores[row], rtol=1e-6)
        assert len(set(indices)) == 4
    # The probabilities are the model's softmax on the same decoded images.
    decoded = DecodeImage((32, 32), channels=3)(tf.constant([f.read_bytes() for f in files]))
    expected = tf.nn.softmax(model(decoded, training=False)).numpy()
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)


def test_signature_top_k_and_any_format_and_size(shapes_dir):
    config = config_for(shapes_dir, **{"serving.top_k": 2})
    model = colour_model(config)
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, size, dtype=np.uint8) for size in [(10, 50, 3), (64, 64, 3), (33, 7, 3)]]
    payload = [encode(images[0], "BMP"), encode(images[1], "GIF"), encode(images[2], "JPEG")]
    out = TASK.signatures(model, config)["serving_default"].fn(image_bytes=tf.constant(payload))
    assert out["labels"].shape == (3, 2) and out["scores"].shape == (3, 2)
    probabilities = out["probabilities"].numpy()
    expected_labels = np.array(SHAPE_CLASSES)[np.argsort(-probabilities, axis=1)[:, :2]]
    np.testing.assert_array_equal(out["labels"].numpy().astype(str), expected_labels)


def test_signature_traces_with_a_variable_batch(config, model):
    signature = TASK.signatures(model, config)["serving_default"]
    traced = tf.function(signature.fn).get_concrete_function(*signature.concrete_input_signature())
    request = TASK.sample_request(config)["image_bytes"]
    for batch in (1, 2):
        out = traced(tf.constant(list(request[:batch])))
        assert out["probabilities"].shape == (batch, 4)


def test_sample_request_is_decodable_at_the_configured_size(config, tmp_path):
    request = TASK.sample_request(config)
    assert set(request) == {"image_bytes"}
    assert len(request["image_bytes"]) == 2
    for data in request["image_bytes"]:
        image = Image.open(io.BytesIO(data))
        assert image.format == "PNG" and image.size == (32, 32) and image.mode == "RGB"
    gray = config_for(write_shapes_dataset(tmp_path, 2, 16, ("circle", "cross"), grayscale=True))
    assert Image.open(io.BytesIO(TASK.sample_request(gray)["image_bytes"][0])).mode == "L"


def test_serving_preprocessing_equals_the_training_pipeline(shapes_dir, config):
    files = list_labelled_images(shapes_dir)
    pipeline = np.concatenate(list(eval_dataset(files, config, batch_size=16).as_numpy_iterator()))
    layer = DecodeImage(config.data.image_size, channels=3)
    served = layer(tf.constant([Path(p).read_bytes() for p in files.paths])).numpy()
    assert pipeline.shape == served.shape == (48, 32, 32, 3)
    np.testing.assert_array_equal(pipeline, served)
    one = layer.decode_one(tf.constant(Path(files.paths[5]).read_bytes())).numpy()
    np.testing.assert_array_equal(one, served[5])


def test_serving_preprocessing_equals_training_for_grayscale_and_resizing(tmp_path):
    root = write_shapes_dataset(
        tmp_path, 3, 45, ("circle", "cross"), grayscale=True, formats=("png", "bmp", "jpg")
    )
    config = config_for(root, **{"data.image_size": [20, 28]})
    files = list_labelled_images(root)
    pipeline = np.concatenate(list(eval_dataset(files, config).as_numpy_iterator()))
    served = DecodeImage((20, 28), channels=1)(tf.constant([Path(p).read_bytes() for p in files.paths]))
    assert pipeline.shape == (6, 20, 28, 1)
    np.testing.assert_array_equal(pipeline, served.numpy())


# --- evaluate ---------------------------------------------------------------------------------


def test_evaluate_writes_artefacts_and_matches_independent_metrics(shapes_dir, config, tmp_path):
    model = colour_model(config)
    out_dir = tmp_path / "eval"
    metrics = TASK.evaluate(model, config, str(shapes_dir), out_dir)

    # Independent: labels from folder names, predictions from the model on the serving decoder's images.
    paths = sorted(p for p in shapes_dir.rglob("*") if p.is_file())
    truth = np.array([SHAPE_CLASSES.index(p.parent.name) for p in paths])
    images = DecodeImage((32, 32), channels=3)(tf.constant([p.read_bytes() for p in paths]))
    predicted = model.predict(images, verbose=0).argmax(axis=1)
    assert len(set(predicted.tolist())) > 1, "the fixture model should not predict one class for all"
    assert metrics["accuracy"] == pytest.approx(float(np.mean(predicted == truth)))
    assert metrics["examples"] == 48
    assert metrics["skipped"] == 0
    matrix = np.zeros((4, 4), int)
    for t, p in zip(truth, predicted, strict=True):
        matrix[t, p] += 1
    for i, name in enumerate(SHAPE_CLASSES):
        tp, predicted_i, actual_i = matrix[i, i], matrix[:, i].sum(), matrix[i].sum()
        precision = tp / predicted_i if predicted_i else 0.0
        recall = tp / actual_i
        assert metrics[f"precision/{name}"] == pytest.approx(precision)
        assert metrics[f"recall/{name}"] == pytest.approx(recall)

    assert sorted(p.name for p in out_dir.iterdir()) == [
        "confusion_matrix.json",
        "confusion_matrix.png",
        "metrics.json",
        "per_class.csv",
    ]
    assert json.loads((out_dir / "metrics.json").read_text()) == pytest.approx(metrics)
    saved = json.loads((out_dir / "confusion_matrix.json").read_text())
    assert saved["labels"] == list(SHAPE_CLASSES)
    np.testing.assert_array_equal(saved["matrix"], matrix)
    assert (out_dir / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (out_dir / "per_class.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["class"] for r in rows] == list(SHAPE_CLASSES)
    assert [int(r["support"]) for r in rows] == [12, 12, 12, 12]
    assert [float(r["recall"]) for r in rows] == pytest.approx(
        [metrics[f"recall/{c}"] for c in SHAPE_CLASSES]
    )


def test_evaluate_uses_the_test_split_and_training_class_order(tmp_path):
    write_shapes_dataset(tmp_path / "train", 4, 16, ("circle", "cross", "square"), seed=1)
    write_shapes_dataset(tmp_path / "val", 1, 16, ("circle", "cross", "square"), seed=2)
    write_shapes_dataset(tmp_path / "test", 3, 16, ("cross", "square"), seed=3)  # no circles in test
    config = config_for(tmp_path, **{"serving.top_k": 1})
    assert config.data.class_names == ("circle", "cross", "square")
    metrics = TASK.evaluate(TASK.build_model(config), config, str(tmp_path), tmp_path / "eval")
    assert metrics["examples"] == 6
    assert metrics["recall/circle"] == 0.0  # no circles: zero, not a division error
    matrix = json.loads((tmp_path / "eval" / "confusion_matrix.json").read_text())["matrix"]
    assert np.asarray(matrix).sum(axis=1).tolist() == [0, 3, 3]


def test_make_datasets_counts_examples(shapes_dir, config):
    labelled_splits.cache_clear()
    datasets = TASK.make_datasets(config)
    # 12 per class, validation_split 0.1 → round(1.2) = 1 per class held out.
    assert datasets.train_examples == 44
    assert datasets.val_examples == 4
    images, labels = next(iter(datasets.train))
    assert images.shape == (8, 32, 32, 3) and labels.shape == (8, 4)


# --- config validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("data.image_size", [4, 4], "data.image_size"),
        ("data.image_size", [32], "data.image_size"),
        ("serving.top_k", 0, "serving.top_k"),
        ("data.validation_split", 1.0, "data.validation_split"),
        ("data.color_mode", "cmyk", "data.color_mode"),
        ("model.backbone", "vgg16", "model.backbone"),
        ("model.dropout", 1.0, "model.dropout"),
        ("augment.crop_padding", -1, "augment.crop_padding"),
        ("data.shuffle_buffer", -5, "data.shuffle_buffer"),
        ("data.imagesize", [32, 32], "Did you mean 'data.image_size'"),
    ],
)
def test_bad_config_values_raise_config_error(tmp_path, key, value, match):
    with pytest.raises(ConfigError, match=match) as info:
        resolve(
            TASK.config_cls, TASK.presets, preset="tiny", values={"data.train": str(tmp_path), key: value}
        )
    assert "Received:" in str(info.value)
