"""Request limits, the new server flags and warmup of example-based logs, end to end."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tensorflow as tf
from conftest import export_scorer, png
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    predict_pb2,
    prediction_log_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from tfapps.apps.errors import UsageError
from tfapps.serving.runtime import load_servable
from tfapps.serving.server import ModelServer, ServerOptions, main
from tfapps.serving.server.app import options_from_flags
from tfapps.serving.server.flags import parse_flags
from tfapps.serving.server.warmup import run_warmup


@pytest.fixture(scope="module")
def limited_server(export_base: Path) -> Iterator[ModelServer]:
    options = ServerOptions(
        model_name="image",
        model_base_path=export_base / "image",
        grpc_port=0,
        rest_port=0,
        max_request_bytes=4096,
        max_image_pixels=100,
        file_system_poll_wait_seconds=0,
    )
    with ModelServer(options) as server:
        yield server


def _b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


def _image_request(*images: bytes) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "image"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(np.array(images, dtype=object)))
    return request


@pytest.mark.serving
def test_rest_limits(limited_server: ModelServer) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{limited_server.rest_port}", timeout=30) as http:
        r = http.post("/v1/models/image:predict", json={"instances": [_b64(png(255))]})
        assert r.status_code == 200 and r.json()["predictions"][0]["labels"] == ["bright"]
        r = http.post("/v1/models/image:predict", json={"instances": [_b64(png(0)), _b64(png(0, size=16))]})
        assert r.status_code == 400
        assert "Image 1 of input 'image_bytes' has 16x16 = 256 pixels" in r.json()["error"]
        r = http.post("/v1/models/image:predict", content=b" " * 5000)
        assert r.status_code == 413 and "larger than the limit of 4096 bytes" in r.json()["error"]
        bomb = gzip.compress(json.dumps({"instances": [[0.0] * 5000]}).encode())
        assert len(bomb) < 4096
        r = http.post("/v1/models/image:predict", content=bomb, headers={"Content-Encoding": "gzip"})
        assert r.status_code == 413 and "once gunzipped" in r.json()["error"]


@pytest.mark.serving
def test_grpc_limits(limited_server: ModelServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{limited_server.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(_image_request(png(0)), timeout=30)
        assert response.outputs["labels"].string_val == [b"dark"]
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(_image_request(png(0, size=16)), timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "input 'image_bytes'" in info.value.details()
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(_image_request(png(0) + b"\0" * 5000), timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "larger than the limit of 4096 bytes" in info.value.details()


def test_new_flags_map_to_options(tmp_path: Path) -> None:
    flags = parse_flags(
        [
            "--model_base_path=/x",
            "--enable_batching",
            "--batching_parameters_file=/b.txt",
            "--enable_per_model_batching_parameters",
            "--monitoring_config_file=/m.txt",
            "--max_request_bytes=1000",
            "--max_image_pixels=50",
        ]
    )
    options = options_from_flags(flags)
    assert options.enable_batching and options.enable_per_model_batching_parameters
    assert (str(options.batching_parameters_file), str(options.monitoring_config_file)) == (
        "/b.txt",
        "/m.txt",
    )
    assert (options.max_request_bytes, options.max_image_pixels) == (1000, 50)
    defaults = options_from_flags(parse_flags(["--model_base_path=/x"]))
    assert (defaults.max_request_bytes, defaults.max_image_pixels) == (64 << 20, None)
    assert (
        options_from_flags(parse_flags(["--model_base_path=/x", "--max_request_bytes=0"])).max_request_bytes
        is None
    )
    with pytest.raises(UsageError, match="max_image_pixels must be >= 0"):
        options_from_flags(parse_flags(["--model_base_path=/x", "--max_image_pixels=-1"]))


def test_flag_errors_fail_start_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = tmp_path / "batching.txt"
    params.write_text("max_batch_size { value: 0 }\n")
    base = f"--model_base_path={tmp_path}"
    assert main([base, "--port=1", f"--batching_parameters_file={params}"]) == 1
    assert (
        "server_options.batching_parameters_file is set without setting server_options.enable_batching to true."
        in capsys.readouterr().err
    )
    assert main([base, "--port=1", "--enable_batching", f"--batching_parameters_file={params}"]) == 1
    assert "max_batch_size must be positive" in capsys.readouterr().err
    assert main([base, "--port=1", f"--monitoring_config_file={tmp_path / 'missing.txt'}"]) == 1
    assert "Invalid protobuf file" in capsys.readouterr().err
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--max_request_bytes=67108864 (tfapps:" in out and "--max_image_pixels=0 (tfapps:" in out
    assert "--enable_batching=False\n" in out  # no longer "not implemented"


def test_warmup_replays_example_based_logs(tmp_path: Path) -> None:
    version_dir = export_scorer(tmp_path / "scorer" / "1")
    path = version_dir / "assets.extra" / "tf_serving_warmup_requests"
    path.parent.mkdir(parents=True)
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.signature_name = "classify"
    classify.input.example_list.examples.add().features.feature["x"].float_list.value.append(1.0)
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.signature_name = "regress"
    regress.input.CopyFrom(classify.input)
    multi = inference_pb2.MultiInferenceRequest()
    task = multi.tasks.add(method_name="tensorflow/serving/regress")
    task.model_spec.name, task.model_spec.signature_name = "scorer", "regress"
    multi.input.CopyFrom(classify.input)
    logs = [
        prediction_log_pb2.PredictionLog(classify_log=prediction_log_pb2.ClassifyLog(request=classify)),
        prediction_log_pb2.PredictionLog(regress_log=prediction_log_pb2.RegressLog(request=regress)),
        prediction_log_pb2.PredictionLog(
            multi_inference_log=prediction_log_pb2.MultiInferenceLog(request=multi)
        ),
    ]
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    servable = load_servable(version_dir)
    assert run_warmup(servable, version_dir, 2, "scorer", 1) == 3
    classify.model_spec.signature_name = "nope"
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(
            prediction_log_pb2.PredictionLog(
                classify_log=prediction_log_pb2.ClassifyLog(request=classify)
            ).SerializeToString()
        )
    with pytest.raises(Exception, match="Warmup request failed: .*nope"):
        run_warmup(servable, version_dir, 1, "scorer", 1)
