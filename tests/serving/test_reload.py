"""Config reload (HandleReloadConfigRequest, --model_config_file_poll_wait_seconds) and version labels
(spec §2.4, §3.4, §3.5)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import text_format
from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from tfapps.apps.errors import FailedPreconditionError, InvalidArgumentError, TfappsError
from tfapps.serving.server import ModelServer, ServerOptions
from tfapps.serving.server.app import options_from_flags
from tfapps.serving.server.flags import parse_flags
from tfapps.serving.server.manager import ModelManager, State

pytestmark = pytest.mark.serving


def config_list(text: str) -> model_server_config_pb2.ModelServerConfig:
    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


def entry(name: str, base: Path, extra: str = "") -> str:
    return f'config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow" {extra} }}\n'


def models(config: model_server_config_pb2.ModelServerConfig) -> list:
    return list(config.model_config_list.config)


def cfg(*entries: str) -> model_server_config_pb2.ModelServerConfig:
    """A ModelServerConfig whose model_config_list holds the given `entry(...)` texts."""
    return config_list("model_config_list { " + "".join(entries) + " }")


def label(name: str, version: int) -> str:
    return f'version_labels {{ key: "{name}" value: {version} }}'


# ------------------------------------------------------------------------------ manager


def test_reload_adds_and_removes_models(export_base: Path) -> None:
    manager = ModelManager(
        models(config_list(f"model_config_list {{ {entry('half', export_base / 'half')} }}"))
    )
    manager.load_initial()
    new = config_list(
        "model_config_list { "
        + entry("image", export_base / "image")
        + entry(
            "half",
            export_base / "half",
            'model_version_policy { all {} } version_labels { key: "s" value: 1 }',
        )
        + "}"
    )
    manager.reload_config(models(new))
    assert manager.model_names == ["half", "image"]
    assert manager.resolve("image").version == 1
    assert manager.resolve("half", label="s").version == 1
    manager.reload_config(
        models(config_list(f"model_config_list {{ {entry('image', export_base / 'image')} }}"))
    )
    assert manager.model_names == ["image"]
    with pytest.raises(TfappsError, match=r"Servable not found for request: Latest\(half\)"):
        manager.resolve("half")
    # Removed models keep their END statuses, like upstream's ServableStateMonitor.
    assert {s.state for s in manager.version_statuses("half")} == {State.END}
    manager.stop()


def test_reload_fails_when_a_new_model_does_not_load(export_base: Path, tmp_path: Path) -> None:
    manager = ModelManager(
        models(config_list(f"model_config_list {{ {entry('half', export_base / 'half')} }}"))
    )
    manager.load_initial()
    (tmp_path / "broken" / "1").mkdir(parents=True)
    (tmp_path / "broken" / "1" / "saved_model.pb").write_bytes(b"junk")
    bad = config_list(
        f"model_config_list {{ {entry('half', export_base / 'half')}{entry('broken', tmp_path / 'broken')} }}"
    )
    with pytest.raises(TfappsError, match=r"1 model\(s\) did not become available: \{\{name: broken") as info:
        manager.reload_config(models(bad))
    assert info.value.grpc_code == "UNKNOWN"
    assert manager.resolve("half").version == 2  # the rest keeps serving
    manager.stop()


def test_labels_must_point_at_available_versions_on_reload(export_base: Path) -> None:
    half = export_base / "half"
    manager = ModelManager(
        models(
            config_list(f"model_config_list {{ {entry('half', half, 'model_version_policy { all {} }')} }}")
        )
    )
    manager.load_initial()
    labelled = config_list(
        "model_config_list { "
        + entry("half", half, "model_version_policy { all {} } " + label("l", 1))
        + " }"
    )
    manager.reload_config(models(labelled))
    moved = config_list("model_config_list { " + entry("half", half, label("l", 9)) + " }")
    with pytest.raises(FailedPreconditionError, match="Request to assign label to version 9 of model half"):
        manager.reload_config(models(moved))
    assert manager.version_labels("half") == {"l": 1}  # all or nothing: the old map stays
    manager.stop()


def test_allow_version_labels_for_unavailable_models(export_base: Path) -> None:
    half = export_base / "half"
    config = models(config_list("model_config_list { " + entry("half", half, label("next", 3)) + " }"))
    with pytest.raises(
        FailedPreconditionError, match="version 3 of model half, which is not currently available"
    ):
        ModelManager(config).load_initial()
    manager = ModelManager(config, allow_version_labels_for_unavailable_models=True)
    manager.load_initial()  # a new label may point ahead of the available versions
    with pytest.raises(TfappsError, match=r"Servable not found for request: Specific\(half, 3\)"):
        manager.resolve("half", label="next")
    # ... but moving an existing label still needs an AVAILABLE version.
    moved = config_list("model_config_list { " + entry("half", half, label("next", 4)) + " }")
    with pytest.raises(FailedPreconditionError, match="version 4 of model half"):
        manager.reload_config(models(moved))
    manager.stop()


# ------------------------------------------------------------------------------ gRPC and the config file


def available(manager: ModelManager, name: str) -> bool:
    try:
        return any(s.state == State.AVAILABLE for s in manager.version_statuses(name))
    except TfappsError:
        return False


@pytest.fixture(params=[0.2])
def server(request: pytest.FixtureRequest, export_base: Path, tmp_path: Path) -> Iterator[ModelServer]:
    """A server configured by a file that names `half`, polled every `request.param` s (0: never)."""
    path = tmp_path / "models.config"
    path.write_text(f"model_config_list {{ {entry('half', export_base / 'half')} }}")
    options = ServerOptions(
        model_config_file=path,
        grpc_port=0,
        rest_port=None,
        model_config_file_poll_wait_seconds=request.param,
    )
    with ModelServer(options) as server:
        yield server


# Not polled: like upstream, a poll re-applies the file and would undo the RPC's config.
@pytest.mark.parametrize("server", [0], indirect=True)
def test_handle_reload_config_request(server: ModelServer, export_base: Path) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        request = model_management_pb2.ReloadConfigRequest()
        with pytest.raises(grpc.RpcError) as info:
            stub.HandleReloadConfigRequest(request, timeout=60)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "Only ModelConfigList is currently supported" in info.value.details()
        for text, message in [
            (
                entry("a", "relative/a"),
                "Expected model a to have an absolute path or URI; got base_path()=relative/a",
            ),
            (entry("h", export_base / "half") * 2, "Illegal to list model h multiple times in config list"),
            (
                f'config {{ name: "p" base_path: "{export_base / "half"}" model_platform: "torch" }}',
                "Model p requests unsupported platform torch",
            ),
        ]:
            request.config.CopyFrom(config_list(f"model_config_list {{ {text} }}"))
            with pytest.raises(grpc.RpcError) as info:
                stub.HandleReloadConfigRequest(request, timeout=60)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert message in info.value.details()
        request.config.CopyFrom(
            config_list(f"model_config_list {{ {entry('image', export_base / 'image')} }}")
        )
        response = stub.HandleReloadConfigRequest(request, timeout=60)
        assert response.status.error_code == 0 and response.status.error_message == ""
    assert server.manager.model_names == ["image"]
    assert server.manager.resolve("image").version == 1


def test_config_file_is_polled(server: ModelServer, export_base: Path) -> None:
    path = Path(server.options.model_config_file)
    path.write_text("model_config_list { this is not a config }")
    assert not server.reload_config_file()  # logged, the old config keeps serving
    path.write_text(
        f"model_config_list {{ {entry('half', export_base / 'half')}{entry('image', export_base / 'image')} }}"
    )
    deadline = time.monotonic() + 60
    while not available(server.manager, "image") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.manager.resolve("image").version == 1


def test_flags_reach_the_server_options() -> None:
    flags = parse_flags(
        [
            "--model_config_file=/x/models.config",
            "--model_config_file_poll_wait_seconds=5",
            "--allow_version_labels_for_unavailable_models",
            "--enable_signature_method_name_check=true",
        ]
    )
    options = options_from_flags(flags)
    assert options.model_config_file_poll_wait_seconds == 5
    assert options.allow_version_labels_for_unavailable_models
    assert options.enable_signature_method_name_check


def test_reload_rejects_platform_change(export_base: Path) -> None:
    manager = ModelManager(
        models(config_list(f"model_config_list {{ {entry('half', export_base / 'half')} }}"))
    )
    manager.load_initial()
    changed = config_list(
        f'model_config_list {{ config {{ name: "half" base_path: "{export_base / "half"}" model_platform: "tf2" }} }}'
    )
    with pytest.raises(InvalidArgumentError, match="Illegal to change a model's platform"):
        manager.reload_config(models(changed))
    manager.stop()
