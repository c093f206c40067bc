"""tensorflow_model_server-style flags and the `tfapps serve` entry point."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tfapps.apps.errors import UsageError
from tfapps.serving.server import main
from tfapps.serving.server.app import options_from_flags
from tfapps.serving.server.flags import Flags, parse_flags


def test_defaults_are_tf_serving_defaults() -> None:
    flags = parse_flags([])
    assert (flags.port, flags.rest_api_port, flags.model_name, flags.host) == (
        8500,
        0,
        "default",
        "127.0.0.1",
    )
    assert flags.enable_model_warmup and flags.file_system_poll_wait_seconds == 1
    assert flags.rest_api_timeout_in_ms == 30000


def test_value_syntaxes() -> None:
    flags = parse_flags(
        [
            "--port=9000",
            "--rest_api_port",
            "9001",
            "-model_name=m",
            "--enable_batching",
            "--enable_model_warmup=false",
            "--model_base_path",
            "/x",
        ]
    )
    assert (flags.port, flags.rest_api_port, flags.model_name, flags.model_base_path) == (
        9000,
        9001,
        "m",
        "/x",
    )
    assert flags.enable_batching and not flags.enable_model_warmup
    assert not parse_flags(["--noenable_model_warmup"]).enable_model_warmup
    assert parse_flags(["--enable_model_warmup=TRUE"]).enable_model_warmup


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prot=1"], "Unknown flag --prot. Did you mean --port?"),
        (["--port=abc"], "expects an integer"),
        (["--enable_batching=maybe"], "expects true or false"),
        (["--model_name"], "needs a value"),
        (["serve"], "Unexpected positional argument"),
    ],
)
def test_bad_command_lines(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_flags(argv)


def test_cli_port_semantics() -> None:
    options = options_from_flags(Flags(model_base_path="/x/m"))
    assert (options.grpc_port, options.rest_port) == (8500, None)  # REST off by default, like TF Serving
    assert options_from_flags(Flags(model_base_path="/x", rest_api_port=8501)).rest_port == 8501
    with pytest.raises(UsageError, match="grpc_socket_path must be set"):
        options_from_flags(Flags(model_base_path="/x", port=0))
    with pytest.raises(UsageError, match="must be in 0..65535"):
        options_from_flags(Flags(model_base_path="/x", rest_api_port=70000))


def test_thread_pool_flags_follow_tf_serving() -> None:
    def pools(**flags: int) -> tuple[int, int]:
        options = options_from_flags(Flags(model_base_path="/x", **flags))
        return options.intra_op_threads, options.inter_op_threads

    assert pools() == (0, 0)  # TensorFlow's own choice
    assert pools(tensorflow_intra_op_parallelism=1, tensorflow_inter_op_parallelism=2) == (1, 2)
    assert pools(tensorflow_session_parallelism=3) == (3, 3)
    assert pools(tensorflow_intra_op_parallelism=1) == (1, 0)  # the other pool stays automatic
    with pytest.raises(UsageError, match="Both configurations are not supported"):
        pools(
            tensorflow_session_parallelism=2,
            tensorflow_intra_op_parallelism=1,
            tensorflow_inter_op_parallelism=1,
        )
    with pytest.raises(UsageError, match="must be >= 0"):
        pools(tensorflow_inter_op_parallelism=-1)


def test_thread_count_flags() -> None:
    defaults = options_from_flags(Flags(model_base_path="/x"))
    assert defaults.rest_api_num_threads == 4 * (os.cpu_count() or 1)  # TF Serving's default
    options = options_from_flags(Flags(model_base_path="/x", rest_api_num_threads=3, grpc_max_threads=5))
    assert (options.rest_api_num_threads, options.grpc_max_workers) == (3, 5)


def test_main_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--bogus"]) == 2
    assert "Unknown flag --bogus" in capsys.readouterr().err
    assert main(["--port=1"]) == 2  # neither base path nor config file
    assert main([f"--model_base_path={tmp_path / 'missing'}", "--port=1"]) == 1
    assert "Failed to start server. Error: Could not find base path" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "--model_base_path" in capsys.readouterr().out


@pytest.mark.serving
def test_serve_process_logs_ports_and_thread_pools_and_stops_on_sigterm(export_base: Path) -> None:
    # The CLI refuses --port=0 (TF Serving semantics), so ask the OS for two free ports first.
    with socket.socket() as s1, socket.socket() as s2:
        s1.bind(("127.0.0.1", 0))
        s2.bind(("127.0.0.1", 0))
        grpc_port, rest_port = s1.getsockname()[1], s2.getsockname()[1]
    code = "import sys; from tfapps.serving.server import main; sys.exit(main(sys.argv[1:]))"
    argv = [
        sys.executable,
        "-c",
        code,
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        "--model_name=half",
        "--tensorflow_intra_op_parallelism=1",
        "--tensorflow_inter_op_parallelism=2",
    ]
    argv.append(f"--model_base_path={export_base / 'half'}")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    try:
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if "Exporting HTTP/REST API at:" in line:
                break
        assert any(f"Running gRPC ModelServer at 127.0.0.1:{grpc_port}" in line for line in seen), seen
        # Read back from TensorFlow after setting them, before any model loaded.
        assert any("TensorFlow thread pools: intra_op=1 inter_op=2" in line for line in seen), seen
        assert f"127.0.0.1:{rest_port}" in seen[-1]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
