"""Training callbacks: best-model keeping with early stopping that survives restarts, and progress."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import keras

__all__ = ["BestModelKeeper", "Progress", "monitor_mode"]

logger = logging.getLogger(__name__)


def monitor_mode(monitor: str) -> str:
    """`min` for losses and errors, `max` for everything else (accuracy, f1, map, iou...)."""
    name = monitor.lower()
    return "min" if any(word in name for word in ("loss", "error", "wer", "cer", "mae", "mse")) else "max"


class BestModelKeeper(keras.callbacks.Callback):
    """Save the model whenever `monitor` improves, and stop after `patience` epochs without improvement.

    Unlike Keras' ModelCheckpoint + EarlyStopping, the best value and the epochs since it are kept in
    a JSON file next to the model, so a run resumed after a crash keeps comparing against the true
    best and counts patience across the restart.

    Args:
        monitor: log key to watch, e.g. `val_accuracy`.
        model_path: where the best model is saved (`.keras`).
        state_path: JSON file holding `{"best", "best_epoch", "wait"}`.
        patience: epochs without improvement before stopping; 0 disables early stopping.
        write: False on non-chief workers (they only follow the decision).
    """

    def __init__(
        self, monitor: str, model_path: Path, state_path: Path, patience: int = 0, write: bool = True
    ):
        super().__init__()
        self.monitor = monitor
        self.mode = monitor_mode(monitor)
        self.model_path = Path(model_path)
        self.state_path = Path(state_path)
        self.patience = patience
        self.write = write
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = -1
        self.wait = 0

    def on_train_begin(self, logs=None):
        if self.state_path.exists():
            state = json.loads(self.state_path.read_text())
            self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]

    def _improved(self, value: float) -> bool:
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            available = ", ".join(sorted(logs))
            raise KeyError(
                f"train.monitor '{self.monitor}' is not among the logged metrics: {available}. "
                f"Received: monitor='{self.monitor}'"
            )
        value = float(logs[self.monitor])
        if self._improved(value):
            logger.info(
                "epoch %d: %s improved to %.5g; saving %s", epoch + 1, self.monitor, value, self.model_path
            )
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.write:
                tmp = self.model_path.with_name(self.model_path.stem + ".tmp.keras")
                self.model.save(tmp)
                tmp.replace(self.model_path)
        else:
            self.wait += 1
        if self.write:
            tmp_state = self.state_path.with_suffix(".tmp")
            tmp_state.write_text(
                json.dumps({"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait})
            )
            tmp_state.replace(self.state_path)
        if self.patience and self.wait >= self.patience:
            logger.info("Early stopping: no improvement of %s for %d epoch(s)", self.monitor, self.wait)
            self.model.stop_training = True


class Progress(keras.callbacks.Callback):
    """Log a progress line with throughput (examples/s) and ETA every `every_seconds` and per epoch.

    Args:
        epochs: total epochs of the run.
        steps_per_epoch: steps in one epoch.
        global_batch_size: examples per step across all replicas.
        every_seconds: minimum seconds between in-epoch lines.
    """

    def __init__(
        self, epochs: int, steps_per_epoch: int, global_batch_size: int, every_seconds: float = 10.0
    ):
        super().__init__()
        self.epochs = epochs
        self.steps = steps_per_epoch
        self.batch = global_batch_size
        self.every = every_seconds
        self._epoch = 0
        self._initial_epoch = 0

    def on_train_begin(self, logs=None):
        self._train_start = time.monotonic()
        self._steps_done = 0

    def on_epoch_begin(self, epoch, logs=None):
        if self._steps_done == 0:
            self._initial_epoch = epoch
        self._epoch = epoch
        self._epoch_start = self._last = time.monotonic()
        self._val_seconds = 0.0

    def on_test_begin(self, logs=None):
        self._val_start = time.monotonic()

    def on_test_end(self, logs=None):
        self._val_seconds = time.monotonic() - self._val_start

    def _eta(self, step_in_epoch: int) -> str:
        elapsed = time.monotonic() - self._train_start
        remaining = (self.epochs - self._epoch) * self.steps - step_in_epoch
        seconds = elapsed / max(self._steps_done, 1) * max(remaining, 0)
        return time.strftime("%H:%M:%S", time.gmtime(seconds))

    @staticmethod
    def _metrics(logs) -> str:
        return "  ".join(
            f"{k} {float(v):.4g}" for k, v in (logs or {}).items() if not k.startswith("learning_rate")
        )

    def on_train_batch_end(self, batch, logs=None):
        self._steps_done += 1
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            rate = (batch + 1) * self.batch / max(now - self._epoch_start, 1e-9)
            logger.info(
                "epoch %d/%d  step %d/%d  %.0f ex/s  ETA %s  %s",
                self._epoch + 1,
                self.epochs,
                batch + 1,
                self.steps,
                rate,
                self._eta(batch + 1),
                self._metrics(logs),
            )

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.monotonic() - self._epoch_start
        # Throughput of the training steps alone; validation time is reported on its own.
        rate = self.steps * self.batch / max(seconds - self._val_seconds, 1e-9)
        logger.info(
            "epoch %d/%d done in %.1fs (validation %.1fs)  %.0f ex/s  ETA %s  %s",
            epoch + 1,
            self.epochs,
            seconds,
            self._val_seconds,
            rate,
            self._eta(self.steps),
            self._metrics(logs),
        )
