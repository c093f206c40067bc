"""Server-side batching, the Prometheus page and the manager's batching queues (spec §3.6, §1.10)."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tensorflow as tf
from conftest import export_half
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from tfapps.serving.server import ModelServer, ServerOptions
from tfapps.serving.server.batching import BatchingParameters
from tfapps.serving.server.manager import PER_MODEL_BATCHING_FILE, ModelManager

pytestmark = pytest.mark.serving

METRICS_PATH = "/monitoring/prometheus/metrics"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def batching_server(models_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """Batches of up to 8 rows, waiting up to 300 ms to fill; Prometheus on."""
    folder = tmp_path_factory.mktemp("batching")
    params = _write(
        folder / "batching.txt",
        "max_batch_size { value: 8 }\nbatch_timeout_micros { value: 300000 }\n"
        "num_batch_threads { value: 2 }\nmax_enqueued_batches { value: 100 }\n",
    )
    monitoring = _write(
        folder / "monitoring.txt", f'prometheus_config {{ enable: true path: "{METRICS_PATH}" }}\n'
    )
    options = ServerOptions(
        model_config_file=models_config,
        grpc_port=0,
        rest_port=0,
        enable_batching=True,
        batching_parameters_file=params,
        monitoring_config_file=monitoring,
    )
    with ModelServer(options) as server:
        yield server


def _predict_request(x: np.ndarray) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(x))
    return request


def _families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _runs(server: ModelServer, model: str, version: int) -> float:
    family = _families(server.metrics.render().decode()).get(
        ":tensorflow:serving:batching_session:wrapped_run_count"
    )
    if family is None:
        return 0.0
    return sum(s.value for s in family.samples if s.labels == {"model_name": model, "version": str(version)})


def test_batched_answers_equal_unbatched_ones(batching_server: ModelServer) -> None:
    servable = batching_server.manager.resolve("half").servable
    inputs = [np.arange(i % 3 + 1, dtype=np.float32).reshape(-1, 1) + i for i in range(16)]
    barrier = threading.Barrier(len(inputs))
    runs_before = _runs(batching_server, "half", 2)

    def rest(x: np.ndarray) -> np.ndarray:
        with httpx.Client(timeout=30) as client:
            barrier.wait(timeout=30)
            r = client.post(
                f"http://127.0.0.1:{batching_server.rest_port}/v1/models/half:predict",
                json={"instances": x.tolist()},
            )
        assert r.status_code == 200, r.text
        return np.array(r.json()["predictions"], np.float32)

    def grpc_call(x: np.ndarray) -> np.ndarray:
        with grpc.insecure_channel(f"127.0.0.1:{batching_server.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            barrier.wait(timeout=30)
            response = stub.Predict(_predict_request(x), timeout=30)
        assert response.model_spec.version.value == 2
        return tf.make_ndarray(response.outputs["y"])

    with concurrent.futures.ThreadPoolExecutor(len(inputs)) as pool:
        futures = [pool.submit(rest if i % 2 else grpc_call, x) for i, x in enumerate(inputs)]
        answers = [f.result(timeout=60) for f in futures]
    for x, answer in zip(inputs, answers, strict=True):
        np.testing.assert_allclose(answer, servable.predict({"x": x})["y"])
    assert _runs(batching_server, "half", 2) - runs_before < len(inputs)  # requests were merged


def test_unbatchable_and_example_requests_still_answer(batching_server: ModelServer) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{batching_server.rest_port}", timeout=30) as http:
        r = http.post("/v1/models/half/versions/1:predict", json={"instances": [[2.0]]})
        assert r.json() == {"predictions": [[3.0]]}
        r = http.post(
            "/v1/models/half:predict", json={"signature_name": "echo", "inputs": {"text": ["ab", "c"]}}
        )
        assert r.json()["outputs"]["upper"] == ["AB", "C"]
        r = http.post(
            "/v1/models/scorer:regress",
            json={"signature_name": "regress", "examples": [{"x": 2.0}, {"x": 4.0}]},
        )
        assert r.json() == {"results": [3.0, 4.0]}
        r = http.post("/v1/models/half:predict", json={"instances": [[1.0]] * 9})
        assert r.status_code == 400 and "larger than maximum input batch size 8" in r.json()["error"]


def test_prometheus_page_counts_requests(batching_server: ModelServer) -> None:
    base = f"http://127.0.0.1:{batching_server.rest_port}"
    with httpx.Client(base_url=base, timeout=30) as http:
        http.post("/v1/models/half/versions/1:predict", json={"instances": [[1.0]]})
        http.post("/v1/models/nope:predict", json={"instances": [[1.0]]})
        with grpc.insecure_channel(f"127.0.0.1:{batching_server.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            stub.Predict(_predict_request(np.array([[1.0]], np.float32)), timeout=30)
        r = http.get(METRICS_PATH)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        found = _families(r.text)
        counts = {
            (
                s.labels["model_name"],
                s.labels["version"],
                s.labels["API"],
                s.labels["entrypoint"],
                s.labels["status"],
            )
            for s in found[":tfapps:serving:request_count"].samples
            if s.value >= 1
        }
        assert ("half", "1", "predict", "REST", "OK") in counts
        assert ("half", "2", "Predict", "GRPC", "OK") in counts
        assert ("nope", "", "predict", "REST", "NOT_FOUND") in counts
        by_status = {
            (s.labels["model_name"], s.labels["status"]): s.value
            for s in found[":tensorflow:serving:request_count"].samples
        }
        assert by_status[("half", "OK")] >= 2 and by_status[("nope", "NOT_FOUND")] >= 1
        loads = found[":tfapps:serving:model_load_latency"].samples
        assert any(s.labels.get("model_name") == "scorer" and s.labels.get("status") == "OK" for s in loads)
        r = http.get(METRICS_PATH + "?x=1")
        assert r.status_code == 400 and r.json() == {"error": f"Unexpected path: {METRICS_PATH}?x=1"}


def test_prometheus_page_is_404_when_monitoring_is_off(model_server: ModelServer) -> None:
    r = httpx.get(f"http://127.0.0.1:{model_server.rest_port}{METRICS_PATH}", timeout=30)
    assert r.status_code == 404


def _batching_half_server(export_base: Path, params: Path, **options) -> ModelServer:
    """The `half` model alone, batched with the parameters file `params`, no file-system polling."""
    return ModelServer(
        ServerOptions(
            model_name="half",
            model_base_path=export_base / "half",
            grpc_port=0,
            rest_port=0,
            enable_batching=True,
            batching_parameters_file=params,
            file_system_poll_wait_seconds=0,
            **options,
        )
    )


def test_full_queue_answers_503_and_unavailable(export_base: Path, tmp_path: Path) -> None:
    params = _write(
        tmp_path / "batching.txt",
        "max_batch_size { value: 1 }\nmax_enqueued_batches { value: 1 }\nnum_batch_threads { value: 1 }\n",
    )
    with _batching_half_server(export_base, params) as server:
        servable = server.manager.resolve("half").servable
        batcher = server.manager.batcher("half", 2)
        original = servable.predict
        entered, release = threading.Event(), threading.Event()

        def blocked(*args, **kwargs):
            entered.set()
            assert release.wait(30)
            return original(*args, **kwargs)

        servable.predict = blocked  # the batch thread blocks inside the model until released
        url = f"http://127.0.0.1:{server.rest_port}/v1/models/half:predict"
        with (
            concurrent.futures.ThreadPoolExecutor(2) as pool,
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel,
        ):
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            first = pool.submit(httpx.post, url, json={"instances": [[2.0]]}, timeout=30)
            assert entered.wait(30)
            second = pool.submit(stub.Predict, _predict_request(np.array([[4.0]], np.float32)), timeout=30)
            for _ in range(3000):  # until the second request waits in the queue (bounded)
                if batcher.queue_depth == 1:
                    break
                time.sleep(0.01)
            assert batcher.queue_depth == 1
            try:
                r = httpx.post(url, json={"instances": [[1.0]]}, timeout=30)
                assert r.status_code == 503
                assert (
                    "The batch scheduling queue to which this task was submitted is full" in r.json()["error"]
                )
                with pytest.raises(grpc.RpcError) as info:
                    stub.Predict(_predict_request(np.array([[1.0]], np.float32)), timeout=30)
                assert info.value.code() == grpc.StatusCode.UNAVAILABLE
                assert (
                    "The batch scheduling queue to which this task was submitted is full"
                    in info.value.details()
                )
            finally:
                release.set()
            assert first.result(30).json() == {"predictions": [[4.0]]}
            np.testing.assert_allclose(tf.make_ndarray(second.result(30).outputs["y"]), [[5.0]])


def _config(name: str, base: Path) -> model_server_config_pb2.ModelConfig:
    config = model_server_config_pb2.ModelConfig(name=name, base_path=str(base), model_platform="tensorflow")
    config.model_version_policy.latest.num_versions = 1
    return config


def test_manager_batchers_per_model_parameters_and_unload(tmp_path: Path) -> None:
    base = tmp_path / "half"
    export_half(base / "1", 2.0)
    _write(base / "1" / PER_MODEL_BATCHING_FILE, "max_batch_size { value: 4 }\n")
    manager = ModelManager(
        [_config("half", base)],
        batching=BatchingParameters(max_batch_size=16, num_batch_threads=1),
        per_model_batching_parameters=True,
    )
    manager.load_initial()
    try:
        batcher = manager.batcher("half", 1)
        assert batcher is not None and batcher.params.max_batch_size == 4
        handle = manager.resolve("half")
        np.testing.assert_allclose(manager.run(handle, {"x": np.array([[2.0]], np.float32)})["y"], [[3.0]])
        assert batcher.stats()["batches"] == 1
        export_half(base / "2", 3.0)
        manager.reconcile()  # loads 2 (common parameters), unloads 1 and closes its queue
        assert batcher.closed and manager.batcher("half", 1) is None
        assert manager.batcher("half", 2).params.max_batch_size == 16
        # A request resolved before the unload finishes on the version it started on.
        np.testing.assert_allclose(manager.run(handle, {"x": np.array([[2.0]], np.float32)})["y"], [[3.0]])
    finally:
        manager.stop()
    assert manager.batcher("half", 2) is None


def test_deadlines_answer_504_and_deadline_exceeded(export_base: Path, tmp_path: Path) -> None:
    # A batch that waits 30 s to fill never runs within the deadlines below.
    params = _write(
        tmp_path / "batching.txt",
        "max_batch_size { value: 8 }\nbatch_timeout_micros { value: 30000000 }\nnum_batch_threads { value: 1 }\n",
    )
    with _batching_half_server(export_base, params, rest_api_timeout_in_ms=200) as server:
        batcher = server.manager.batcher("half", 2)
        base = f"http://127.0.0.1:{server.rest_port}"
        with httpx.Client(base_url=base, timeout=30) as http:
            r = http.post("/v1/models/half:predict", json={"instances": [[1.0]]})
            assert r.status_code == 504, r.text
            assert "Timed out" in r.json()["error"]
            with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
                stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
                with pytest.raises(grpc.RpcError) as caught:
                    stub.Predict(_predict_request(np.array([[1.0]], np.float32)), timeout=0.2)
                assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert batcher.stats()["tasks"] == 0  # nothing ran: both requests gave up in the queue
            assert http.get("/v1/models/half").status_code == 200  # and the server keeps serving
