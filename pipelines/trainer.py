"""The one training loop: strategy, distributed datasets, resume, best model, early stopping, logs.

`train(task, config, run_dir)` runs `keras.Model.fit` under the resolved tf.distribute strategy.
Kill it at any point and run it again with the same run directory: it continues from the last
completed epoch (BackupAndRestore), keeps comparing against the best value seen so far, and counts
early-stopping patience across the restart.

Run directory::

    <run_dir>/best.keras            best model by train.monitor (what evaluate and export use)
    <run_dir>/best_state.json       best value, its epoch, epochs since improvement
    <run_dir>/backup/<worker>/      resume state (weights, optimizer, epoch)
    <run_dir>/logs/                 TensorBoard
    <run_dir>/history.json          per-epoch metrics of the last call
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from tfapps.apps.errors import ConfigError, NotFoundError, TrainingError
from tfapps.models.schedules import WarmupSchedule
from tfapps.pipelines.callbacks import BestModelKeeper, Progress
from tfapps.pipelines.keras_compat import prepare_multi_worker_fit
from tfapps.pipelines.strategy import is_chief, resolve_strategy

__all__ = ["BEST_MODEL", "TrainResult", "build_optimizer", "load_best_model", "monitor_key", "train"]

logger = logging.getLogger(__name__)

BEST_MODEL = "best.keras"


@dataclasses.dataclass
class TrainResult:
    """What a training run produced."""

    run_dir: Path
    best_model: Path
    best_value: float
    monitor: str
    history: dict[str, list[float]]
    epochs_completed: int


def monitor_key(task: Any, config: Any) -> str:
    """The Keras log key of `train.monitor`, or of the task's primary metric (`accuracy` → `val_accuracy`)."""
    monitor = config.train.monitor or task.primary_metric
    return monitor if monitor.startswith("val_") else f"val_{monitor}"


def build_optimizer(train_config: Any, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """Build the optimizer with its warm-up schedule from the `train` config section."""
    total = max(int(train_config.epochs * steps_per_epoch), 1)
    schedule = WarmupSchedule(
        peak=train_config.learning_rate,
        total_steps=total,
        warmup_steps=int(round(train_config.warmup_epochs * steps_per_epoch)),
        kind=train_config.lr_schedule,
        step_size=max(int(train_config.step_epochs * steps_per_epoch), 1),
        gamma=train_config.step_gamma,
    )
    common: dict[str, Any] = {"learning_rate": schedule}
    if train_config.clipnorm > 0:
        common["global_clipnorm"] = train_config.clipnorm
    decay = train_config.weight_decay or None
    name = train_config.optimizer
    if name == "adamw":
        return keras.optimizers.AdamW(weight_decay=decay or 0.0, **common)
    if name == "adam":
        return keras.optimizers.Adam(**common)
    if name == "sgd":
        return keras.optimizers.SGD(momentum=0.9, nesterov=True, weight_decay=decay, **common)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(weight_decay=decay, **common)
    raise ConfigError(
        f"Unknown optimizer. Expected adamw, adam, sgd or rmsprop. Received: train.optimizer={name!r}"
    )


def _load_init_weights(model: keras.Model, path: str) -> None:
    file = Path(path)
    if not file.is_file():
        raise NotFoundError(f"train.init_weights file does not exist. Received: train.init_weights='{path}'")
    if file.name.endswith(".weights.h5"):
        # skip_mismatch: a backbone's weights load into a model whose head has another class count.
        model.load_weights(str(file), skip_mismatch=True)
    elif file.suffix == ".keras":
        source = keras.saving.load_model(str(file), compile=False)
        by_name = {layer.name: layer for layer in source._flatten_layers()}
        copied = 0
        for layer in model._flatten_layers():
            other = by_name.get(layer.name)
            if other is None or not layer.weights or layer is model:
                continue
            if [w.shape for w in layer.weights] == [w.shape for w in other.weights]:
                layer.set_weights(other.get_weights())
                copied += 1
        logger.info("Initialised %d layer(s) from %s", copied, file)
    else:
        raise ConfigError(
            f"train.init_weights must be a .weights.h5 or .keras file. Received: train.init_weights='{path}'"
        )


def _worker_name() -> str:
    task = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}").get("task", {})
    return f"{task['type']}-{task.get('index', 0)}" if task else "local"


def _mixed_precision_policy() -> str:
    return "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"


def load_best_model(run_dir: str | Path) -> keras.Model:
    """Load the best model a run saved.

    Raises:
        NotFoundError: the run directory holds no best model (not trained, or not a run dir).
    """
    path = Path(run_dir) / BEST_MODEL
    if not path.is_file():
        raise NotFoundError(
            f"No trained model in this run directory (expected {BEST_MODEL}); run `tfapps train` first. "
            f"Received: run_dir='{run_dir}'"
        )
    return keras.saving.load_model(str(path), compile=False)


