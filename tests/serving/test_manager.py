"""Model manager: version policies, states, failed loads, warmup replay and polling."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import export_half, write_warmup
from tensorflow_serving.config import model_server_config_pb2

from tfapps.apps.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError, UnavailableError
from tfapps.serving.server.manager import ModelManager, State, aspired_versions


def model_config(name: str, base: Path, policy: str = "") -> model_server_config_pb2.ModelConfig:
    config = model_server_config_pb2.ModelConfig(name=name, base_path=str(base), model_platform="tensorflow")
    if policy:
        from google.protobuf import text_format

        text_format.Merge(policy, config.model_version_policy)
    return config


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("", [5]),
        ("latest { num_versions: 2 }", [5, 3]),
        ("all {}", [5, 3, 1]),
        ("specific { versions: 1 versions: 9 }", [1]),
    ],
)
def test_version_policies(policy: str, expected: list[int]) -> None:
    found = {1: Path("1"), 3: Path("3"), 5: Path("5")}
    assert aspired_versions(model_config("m", Path("/x"), policy), found) == expected


def test_latest_loaded_version_serves_default_requests(export_base: Path) -> None:
    manager = ModelManager([model_config("half", export_base / "half", "all {}")])
    manager.load_initial()
    assert manager.resolve("half").version == 2
    assert manager.resolve("half", 1).version == 1
    np.testing.assert_allclose(manager.run(manager.resolve("half"), {"x": [[0.0]]})["y"], [[3.0]])
    assert [(s.version, s.state) for s in manager.version_statuses("half")] == [
        (2, State.AVAILABLE),
        (1, State.AVAILABLE),
    ]
    with pytest.raises(NotFoundError, match=r"Servable not found for request: Specific\(half, 7\)"):
        manager.resolve("half", 7)
    with pytest.raises(NotFoundError, match=r"Servable not found for request: Latest\(nope\)"):
        manager.resolve("nope")
    with pytest.raises(InvalidArgumentError, match="Unrecognized servable version label: canary"):
        manager.resolve("half", label="canary")
    with pytest.raises(NotFoundError, match="Could not find any versions of model nope"):
        manager.version_statuses("nope")
    with pytest.raises(NotFoundError, match="Could not find version 7 of model half"):
        manager.version_statuses("half", 7)
    manager.stop()
    assert {s.state for s in manager.version_statuses("half")} == {State.END}


def test_start_up_failures(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="Could not find base path"):
        ModelManager([model_config("m", tmp_path / "missing")]).load_initial()
    (tmp_path / "m" / "latest").mkdir(parents=True)
    with pytest.raises(NotFoundError, match="No versions of servable m found under base path"):
        ModelManager([model_config("m", tmp_path / "m")]).load_initial()
    (tmp_path / "m" / "1").mkdir()
    (tmp_path / "m" / "1" / "saved_model.pb").write_bytes(b"junk")
    manager = ModelManager([model_config("m", tmp_path / "m")])
    with pytest.raises(UnavailableError, match=r"1 servable\(s\) did not become available"):
        manager.load_initial()
    (status,) = manager.version_statuses("m")
    assert status.state == State.END and status.error_code == "INVALID_ARGUMENT"
    assert "Could not parse the SavedModel" in status.error_message


def test_label_must_point_to_an_available_version(export_base: Path) -> None:
    config = model_config("half", export_base / "half")
    config.version_labels["stable"] = 1  # latest policy loads only version 2
    with pytest.raises(FailedPreconditionError, match="Request to assign label to version 1 of model half"):
        ModelManager([config]).load_initial()


def test_warmup_is_replayed_before_available(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    version_dir = export_half(tmp_path / "m" / "1", 2.0)
    write_warmup(
        version_dir, [{"x": np.array([[1.0]], np.float32)}, {"x": np.array([[2.0], [3.0]], np.float32)}]
    )
    with caplog.at_level(logging.INFO, logger="tfapps.serving.server.warmup"):
        ModelManager([model_config("m", tmp_path / "m")]).load_initial()
    assert "Number of warmup records read: 2" in caplog.text


def test_failing_warmup_fails_the_load(tmp_path: Path) -> None:
    version_dir = export_half(tmp_path / "m" / "1", 2.0)
    write_warmup(version_dir, [{"x": np.array([["not a number"]], object)}])
    manager = ModelManager([model_config("m", tmp_path / "m")])
    with pytest.raises(UnavailableError, match="Warmup request failed"):
        manager.load_initial()
    # The same model loads when warmup is disabled.
    ModelManager([model_config("m", tmp_path / "m")], enable_warmup=False).load_initial()


def test_corrupt_warmup_file_is_data_loss(tmp_path: Path) -> None:
    version_dir = export_half(tmp_path / "m" / "1", 2.0)
    (version_dir / "assets.extra").mkdir()
    (version_dir / "assets.extra" / "tf_serving_warmup_requests").write_bytes(b"not a tfrecord at all")
    manager = ModelManager([model_config("m", tmp_path / "m")])
    with pytest.raises(UnavailableError, match="TFRecord"):
        manager.load_initial()
    assert manager.version_statuses("m")[0].error_code == "DATA_LOSS"


def test_reconcile_loads_new_versions_then_unloads_old(tmp_path: Path, export_base: Path) -> None:
    shutil.copytree(export_base / "half" / "1", tmp_path / "m" / "1")
    manager = ModelManager([model_config("m", tmp_path / "m")])
    manager.load_initial()
    shutil.copytree(export_base / "half" / "2", tmp_path / "m" / "2")
    manager.reconcile()
    assert manager.resolve("m").version == 2
    assert [(s.version, s.state) for s in manager.version_statuses("m")] == [
        (2, State.AVAILABLE),
        (1, State.END),
    ]
    shutil.rmtree(tmp_path / "m" / "2")
    manager.reconcile()  # version 1 is aspired again
    assert manager.resolve("m").version == 1
    shutil.rmtree(tmp_path / "m" / "1")
    manager.reconcile()  # nothing aspired: keep serving (availability preserving)
    assert manager.resolve("m").version == 1
    manager.stop()
