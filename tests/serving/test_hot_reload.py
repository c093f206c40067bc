"""Hot reload under load: a new version is copied in and the old one removed while clients send
requests at a steady rate over REST and gRPC; no request fails and answers switch over cleanly."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import export_half

from tfapps.serving.clients import GrpcClient, RestClient
from tfapps.serving.server import ModelServer, ServerOptions

REQUEST_GAP_S = 0.005  # a steady ~200 requests/s per client
MAX_REQUESTS = 5000  # bounded even if the reload stalls
WAIT_S = 60


class SteadyClient(threading.Thread):
    """Predicts x=[[1.0]] at a steady rate, recording each answer (2.5 on v1, 3.5 on v2) or error."""

    def __init__(self, predict):
        super().__init__(daemon=True)
        self.predict = predict
        self.answers: list[float] = []
        self.errors: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set() and len(self.answers) + len(self.errors) < MAX_REQUESTS:
            try:
                y = self.predict({"x": np.array([[1.0]], np.float32)})["y"]
                self.answers.append(float(np.asarray(y).ravel()[0]))
            except Exception as exc:  # every failure counts against the test
                self.errors.append(repr(exc))
            time.sleep(REQUEST_GAP_S)


def _wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.serving
def test_new_version_replaces_old_under_load_without_failures(tmp_path: Path) -> None:
    base = tmp_path / "half"
    export_half(base / "1", 2.0)
    staged = export_half(tmp_path / "staging" / "2", 3.0)  # written outside the base path first
    options = ServerOptions(
        model_name="half", model_base_path=base, grpc_port=0, rest_port=0, file_system_poll_wait_seconds=0.1
    )
    with ModelServer(options) as server, GrpcClient(f"127.0.0.1:{server.grpc_port}") as grpc_client:
        rest = RestClient(f"http://127.0.0.1:{server.rest_port}")
        clients = [
            SteadyClient(lambda inputs: rest.predict("half", inputs)),
            SteadyClient(lambda inputs: grpc_client.predict("half", inputs)),
        ]
        for client in clients:
            client.start()
        try:
            _wait_for(lambda: all(len(c.answers) >= 20 for c in clients), "traffic on version 1")
            os.replace(staged, base / "2")  # atomic appearance, as `tfapps export` does it
            _wait_for(
                lambda: all(c.answers and c.answers[-1] == 3.5 for c in clients), "answers from version 2"
            )
            shutil.rmtree(base / "1")
            _wait_for(
                lambda: (
                    {s["version"]: s["state"] for s in rest.status("half")["model_version_status"]}.get("1")
                    == "END"
                ),
                "version 1 to be unloaded",
            )
            sent = [len(c.answers) for c in clients]
            _wait_for(
                lambda: all(len(c.answers) >= n + 20 for c, n in zip(clients, sent, strict=True)),
                "traffic after the unload",
            )
        finally:
            for client in clients:
                client.done.set()
                client.join(timeout=WAIT_S)
    for client in clients:
        assert client.errors == []
        assert set(client.answers) == {2.5, 3.5}
        # One client sends one request at a time: once version 2 answers, version 1 never does again.
        first_v2 = client.answers.index(3.5)
        assert all(answer == 3.5 for answer in client.answers[first_v2:])
