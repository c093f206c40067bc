"""Two-worker MultiWorkerMirroredStrategy training on localhost (two processes, TF_CONFIG)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from tfapps.pipelines.synthetic import write_shapes_dataset


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.distributed
def test_two_worker_training_agrees_and_writes_one_run(tmp_path):
    data = write_shapes_dataset(tmp_path / "data", images_per_class=10, size=32)
    workers = [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]
    run_dir = tmp_path / "run"
    procs = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_CONFIG": json.dumps(
                {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            ),
        }
        command = [
            sys.executable,
            "-m",
            "tfapps.apps.cli",
            "train",
            "image_classification",
            "--data",
            str(data),
            "--run-dir",
            str(run_dir),
            "--preset",
            "tiny",
            "--set",
            "train.epochs=2",
            "--set",
            "runtime.distribution_strategy=auto",  # auto must pick multi-worker from TF_CONFIG
        ]
        procs.append(
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            results.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            proc.kill()
    for code, _out, err in results:
        assert code == 0, err[-3000:]
        assert "num_workers = 2" in err and "with 2 replica(s)" in err
    summaries = [json.loads(out.strip().splitlines()[-1]) for _, out, _ in results]
    # Metrics are reduced across workers, so both report the same best value.
    assert summaries[0]["val_accuracy"] == summaries[1]["val_accuracy"]
    assert (run_dir / "best.keras").is_file() and (run_dir / "config.yaml").is_file()
    assert sorted(p.name for p in (run_dir / "backup").iterdir()) == ["worker-0", "worker-1"]
    history = json.loads((run_dir / "history.json").read_text())
    assert len(history["loss"]) == 2
