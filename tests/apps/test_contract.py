"""The task contract, for every registered task with its `tiny` preset:
build → training steps under MirroredStrategy on two logical CPUs → evaluate → export →
reload parity → REST and gRPC round trip against the embedded server."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfapps.apps import runs
from tfapps.apps.registry import get_task, task_names
from tfapps.pipelines.strategy import resolve_strategy
from tfapps.pipelines.trainer import load_best_model
from tfapps.serving.clients import GrpcClient, RestClient
from tfapps.serving.server import ModelServer, ServerOptions


def _assert_outputs_close(expected: dict, actual: dict) -> None:
    assert set(expected) == set(actual)
    for key, want in expected.items():
        got = np.asarray(actual[key])
        want = np.asarray(want)
        assert got.shape == want.shape, key
        if want.dtype.kind in "OSU":
            assert [v if isinstance(v, bytes) else str(v).encode() for v in got.ravel()] == [
                v if isinstance(v, bytes) else str(v).encode() for v in want.ravel()
            ], key
        else:
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=key)


def test_mirrored_strategy_has_two_cpu_replicas():
    # The contract below relies on this: tests/conftest.py splits the CPU in two.
    assert resolve_strategy("mirrored").num_replicas_in_sync == 2


@pytest.mark.serving
@pytest.mark.parametrize("task_name", task_names())
def test_task_contract(task_name, tmp_path):
    task = get_task(task_name)
    assert "tiny" in task.presets
    data = task.synthetic_data(tmp_path / "data")
    run_dir = tmp_path / "run"

    result = runs.train_run(
        task_name,
        run_dir,
        preset="tiny",
        data=data,
        overrides=["runtime.distribution_strategy=mirrored", "train.epochs=1"],
    )
    assert result.best_model.is_file()
    assert len(result.history["loss"]) == 1 and np.isfinite(result.history["loss"][0])

    metrics = runs.evaluate_run(run_dir, data)
    assert task.primary_metric in metrics
    assert all(isinstance(v, float) for v in metrics.values())
    assert (run_dir / "eval").is_dir()

    version_dir = runs.export_run(run_dir, tmp_path / "export")
    assert version_dir.parent.name == task_name and version_dir.name == "1"
    assert (version_dir / "assets.extra" / "tf_serving_warmup_requests").is_file()
    assert (tmp_path / "export" / "models.config").is_file()

    # Independent parity check: the in-memory signature vs the reloaded SavedModel.
    _, config = runs.load_run(run_dir)
    model = load_best_model(run_dir)
    request = task.sample_request(config)
    feeds = {k: tf.constant(v) for k, v in request.items()}
    expected = {
        k: v.numpy() for k, v in task.signatures(model, config)["serving_default"].fn(**feeds).items()
    }
    reloaded = tf.saved_model.load(str(version_dir)).signatures["serving_default"](**feeds)
    _assert_outputs_close(expected, {k: v.numpy() for k, v in reloaded.items()})

    options = ServerOptions(
        model_name=task_name, model_base_path=str(version_dir.parent), grpc_port=0, rest_port=0
    )
    with ModelServer(options).start() as server:
        rest = RestClient(f"http://127.0.0.1:{server.rest_port}")
        _assert_outputs_close(expected, rest.predict(task_name, request))
        with GrpcClient(f"127.0.0.1:{server.grpc_port}") as grpc_client:
            _assert_outputs_close(expected, grpc_client.predict(task_name, request))
            assert grpc_client.status(task_name) == rest.status(task_name)
