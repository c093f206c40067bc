"""Learning-rate schedules with linear warm-up (serialisable, so checkpoints resume exactly)."""

from __future__ import annotations

import math

import keras
from keras import ops

__all__ = ["WarmupSchedule"]


@keras.saving.register_keras_serializable(package="tfapps")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak`, then constant, cosine decay to zero, or step decay.

    Args:
        peak: learning rate reached at the end of warm-up.
        total_steps: steps of the whole run (cosine reaches 0 here).
        warmup_steps: linear warm-up steps (0 disables).
        kind: `constant`, `cosine` or `step`.
        step_size: steps between decays for `step`.
        gamma: decay factor for `step`.
    """

    def __init__(self, peak, total_steps, warmup_steps=0, kind="cosine", step_size=1, gamma=0.1):
        self.peak = float(peak)
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = max(int(warmup_steps), 0)
        self.kind = kind
        self.step_size = max(int(step_size), 1)
        self.gamma = float(gamma)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        if self.kind == "cosine":
            span = max(self.total_steps - self.warmup_steps, 1)
            progress = ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
            rate = 0.5 * self.peak * (1.0 + ops.cos(math.pi * progress))
        elif self.kind == "step":
            decays = ops.floor(ops.maximum(step - self.warmup_steps, 0.0) / self.step_size)
            rate = self.peak * ops.power(self.gamma, decays)
        else:
            rate = ops.convert_to_tensor(self.peak, "float32") + 0.0 * step
        if self.warmup_steps:
            warm = self.peak * (step + 1.0) / self.warmup_steps
            rate = ops.where(step < self.warmup_steps, warm, rate)
        return rate

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "kind": self.kind,
            "step_size": self.step_size,
            "gamma": self.gamma,
        }
