"""SIGTERM while a request is in flight: the request is answered, then the server exits 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.serving
def test_sigterm_answers_the_request_in_flight_then_exits_0(export_base: Path, tmp_path: Path) -> None:
    # A batch that waits up to 3 s to fill holds the request inside the server when SIGTERM arrives.
    params = tmp_path / "batching.config"
    params.write_text(
        "max_batch_size { value: 64 }\nbatch_timeout_micros { value: 3000000 }\n"
        "num_batch_threads { value: 1 }\n"
    )
    grpc_port, rest_port = _free_ports(2)
    code = "import sys; from tfapps.serving.server import main; sys.exit(main(sys.argv[1:]))"
    argv = [
        sys.executable,
        "-c",
        code,
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        "--model_name=half",
        f"--model_base_path={export_base / 'half'}",
        "--enable_batching",
        f"--batching_parameters_file={params}",
    ]
    proc = subprocess.Popen(
        argv, stderr=subprocess.PIPE, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    )
    answer: dict = {}

    def request() -> None:
        body = json.dumps({"instances": [[2.0]]}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{rest_port}/v1/models/half:predict", data=body)
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                answer["status"], answer["body"] = response.status, json.load(response)
        except Exception as exc:  # reported by the assertion below
            answer["error"] = repr(exc)

    try:
        for line in proc.stderr:
            if "Exporting HTTP/REST API at:" in line:
                break
        client = threading.Thread(target=request, daemon=True)
        client.start()
        time.sleep(0.5)  # let the request reach the batch queue (not a timing assertion)
        proc.send_signal(signal.SIGTERM)
        client.join(timeout=60)
        assert answer.get("status") == 200, answer
        assert answer["body"] == {"predictions": [[4.0]]}  # 0.5 * 2 + 3 on version 2, the latest
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stderr.close()
