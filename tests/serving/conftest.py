"""Fixtures for the serving tests: tiny SavedModels built here, the shared TF Serving test models,
and servers on 127.0.0.1 with ephemeral ports (one per test module)."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from tfapps.serving.codec import ndarray_to_tensor_proto
from tfapps.serving.server import ModelServer, ServerOptions

SHARED = Path(__file__).parents[2].parent / "shared"
TESTDATA = SHARED / "testdata" / "tfserving" / "servables" / "tensorflow" / "testdata"
BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_bench_script(name: str, filename: str):
    """A module of bench/ (scripts, not a package), loaded from its file under `name`."""
    spec = importlib.util.spec_from_file_location(name, BENCH / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True, scope="session")
def _quiet_tensorflow() -> None:
    tf.get_logger().setLevel(logging.ERROR)


# ------------------------------------------------------------------------------ tiny models


class HalfPlus(tf.Module):
    """`y = 0.5 * x + b` (like TF Serving's half_plus_two) plus a string signature."""

    def __init__(self, b: float):
        super().__init__()
        self.a = tf.Variable(0.5)
        self.b = tf.Variable(b)

    @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
    def serve(self, x):
        return {"y": self.a * x + self.b}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def echo(self, text):
        return {"upper": tf.strings.upper(text), "length": tf.strings.length(text)}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.int64, name="n"),
            tf.TensorSpec([None], tf.bool, name="flag"),
        ]
    )
    def typed(self, n, flag):
        return {"doubled": n * 2, "negated": tf.logical_not(flag), "half": tf.cast(n, tf.float64) / 2}


class ImageScorer(tf.Module):
    """Keras-export-like signature: PNG bytes in → `scores`, `labels`, `thumb_bytes` out."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve(self, image_bytes):
        def mean(png):
            return tf.reduce_mean(tf.cast(tf.io.decode_png(png, channels=1), tf.float32)) / 255.0

        def thumb(png):
            return tf.io.encode_png(tf.io.decode_png(png, channels=1)[:1, :1])

        scores = tf.map_fn(mean, image_bytes, fn_output_signature=tf.float32)[:, None]
        labels = tf.where(scores > 0.5, tf.constant("bright"), tf.constant("dark"))
        thumbs = tf.map_fn(thumb, image_bytes, fn_output_signature=tf.string)
        return {"scores": scores, "labels": labels, "thumb_bytes": thumbs}


class ExampleScorer(tf.Module):
    """Classify/regress signatures on serialized tf.Examples (features `x`, and `x2` default 0)."""

    _FEATURES = {
        "x": tf.io.FixedLenFeature([1], tf.float32),
        "x2": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
    }

    def _parse(self, inputs):
        return tf.io.parse_example(inputs, self._FEATURES)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(self, inputs):
        x = self._parse(inputs)["x"]
        scores = tf.concat([x, 0.5 * x + 2.0], axis=1)
        classes = tf.tile(tf.constant([["x", "half_plus_two"]]), [tf.shape(x)[0], 1])
        return {"classes": classes, "scores": scores}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classes_only(self, inputs):
        x = self._parse(inputs)["x"]
        return {"classes": tf.where(x > 0.0, tf.constant("pos"), tf.constant("neg"))}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(self, inputs):
        return {"outputs": 0.5 * self._parse(inputs)["x"][:, 0] + 2.0}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress_sum(self, inputs):
        features = self._parse(inputs)
        return {"outputs": features["x"] + features["x2"]}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress_int(self, inputs):
        return {"outputs": tf.cast(self._parse(inputs)["x"], tf.int64)}

    @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
    def serve(self, x):
        return {"y": 0.5 * x + 2.0}


def export_scorer(path: Path) -> Path:
    """Exports an ExampleScorer: serving_default (predict on `x`) plus example-based signatures."""
    module = ExampleScorer()
    signatures = {
        name: getattr(module, name)
        for name in ("classify", "classes_only", "regress", "regress_sum", "regress_int")
    }
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve, **signatures})
    return path


def export_half(path: Path, b: float) -> Path:
    """Exports a HalfPlus module with signatures serving_default, echo, typed."""
    module = HalfPlus(b)
    tf.saved_model.save(
        module,
        str(path),
        signatures={"serving_default": module.serve, "echo": module.echo, "typed": module.typed},
    )
    return path


def export_image(path: Path) -> Path:
    """Exports an ImageScorer module."""
    module = ImageScorer()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def png(value: int, size: int = 4) -> bytes:
    """A grey `size`×`size` PNG whose every pixel is `value`."""
    return tf.io.encode_png(np.full((size, size, 1), value, np.uint8)).numpy()


def write_warmup(version_dir: Path, requests: list[dict[str, np.ndarray]], signature: str = "") -> Path:
    """Writes `assets.extra/tf_serving_warmup_requests` with one predict_log per request."""
    path = version_dir / "assets.extra" / "tf_serving_warmup_requests"
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for inputs in requests:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "warm"
            request.model_spec.signature_name = signature
            for alias, value in inputs.items():
                request.inputs[alias].CopyFrom(ndarray_to_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog()
            log.predict_log.request.CopyFrom(request)
            writer.write(log.SerializeToString())
    return path


@pytest.fixture(scope="session")
def export_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`<base>/half/{1,2}` (y = 0.5x+2, then 0.5x+3), `<base>/image/1` and `<base>/scorer/7`;
    read-only for tests."""
    base = tmp_path_factory.mktemp("exports")
    export_half(base / "half" / "1", 2.0)
    export_half(base / "half" / "2", 3.0)
    export_image(base / "image" / "1")
    export_scorer(base / "scorer" / "7")
    return base


@pytest.fixture(scope="session")
def models_config(export_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ModelServerConfig serving every version of `half` (labels stable=1, canary=2), `image`
    and `scorer`."""
    path = tmp_path_factory.mktemp("config") / "models.config"
    path.write_text(
        "model_config_list {\n"
        f'  config {{ name: "half" base_path: "{export_base / "half"}" model_platform: "tensorflow"\n'
        '    model_version_policy { all {} } version_labels { key: "stable" value: 1 }\n'
        '    version_labels { key: "canary" value: 2 } }\n'
        f'  config {{ name: "image" base_path: "{export_base / "image"}" model_platform: "tensorflow" }}\n'
        f'  config {{ name: "scorer" base_path: "{export_base / "scorer"}" model_platform: "tensorflow" }}\n'
        "}\n"
    )
    return path


@pytest.fixture(scope="module")
def model_server(models_config: Path) -> Iterator[ModelServer]:
    """A server for `half` (versions 1, 2), `image` and `scorer` on ephemeral REST and gRPC ports."""
    options = ServerOptions(model_config_file=models_config, grpc_port=0, rest_port=0, host="127.0.0.1")
    with ModelServer(options) as server:
        yield server


# ------------------------------------------------------------------------------ shared data


@pytest.fixture(scope="session")
def testdata() -> Path:
    """TF Serving's own test models (`../shared`); skips when that folder is absent."""
    if not TESTDATA.is_dir():
        pytest.skip(f"shared TF Serving test data not found at {TESTDATA}")
    return TESTDATA


@pytest.fixture(scope="module")
def shared_server(testdata: Path) -> Iterator[ModelServer]:
    """A server for half_plus_two_cpu as `default` (like the upstream fixture) on ephemeral ports."""
    options = ServerOptions(
        model_base_path=testdata / "saved_model_half_plus_two_cpu", grpc_port=0, rest_port=0, host="127.0.0.1"
    )
    with ModelServer(options) as server:
        yield server