def train(
    task: Any,
    config: Any,
    run_dir: str | Path,
    progress_every: float = 10.0,
    strategy: tf.distribute.Strategy | None = None,
) -> TrainResult:
    """Train `task` with `config` (data fields already resolved) into `run_dir`.

    Args:
        task: a `tfapps.apps.task.Task`.
        config: the resolved config; `task.resolve_data` must already have filled data-derived fields.
        run_dir: the run directory (created; reused to resume).
        progress_every: seconds between in-epoch progress lines.
        strategy: an already resolved strategy (multi-worker needs it created before the data is
            read); None resolves `runtime.distribution_strategy` here.

    Returns:
        A `TrainResult`.

    Raises:
        TrainingError: the loss became NaN, or resume state does not fit the model.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    strategy = strategy or resolve_strategy(config.runtime.distribution_strategy)
    chief = is_chief()
    global_batch = config.train.batch_size
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise ConfigError(
            f"train.batch_size must be divisible by the number of replicas ({replicas}). "
            f"Received: train.batch_size={global_batch}"
        )
    if config.runtime.seed is not None:
        keras.utils.set_random_seed(config.runtime.seed)
    probe = task.make_datasets(config)
    steps_per_epoch = max(probe.train_examples // global_batch, 1)
    validation_steps = math.ceil(probe.val_examples / global_batch) if probe.val is not None else None
    del probe

    previous_policy = keras.config.dtype_policy()
    if config.runtime.mixed_precision:
        keras.mixed_precision.set_global_policy(_mixed_precision_policy())
    try:
        with strategy.scope():
            model = task.build_model(config)
            if config.train.init_weights:
                _load_init_weights(model, config.train.init_weights)
            # Optional unsupervised pretraining (masked-LM for text tasks) of the new model's
            # weights, before the supervised fit; a resumed run restores its checkpoint over it.
            pretrain = getattr(task, "pretrain", None)
            if pretrain is not None:
                pretrain(model, config)
            model.compile(
                optimizer=build_optimizer(config.train, steps_per_epoch),
                loss=task.loss(config),
                metrics=task.metrics(config),
                jit_compile=config.runtime.jit_compile,
            )
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            prepare_multi_worker_fit(model, strategy, next(iter(task.make_datasets(config).train)))
        train_data = strategy.distribute_datasets_from_function(
            lambda ctx: task.make_datasets(config, ctx).train
        )
        val_data = (
            strategy.distribute_datasets_from_function(lambda ctx: task.make_datasets(config, ctx).val)
            if validation_steps
            else None
        )
        monitor = monitor_key(task, config)
        if val_data is None:
            monitor = monitor.removeprefix("val_")
            logger.warning("No validation data: the best model is picked by training %s", monitor)
        keeper = BestModelKeeper(
            monitor,
            run_dir / BEST_MODEL,
            run_dir / "best_state.json",
            patience=config.train.early_stopping_patience,
            write=chief,
        )
        callbacks = [
            # double_checkpoint: a kill while the backup is being written leaves the previous
            # one (`*.bkp`) to resume from instead of an unreadable file.
            keras.callbacks.BackupAndRestore(
                str(run_dir / "backup" / _worker_name()), delete_checkpoint=False, double_checkpoint=True
            ),
            keeper,
            keras.callbacks.TerminateOnNaN(),
            Progress(config.train.epochs, steps_per_epoch, global_batch, every_seconds=progress_every),
        ]
        if chief:
            callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "logs"), update_freq="epoch"))
        history = model.fit(
            train_data,
            validation_data=val_data,
            epochs=config.train.epochs,
            steps_per_epoch=steps_per_epoch,
            validation_steps=validation_steps,
            callbacks=callbacks,
            shuffle=False,  # the tf.data pipeline shuffles; Keras would only warn
            verbose=0,
        )
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    logs = {k: [float(v) for v in values] for k, values in (history.history or {}).items()}
    if any(math.isnan(v) for v in logs.get("loss", [])):
        raise TrainingError(
            "Training diverged: the loss became NaN. Lower train.learning_rate or set train.clipnorm. "
            f"Received: train.learning_rate={config.train.learning_rate}"
        )
    if chief:
        (run_dir / "history.json").write_text(json.dumps(logs, indent=1))
    if not (run_dir / BEST_MODEL).is_file():
        raise TrainingError(f"Training finished without saving a best model. Received: run_dir='{run_dir}'")
    return TrainResult(
        run_dir=run_dir,
        best_model=run_dir / BEST_MODEL,
        best_value=keeper.best,
        monitor=monitor,
        history=logs,
        epochs_completed=keeper.best_epoch + 1 + keeper.wait,
    )
