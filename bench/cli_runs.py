"""Shared by the quality benchmarks: run `tfapps train` then `tfapps evaluate` through the CLI and
collect the figures (the test metrics, the best validation value, the training wall-clock)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"


def train_and_evaluate(
    task: str,
    train_data: str | Path,
    eval_data: str | Path,
    run_dir: Path,
    preset: str,
    overrides: list[str],
    val_data: str | Path | None = None,
    monitor: str = "",
) -> dict:
    """Train `task` into `run_dir`, evaluate its best model on `eval_data`; return the figures
    (with `best_val_<monitor>` when `monitor` is given and the run validated)."""
    cli = [sys.executable, "-m", "tfapps.apps.cli"]
    settings = [item for override in overrides for item in ("--set", override)]
    train = [*cli, "train", task, "--data", str(train_data), "--run-dir", str(run_dir), "--preset", preset]
    if val_data is not None:
        train += ["--val-data", str(val_data)]
    train += settings
    started = time.monotonic()
    subprocess.run(train, check=True)
    train_seconds = time.monotonic() - started
    evaluate = [*cli, "evaluate", task, "--run-dir", str(run_dir), "--data", str(eval_data)]
    metrics = json.loads(subprocess.run(evaluate, check=True, capture_output=True, text=True).stdout)
    history_file = run_dir / "history.json"
    history = json.loads(history_file.read_text()) if history_file.is_file() else {}
    figures = {
        "run_dir": str(run_dir),
        "preset": preset,
        "overrides": overrides,
        "train_seconds": round(train_seconds, 1),  # the whole train command, start-up included
        "commands": [" ".join(train), " ".join(evaluate)],
        "final_loss": history.get("loss", [None])[-1],
        "final_val_loss": history.get("val_loss", [None])[-1],
        "test": {k: None if v is None else round(v, 4) for k, v in metrics.items()},
    }
    if monitor and history.get(f"val_{monitor}"):
        figures[f"best_val_{monitor}"] = max(history[f"val_{monitor}"])
    return figures
