"""Object detection task: config checks, the data pipeline, and the serving graph's box mapping."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfapps.apps import config as config_lib
from tfapps.apps.errors import ConfigError
from tfapps.apps.object_detection import data as detection_data
from tfapps.apps.object_detection.signatures import detect_fn
from tfapps.apps.object_detection.synthetic import write_shapes_detection
from tfapps.apps.registry import get_task
from tfapps.models.heads.centernet import encode_targets

TASK = get_task("object_detection")


def _config(data: str = "", **values):
    overrides = [f"{k}={v}" for k, v in values.items()] + ([f"data.train={data}"] if data else [])
    return config_lib.resolve(TASK.config_cls, TASK.presets, preset="tiny", overrides=overrides)


@pytest.fixture(scope="module")
def shapes_csv(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_shapes_detection(tmp_path_factory.mktemp("shapes"), images=12))


def test_image_size_must_fit_the_output_stride() -> None:
    with pytest.raises(ConfigError, match="multiples of model.output_stride"):
        _config(**{"data.image_size": "[66,64]"}).validate()  # resolve() may already refuse it


def test_image_size_must_fit_the_backbone_stride() -> None:
    # 68 rows suit the stride-4 heads, but a 4-stage backbone (stride 8) would floor them to 64.
    config = config_lib.with_values(
        _config(**{"data.image_size": "[68,64]", "model.widths": "[8,8,8,8]"}),
        **{"data.class_names": ["a", "b"]},
    )
    with pytest.raises(ConfigError, match="multiple of the backbone's stride"):
        TASK.build_model(config)


def test_class_names_come_from_the_annotations(shapes_csv: str) -> None:
    config = TASK.resolve_data(_config(shapes_csv))
    assert config.data.class_names == ("disc", "square")


def test_eval_batches_encode_every_box_at_its_centre(shapes_csv: str) -> None:
    config = TASK.resolve_data(_config(shapes_csv))
    records = list(detection_data.read_split(config, shapes_csv).records)
    dataset = detection_data.make_dataset(records, 2, config, training=False, batch_size=4)
    images, targets = next(iter(dataset))
    assert images.shape == (4, 64, 64, 3) and targets.shape == (4, 16, 16, 2 + 5)
    for record, target in zip(records[:4], targets.numpy(), strict=True):
        # One mask cell per distinct centre cell; the heat map is exactly 1 at each of them.
        scale = np.array([64 / record.height, 64 / record.width] * 2)
        centres = ((record.boxes * scale)[:, :2] + (record.boxes * scale)[:, 2:]) / 2 // 4
        cells = {tuple(c) for c in centres.astype(int).tolist()}
        assert target[..., -1].sum() == len(cells)
        for (i, j), cls in zip(centres.astype(int).tolist(), record.classes.tolist(), strict=True):
            assert target[i, j, cls] == 1.0


def test_training_crops_keep_boxes_inside_the_crop() -> None:
    image = tf.zeros([100, 200, 3], tf.uint8)
    boxes = tf.constant([[10, 10, 40, 60], [50, 150, 95, 199], [0, 0, 0, 0]], tf.float32)
    classes = tf.constant([0, 1, 0], tf.int32)
    for seed in range(20):
        cropped, kept, kept_classes, count = detection_data._random_crop(
            image, boxes, classes, tf.constant(2), 0.5, tf.constant([seed, 7], tf.int64)
        )
        height, width = cropped.shape[0], cropped.shape[1]
        assert 50 <= height <= 100 and 100 <= width <= 200
        kept = kept.numpy()[: int(count)]
        assert np.all(kept >= 0) and np.all(kept[:, [0, 2]] <= height) and np.all(kept[:, [1, 3]] <= width)
        assert set(kept_classes.numpy()[: int(count)].tolist()) <= {0, 1}


def test_flips_mirror_boxes() -> None:
    image = tf.zeros([10, 20, 3], tf.uint8)
    boxes = tf.constant([[1, 2, 5, 8]], tf.float32)
    seen = set()
    for seed in range(10):
        _, flipped = detection_data._flip(image, boxes, tf.constant([seed, 0], tf.int64))
        seen.add(tuple(flipped.numpy()[0].tolist()))
    assert seen == {(1.0, 2.0, 5.0, 8.0), (1.0, 12.0, 5.0, 18.0)}


def _png(height: int, width: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_served_boxes_are_in_each_original_image_pixels() -> None:
    config = config_lib.with_values(_config(), **{"data.class_names": ["disc", "square"]})
    boxes = tf.constant([[8, 4, 24, 20], [32, 40, 56, 60]], tf.float32)  # in the 64x64 model input
    target = encode_targets(boxes, tf.constant([1, 0]), tf.constant(2), (16, 16), 4, 2)
    # A stand-in model whose output is the perfect prediction of those two boxes for any image.
    heat = tf.where(target[..., :2] >= 1.0, 12.0, -12.0)
    head = tf.concat([heat, target[..., 2:6]], axis=-1)

    def model(images, training=False):
        return tf.repeat(head[None], tf.shape(images)[0], axis=0)

    out = detect_fn(model, config)(tf.constant([_png(64, 64), _png(128, 32)]))
    assert out["num_detections"].numpy().tolist() == [2, 2]
    for image, (sy, sx) in enumerate([(1.0, 1.0), (2.0, 0.5)]):
        order = np.argsort(-out["boxes"][image, :2, 0].numpy())[::-1]
        found = out["boxes"][image, :2].numpy()[order]
        np.testing.assert_allclose(found, boxes.numpy() * [sy, sx, sy, sx], atol=1e-3)
        assert sorted(out["labels"][image, :2].numpy().tolist()) == [b"disc", b"square"]
        assert out["labels"][image, 2:].numpy().tolist() == [b""] * 8  # past num_detections


def test_truncated_images_are_left_out_before_training(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    labels = write_shapes_detection(tmp_path, images=6)
    broken = tmp_path / "images" / "002.png"
    broken.write_bytes(broken.read_bytes()[:80])  # the header still reads; the pixels do not
    config = TASK.resolve_data(_config(str(labels)))
    with caplog.at_level("WARNING"):
        dataset = detection_data.read_split(config, str(labels))
    assert len(dataset.records) == 5 and str(broken) not in [r.image_path for r in dataset.records]
    assert "002.png" in caplog.text
    batches = detection_data.make_dataset(list(dataset.records), 2, config, training=True, batch_size=5)
    images, _ = next(iter(batches))  # a full pass over the kept images decodes cleanly
    assert images.shape[0] == 5


def test_export_uses_only_core_tensorflow_ops(tmp_path: Path) -> None:
    # Stock tensorflow_model_server has core TensorFlow ops (and tensorflow-text's); list every op
    # of the exported graph and its functions, and look each up in a process that loads nothing else.
    import json
    import subprocess
    import sys

    from tensorflow.core.protobuf import saved_model_pb2

    from tfapps.serving.export import export_model

    config = config_lib.with_values(_config(), **{"data.class_names": ["disc", "square"]})
    model = TASK.build_model(config)
    version = export_model(
        model, TASK.signatures(model, config), TASK.sample_request(config), tmp_path, "det"
    )
    saved = saved_model_pb2.SavedModel.FromString((version / "saved_model.pb").read_bytes())
    graph = saved.meta_graphs[0].graph_def
    ops = {node.op for node in graph.node}
    ops |= {node.op for function in graph.library.function for node in function.node_def}
    ops -= {function.signature.name for function in graph.library.function}  # calls of graph functions
    probe = (
        "import json, sys; from tensorflow.python.framework import op_def_registry; "
        "print(json.dumps([op for op in json.loads(sys.argv[1]) if op_def_registry.get(op) is None]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(sorted(ops))], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    assert {"CombinedNonMaxSuppression", "DecodeImage", "MaxPool"} <= ops  # NMS and decoding in the graph
