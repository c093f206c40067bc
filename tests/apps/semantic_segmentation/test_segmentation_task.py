"""Semantic segmentation task: config checks, joint augmentation, the served graph's outputs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfapps.apps import config as config_lib
from tfapps.apps.errors import ConfigError
from tfapps.apps.registry import get_task
from tfapps.apps.semantic_segmentation import data as segmentation_data
from tfapps.apps.semantic_segmentation.signatures import segment_fn
from tfapps.apps.semantic_segmentation.synthetic import write_shapes_segmentation

TASK = get_task("semantic_segmentation")


def _config(data: str = "", **values):
    overrides = [f"{k}={v}" for k, v in values.items()] + ([f"data.train={data}"] if data else [])
    return config_lib.resolve(TASK.config_cls, TASK.presets, preset="tiny", overrides=overrides)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_shapes_segmentation(tmp_path_factory.mktemp("seg"), images=8))


def test_image_size_must_fit_the_unet_depth() -> None:
    with pytest.raises(ConfigError, match="multiples of 4"):
        _config(**{"data.image_size": "[30,32]"}).validate()


def test_classes_and_palette_come_from_classes_txt(shapes: str) -> None:
    config = TASK.resolve_data(_config(shapes))
    assert config.data.class_names == ("background", "disc", "square")
    assert config.data.palette == ((0, 0, 0), (220, 40, 40), (40, 200, 60))


def test_crops_and_flips_move_the_mask_with_the_image() -> None:
    # Each pixel's colour encodes its class, so a misaligned mask shows up as a mismatch.
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 3, size=(40, 60)).astype(np.int32)
    image = tf.constant(np.stack([mask * 100] * 3, axis=-1).astype(np.uint8))
    for seed in range(10):
        cropped, cropped_mask = segmentation_data._crop_and_flip(
            image, tf.constant(mask), 0.5, True, tf.constant([seed, 3], tf.int64)
        )
        assert cropped.shape[:2] == cropped_mask.shape and cropped.shape[0] >= 20
        np.testing.assert_array_equal(cropped.numpy()[..., 0] // 100, cropped_mask.numpy())


def test_batches_hold_resized_images_and_class_id_masks(shapes: str) -> None:
    config = TASK.resolve_data(_config(shapes))
    dataset = segmentation_data.read_split(config, shapes)
    batches = segmentation_data.make_dataset(list(dataset.records), config, dataset.palette, False, 4)
    images, masks = next(iter(batches))
    assert images.shape == (4, 32, 32, 3) and masks.shape == (4, 32, 32) and masks.dtype == tf.int32
    assert set(np.unique(masks.numpy())) <= {0, 1, 2}


def _png(height: int, width: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_served_masks_come_back_at_each_image_size_as_palette_pngs() -> None:
    config = config_lib.with_values(
        _config(),
        **{"data.class_names": ["a", "b", "c"], "data.palette": [[0, 0, 0], [255, 0, 0], [0, 0, 255]]},
    )
    ids = np.zeros((32, 32), np.int64)
    ids[:, 16:] = 1
    ids[24:, :8] = 2
    logits = tf.one_hot(ids, 3) * 10.0  # a stand-in model that always predicts `ids`

    def model(images, training=False):
        return tf.repeat(logits[None], tf.shape(images)[0], axis=0)

    out = segment_fn(model, config)(tf.constant([_png(32, 32), _png(64, 16)]))
    np.testing.assert_array_equal(out["mask"].numpy()[0], ids)
    assert out["original_size"].numpy().tolist() == [[32, 32], [64, 16]]
    np.testing.assert_allclose(out["class_pixel_fraction"].numpy().sum(axis=1), [1.0, 1.0])
    assert out["class_pixel_fraction"].numpy()[0, 1] == pytest.approx(0.5)
    png = Image.open(io.BytesIO(out["mask_png_bytes"].numpy()[1]))
    assert png.mode == "P" and png.size == (16, 64)  # (width, height) of the second image
    expected = tf.image.resize(ids[..., None], (64, 16), method="nearest")[..., 0].numpy()
    np.testing.assert_array_equal(np.array(png), expected)
    assert png.getpalette()[:9] == [0, 0, 0, 255, 0, 0, 0, 0, 255]


def test_export_uses_only_core_tensorflow_ops(tmp_path: Path) -> None:
    from tensorflow.core.protobuf import saved_model_pb2

    from tfapps.serving.export import export_model

    config = config_lib.with_values(
        _config(), **{"data.class_names": ["a", "b"], "data.palette": [[0, 0, 0], [9, 9, 9]]}
    )
    model = TASK.build_model(config)
    version = export_model(
        model, TASK.signatures(model, config), TASK.sample_request(config), tmp_path, "seg"
    )
    graph = (
        saved_model_pb2.SavedModel.FromString((version / "saved_model.pb").read_bytes())
        .meta_graphs[0]
        .graph_def
    )
    ops = {node.op for node in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    ops -= {f.signature.name for f in graph.library.function}
    probe = (
        "import json, sys; from tensorflow.python.framework import op_def_registry; "
        "print(json.dumps([op for op in json.loads(sys.argv[1]) if op_def_registry.get(op) is None]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(sorted(ops))], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    assert {"EncodePng", "ArgMax"} <= ops


def test_deeplab_v3_builds_from_config_and_serves_full_size_masks() -> None:
    config = config_lib.with_values(
        _config(**{"model.architecture": "deeplab_v3", "data.image_size": "[64,64]"}),
        **{"data.class_names": ["a", "b"], "data.palette": [[0, 0, 0], [9, 9, 9]]},
    )
    config.validate()
    model = TASK.build_model(config)
    assert model.output_shape == (None, 64, 64, 2)
    out = segment_fn(model, config)(tf.constant([_png(50, 70)]))
    assert out["mask"].shape == (1, 64, 64)
    assert Image.open(io.BytesIO(out["mask_png_bytes"].numpy()[0])).size == (70, 50)
