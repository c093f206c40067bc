"""The trainer: resume after a kill, best model and early stopping across restarts, optimizers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from tfapps.apps import runs
from tfapps.apps.config import resolve
from tfapps.apps.errors import ConfigError, NotFoundError
from tfapps.apps.image_classification import TASK
from tfapps.pipelines.callbacks import BestModelKeeper, monitor_mode
from tfapps.pipelines.trainer import build_optimizer, load_best_model, monitor_key


def _epochs_done(run_dir: Path) -> int:
    meta = run_dir / "backup" / "local" / "training_metadata.json"
    try:
        return json.loads(meta.read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def test_resume_after_kill_continues_from_the_last_completed_epoch(tmp_path, shapes_dir):
    run_dir = tmp_path / "run"
    epochs = 40
    command = [
        sys.executable,
        "-m",
        "tfapps.apps.cli",
        "train",
        "image_classification",
        "--data",
        str(shapes_dir),
        "--run-dir",
        str(run_dir),
        "--preset",
        "tiny",
        "--set",
        f"train.epochs={epochs}",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while _epochs_done(run_dir) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # no chance to clean up: a crash, a pre-empted VM
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done_at_kill = _epochs_done(run_dir)
    assert 2 <= done_at_kill < epochs
    # The previous epoch's backup is kept beside the latest, for a kill in the middle of writing one.
    assert (run_dir / "backup" / "local" / "latest.weights.h5.bkp").is_file()
    best_before = json.loads((run_dir / "best_state.json").read_text())

    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    history = json.loads((run_dir / "history.json").read_text())
    # Only the epochs not completed before the kill were trained again.
    assert len(history["loss"]) == epochs - done_at_kill
    assert _epochs_done(run_dir) == epochs
    best_after = json.loads((run_dir / "best_state.json").read_text())
    assert best_after["best"] >= best_before["best"]  # the best value seen before the kill is kept

    # Running the finished command again trains nothing more.
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0
    assert json.loads((run_dir / "history.json").read_text()) == {}


def test_best_model_keeper_survives_restart_and_stops_early(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.stop_training = False  # as fit() sets it
    state = tmp_path / "state.json"
    keeper = BestModelKeeper("val_loss", tmp_path / "best.keras", state, patience=2)
    keeper.set_model(model)
    keeper.on_train_begin()
    keeper.on_epoch_end(0, {"val_loss": 1.0})
    keeper.on_epoch_end(1, {"val_loss": 1.5})
    assert (tmp_path / "best.keras").is_file() and not model.stop_training

    restarted = BestModelKeeper("val_loss", tmp_path / "best.keras", state, patience=2)
    restarted.set_model(model)
    restarted.on_train_begin()
    assert (restarted.best, restarted.best_epoch, restarted.wait) == (1.0, 0, 1)
    restarted.on_epoch_end(2, {"val_loss": 1.2})  # worse than the best before the restart
    assert model.stop_training  # patience counted across the restart

    with pytest.raises(KeyError, match="train.monitor 'val_loss' is not among"):
        restarted.on_epoch_end(3, {"loss": 1.0})


@pytest.mark.parametrize(
    ("name", "mode"),
    [("val_loss", "min"), ("val_accuracy", "max"), ("val_wer", "min"), ("val_map_50", "max")],
)
def test_monitor_mode(name, mode):
    assert monitor_mode(name) == mode


def test_monitor_key_defaults_to_the_primary_metric():
    config = resolve(TASK.config_cls, TASK.presets)
    assert monitor_key(TASK, config) == "val_accuracy"
    config = resolve(TASK.config_cls, TASK.presets, overrides=["train.monitor=loss"])
    assert monitor_key(TASK, config) == "val_loss"


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("adamw", keras.optimizers.AdamW),
        ("adam", keras.optimizers.Adam),
        ("sgd", keras.optimizers.SGD),
        ("rmsprop", keras.optimizers.RMSprop),
    ],
)
def test_build_optimizer(name, cls):
    config = resolve(
        TASK.config_cls,
        TASK.presets,
        overrides=[
            f"train.optimizer={name}",
            "train.clipnorm=1.0",
            "train.warmup_epochs=1",
            "train.epochs=3",
        ],
    )
    optimizer = build_optimizer(config.train, steps_per_epoch=10)
    assert type(optimizer) is cls
    assert optimizer.global_clipnorm == 1.0
    schedule = optimizer.learning_rate if callable(optimizer.learning_rate) else optimizer._learning_rate
    rates = [float(schedule(step)) for step in (0, 9, 29)]
    assert rates[0] < rates[1] == pytest.approx(config.train.learning_rate)  # warm-up over the first epoch
    assert rates[2] < 0.05 * config.train.learning_rate  # cosine ends near zero


def test_init_weights_loads_matching_layers(tmp_path, shapes_dir):
    first = runs.train_run("image_classification", tmp_path / "a", preset="tiny", data=str(shapes_dir))
    source = load_best_model(first.run_dir)
    second = runs.train_run(
        "image_classification",
        tmp_path / "b",
        preset="tiny",
        data=str(shapes_dir),
        overrides=[
            f"train.init_weights={first.best_model}",
            "train.learning_rate=1e-9",
            "train.optimizer=sgd",
            "train.weight_decay=0",
        ],
    )
    loaded = load_best_model(second.run_dir)
    # With a negligible learning rate the trainable weights stay those it was initialised from
    # (batch-norm moving statistics still move with the data, so they are not compared).
    for want, got in zip(source.trainable_weights, loaded.trainable_weights, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)

    with pytest.raises(NotFoundError, match="does not exist"):
        runs.train_run(
            "image_classification",
            tmp_path / "c",
            preset="tiny",
            data=str(shapes_dir),
            overrides=[f"train.init_weights={tmp_path / 'missing.weights.h5'}"],
        )


def test_runtime_seed_repeats_a_run_and_none_draws_afresh(tmp_path, shapes_dir):
    def train(name: str, *overrides: str):
        result = runs.train_run(
            "image_classification",
            tmp_path / name,
            preset="tiny",
            data=str(shapes_dir),
            overrides=["train.epochs=1", *overrides],
        )
        return result.history["loss"], load_best_model(result.run_dir).trainable_weights

    first_loss, first = train("a", "runtime.seed=7")
    second_loss, second = train("b", "runtime.seed=7")
    np.testing.assert_allclose(second_loss, first_loss, rtol=1e-5)
    for want, got in zip(first, second, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    _, unseeded = train("c", "runtime.seed=null")
    assert not all(np.allclose(a.numpy(), b.numpy()) for a, b in zip(first, unseeded, strict=True))


def test_batch_size_must_divide_across_replicas(tmp_path, shapes_dir):
    with pytest.raises(ConfigError, match="divisible by the number of replicas"):
        runs.train_run(
            "image_classification",
            tmp_path / "r",
            preset="tiny",
            data=str(shapes_dir),
            overrides=["runtime.distribution_strategy=mirrored", "train.batch_size=7"],
        )


def test_evaluate_and_export_need_a_trained_run(tmp_path):
    with pytest.raises(NotFoundError, match="Not a tfapps run directory"):
        runs.export_run(tmp_path, tmp_path / "export")


@pytest.mark.serving
def test_mixed_precision_and_xla_switches_train_and_export(tmp_path, shapes_dir):
    result = runs.train_run(
        "image_classification",
        tmp_path / "run",
        preset="tiny",
        data=str(shapes_dir),
        overrides=["runtime.mixed_precision=true", "runtime.jit_compile=true"],
    )
    assert np.isfinite(result.history["loss"]).all()
    model = load_best_model(result.run_dir)
    assert model.get_layer("logits").dtype_policy.compute_dtype == "float32"  # stable softmax and loss
    assert any(layer.dtype_policy.compute_dtype == "bfloat16" for layer in model._flatten_layers())
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored afterwards
    # The export's parity check passes with reduced-precision layers, and the outputs are float32.
    version_dir = runs.export_run(result.run_dir, tmp_path / "export")
    assert (version_dir / "saved_model.pb").is_file()


def test_two_different_models_train_under_mirrored_strategies_in_one_process() -> None:
    # A second MirroredStrategy on the CPUs used to reuse the first one's collective keys and
    # abort with "Shape mismatch in the collective instance" once the model differed.
    from tfapps.pipelines.strategy import resolve_strategy

    for width in (3, 11):
        strategy = resolve_strategy("mirrored")
        with strategy.scope():
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(width), keras.layers.Dense(1)])
            model.compile(optimizer="adam", loss="mse")
        history = model.fit(np.ones((16, 4)), np.ones((16, 1)), batch_size=8, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
