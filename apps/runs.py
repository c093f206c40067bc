"""Library functions behind the CLI verbs: train, evaluate and export a run directory.

A run directory is self-describing: `config.yaml` (the resolved config, with the task name)
and `best.keras` are all that evaluate and export need.

Example:
    from tfapps.apps import runs
    runs.train_run("image_classification", "runs/flowers", preset="cpu", data="data/flowers")
    print(runs.evaluate_run("runs/flowers", "data/flowers_test"))
    version_dir = runs.export_run("runs/flowers", "models", name="flowers")
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tfapps.apps import config as config_lib
from tfapps.apps.errors import ConfigError, NotFoundError
from tfapps.apps.registry import get_task

__all__ = ["CONFIG_FILE", "evaluate_run", "export_run", "load_run", "resolve_config", "train_run"]

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
TASK_FILE = "task.yaml"


def resolve_config(
    task_name: str,
    preset: str | None = None,
    files: Iterable[str | Path] = (),
    overrides: Iterable[str] = (),
    data: str | None = None,
    val_data: str | None = None,
) -> Any:
    """Resolve a task's config from its defaults, a preset, YAML files, `--data` and `--set` overrides."""
    task = get_task(task_name)
    values: dict[str, Any] = {}
    if data is not None:
        values["data.train"] = data
    if val_data is not None:
        values["data.val"] = val_data
    return config_lib.resolve(task.config_cls, task.presets, preset, files, overrides, values)


def load_run(run_dir: str | Path) -> tuple[Any, Any]:
    """Return `(task, config)` of a run directory.

    Raises:
        NotFoundError: not a run directory.
    """
    run_dir = Path(run_dir)
    task_file = run_dir / TASK_FILE
    if not task_file.is_file():
        raise NotFoundError(
            f"Not a tfapps run directory (no {TASK_FILE}); train into it first. Received: run_dir='{run_dir}'"
        )
    task_name = yaml.safe_load(task_file.read_text())["task"]
    task = get_task(task_name)
    return task, config_lib.load(task.config_cls, run_dir / CONFIG_FILE)


def train_run(
    task_name: str,
    run_dir: str | Path,
    preset: str | None = None,
    files: Iterable[str | Path] = (),
    overrides: Iterable[str] = (),
    data: str | None = None,
    val_data: str | None = None,
    progress_every: float = 10.0,
):
    """Resolve the config, fill in what the data determines, save it, and train (or resume).

    Returns:
        The trainer's `TrainResult`.
    """
    from tfapps.pipelines import trainer
    from tfapps.pipelines.strategy import is_chief, resolve_strategy

    task = get_task(task_name)
    run_dir = Path(run_dir)
    config = resolve_config(task_name, preset, files, overrides, data, val_data)
    # Before any TensorFlow work (reading the data runs TF ops): see resolve_strategy.
    strategy = resolve_strategy(config.runtime.distribution_strategy)
    task_file = run_dir / TASK_FILE
    if task_file.is_file() and yaml.safe_load(task_file.read_text()).get("task") != task_name:
        raise ConfigError(
            f"This run directory belongs to another task; use a new --run-dir. Received: run_dir='{run_dir}', "
            f"task='{task_name}'"
        )
    config = task.resolve_data(config)
    if is_chief():
        run_dir.mkdir(parents=True, exist_ok=True)
        task_file.write_text(yaml.safe_dump({"task": task_name}))
        config_lib.dump(config, run_dir / CONFIG_FILE)
    return trainer.train(task, config, run_dir, progress_every=progress_every, strategy=strategy)


def evaluate_run(run_dir: str | Path, data: str) -> Mapping[str, float]:
    """Evaluate a run's best model on all of `data`; artefacts go to `<run_dir>/eval/`."""
    from tfapps.pipelines.trainer import load_best_model

    task, config = load_run(run_dir)
    model = load_best_model(run_dir)
    return task.evaluate(model, config, data, Path(run_dir) / "eval")


def export_run(
    run_dir: str | Path, export_dir: str | Path, name: str | None = None, version: int | None = None
) -> Path:
    """Export a run's best model as `<export_dir>/<name>/<version>/` (checked) and return that path."""
    from tfapps.pipelines.trainer import load_best_model
    from tfapps.serving.export import export_model

    task, config = load_run(run_dir)
    model = load_best_model(run_dir)
    metadata = {
        "task": task.name,
        "labels": list(getattr(config.data, "class_names", ())),
        "config": config_lib.to_dict(config),
    }
    return export_model(
        model,
        task.signatures(model, config),
        task.sample_request(config),
        export_dir,
        name or task.name,
        version=version,
        metadata=metadata,
    )
