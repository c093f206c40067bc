"""The exporter: layout, version numbering, atomicity, warm-up records, parity failures, full disks."""

from __future__ import annotations

import errno

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml
from tensorflow_serving.apis import prediction_log_pb2

from tfapps.apps.errors import ExportError, InvalidArgumentError
from tfapps.serving import export as export_lib
from tfapps.serving.export import Signature, export_model, next_version, parity_check
from tfapps.serving.model_config import read_model_server_config


def _model_and_signatures():
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs))

    def serve(x):
        return {"y": model(x, training=False), "label": tf.where(model(x)[:, 0] > 0, "pos", "neg")}

    return model, {"serving_default": Signature(serve, {"x": tf.TensorSpec([None, 3], tf.float32)})}


SAMPLE = {"x": np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]], np.float32)}


def test_export_layout_versions_and_models_config(tmp_path):
    model, signatures = _model_and_signatures()
    first = export_model(model, signatures, SAMPLE, tmp_path, "reg", metadata={"labels": ["a", "b"]})
    second = export_model(model, signatures, SAMPLE, tmp_path, "reg")
    assert (first.name, second.name) == ("1", "2")
    assert next_version(tmp_path / "reg") == 3
    assert (first / "saved_model.pb").is_file() and (first / "variables").is_dir()
    assert yaml.safe_load((first / "assets.extra" / "tfapps_config.yaml").read_text()) == {
        "labels": ["a", "b"]
    }
    # No temporary directories are left next to the versions.
    assert sorted(p.name for p in (tmp_path / "reg").iterdir()) == ["1", "2"]

    config = read_model_server_config(tmp_path / "models.config")
    entries = {c.name: c for c in config.model_config_list.config}
    assert entries["reg"].base_path == str((tmp_path / "reg").resolve())
    assert entries["reg"].model_platform == "tensorflow"

    export_model(model, signatures, SAMPLE, tmp_path, "other", version=7)
    config = read_model_server_config(tmp_path / "models.config")
    assert sorted(c.name for c in config.model_config_list.config) == ["other", "reg"]


def test_reloaded_model_answers_like_the_trained_model(tmp_path):
    model, signatures = _model_and_signatures()
    version_dir = export_model(model, signatures, SAMPLE, tmp_path, "reg")
    reloaded = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    probe = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(reloaded(x=tf.constant(probe))["y"].numpy(), model(probe).numpy(), rtol=1e-5)


def test_warmup_requests_hold_the_sample_request(tmp_path):
    model, signatures = _model_and_signatures()
    version_dir = export_model(model, signatures, SAMPLE, tmp_path, "reg")
    records = list(tf.data.TFRecordDataset(str(version_dir / "assets.extra" / "tf_serving_warmup_requests")))
    assert len(records) == 1
    log = prediction_log_pb2.PredictionLog.FromString(records[0].numpy())
    request = log.predict_log.request
    assert request.model_spec.name == "reg" and request.model_spec.signature_name == "serving_default"
    np.testing.assert_array_equal(tf.make_ndarray(request.inputs["x"]), SAMPLE["x"])


def test_parity_failure_fails_the_export_and_leaves_nothing(tmp_path):
    model, signatures = _model_and_signatures()
    calls = {"n": 0}
    original = signatures["serving_default"].fn

    def drifting(x):
        # The eager call used as the reference answers differently from the traced graph.
        calls["n"] += 1
        outputs = original(x)
        return {**outputs, "y": outputs["y"] + (1.0 if tf.executing_eagerly() else 0.0)}

    bad = {"serving_default": Signature(drifting, signatures["serving_default"].inputs)}
    with pytest.raises(ExportError, match="does not give the in-memory model's answers"):
        export_model(model, bad, SAMPLE, tmp_path, "reg")
    assert not (tmp_path / "reg" / "1").exists()
    assert list((tmp_path / "reg").iterdir()) == []


def test_full_disk_during_export_leaves_nothing(tmp_path, monkeypatch):
    model, signatures = _model_and_signatures()

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export_lib, "write_warmup_requests", disk_full)
    with pytest.raises(ExportError, match="No space left on device"):
        export_model(model, signatures, SAMPLE, tmp_path, "reg")
    assert list((tmp_path / "reg").iterdir()) == []


def test_existing_version_and_bad_arguments(tmp_path):
    model, signatures = _model_and_signatures()
    export_model(model, signatures, SAMPLE, tmp_path, "reg", version=3)
    with pytest.raises(ExportError, match="already exists"):
        export_model(model, signatures, SAMPLE, tmp_path, "reg", version=3)
    with pytest.raises(InvalidArgumentError, match="serving_default"):
        export_model(model, {"other": signatures["serving_default"]}, SAMPLE, tmp_path, "reg")
    for name in ("", "a/b", ".hidden", "123"):
        with pytest.raises(InvalidArgumentError, match="Model names"):
            export_model(model, signatures, SAMPLE, tmp_path, name)
    with pytest.raises(InvalidArgumentError, match="positive"):
        export_model(model, signatures, SAMPLE, tmp_path, "reg", version=0)


def test_parity_check_reports_each_difference():
    same = {"a": np.array([1.0, 2.0]), "s": np.array([b"x"], dtype=object)}
    assert parity_check(same, same) == []
    problems = parity_check(same, {"a": np.array([1.0, 2.5]), "s": np.array([b"y"], dtype=object)})
    assert len(problems) == 2 and "'a'" in problems[0] and "'s'" in problems[1]
    assert "shape" in parity_check({"a": np.zeros(2)}, {"a": np.zeros(3)})[0]
    assert "names differ" in parity_check({"a": np.zeros(1)}, {"b": np.zeros(1)})[0]
