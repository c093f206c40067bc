"""The task contract: what every task application provides, and the config sections they share.

A task is one folder in `apps/` whose `__init__.py` exports `TASK`, an object satisfying `Task`.
The trainer, exporter, CLI, server and the contract test find it through `tfapps.apps.registry`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from tfapps.serving.export import Signature

__all__ = [
    "DataConfig",
    "Datasets",
    "RuntimeConfig",
    "Signature",
    "Task",
    "TrainConfig",
    "batch_shapes_may_vary",
    "longest_row",
    "per_replica_batch_size",
    "validation_batches",
]


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the data is and how it is split; tasks subclass it with their own fields.

    Attributes:
        train: path of the training data (the CLI's `--data`).
        val: path of the validation data (the CLI's `--val-data`); empty means
            `validation_split` of `train` is held out.
        validation_split: fraction of `train` held out for validation when `val` is empty.
        seed: seed for splitting, shuffling and augmentation.
    """

    train: str = ""
    val: str = ""
    validation_split: float = 0.1
    seed: int = 42


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by every task.

    Attributes:
        epochs: number of epochs.
        batch_size: global batch size (split evenly across replicas).
        optimizer: optimizer name.
        learning_rate: peak learning rate.
        lr_schedule: `constant`, `cosine` (decay to 0 over the run) or `step`
            (multiply by `step_gamma` every `step_epochs`).
        warmup_epochs: linear warm-up length in epochs (fractions allowed).
        step_epochs: epochs between decays for `lr_schedule=step`.
        step_gamma: decay factor for `lr_schedule=step`.
        weight_decay: decoupled weight decay (adamw, sgd) ; 0 disables.
        clipnorm: clip each gradient to this global norm; 0 disables.
        monitor: validation metric that picks the best checkpoint and drives early
            stopping, e.g. `accuracy` or `val_loss`; empty means the task's primary metric.
        early_stopping_patience: epochs without improvement before stopping; 0 disables.
        init_weights: path of a `.weights.h5` or `.keras` file to initialise the model from.
    """

    epochs: int = 10
    batch_size: int = 64
    optimizer: Literal["adamw", "adam", "sgd", "rmsprop"] = "adamw"
    learning_rate: float = 1e-3
    lr_schedule: Literal["constant", "cosine", "step"] = "cosine"
    warmup_epochs: float = 0.0
    step_epochs: int = 10
    step_gamma: float = 0.1
    weight_decay: float = 1e-4
    clipnorm: float = 0.0
    monitor: str = ""
    early_stopping_patience: int = 0
    init_weights: str = ""


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    """Where and how the computation runs.

    Attributes:
        distribution_strategy: `auto` picks TPU, then multi-worker from `TF_CONFIG`, then
            mirrored over visible GPUs, then the default strategy.
        mixed_precision: train in `mixed_float16` (GPU) / `mixed_bfloat16` (TPU, CPU).
        jit_compile: compile the train step with XLA.
        seed: seeds Python, NumPy and TensorFlow (`keras.utils.set_random_seed`) before the
            datasets and the model are built, so weight initialisation, dropout and every random
            op without a seed of its own draw the same numbers in every run (multi-threaded
            kernels may still round differently); None (the default) draws fresh ones.
            Splitting, shuffling and seeded augmentation follow `data.seed` either way.
    """

    distribution_strategy: Literal["auto", "default", "mirrored", "multi_worker", "tpu"] = "auto"
    mixed_precision: bool = False
    jit_compile: bool = False
    seed: int | None = None


@dataclasses.dataclass
class Datasets:
    """What `Task.make_datasets` returns: per-replica batched datasets and facts about them.

    Attributes:
        train: training dataset of `(features, labels[, sample_weights])`, repeated per epoch by Keras.
        val: validation dataset, or None.
        train_examples: number of training examples (for steps per epoch and the ETA).
        val_examples: number of validation examples.
    """

    train: Any
    val: Any | None
    train_examples: int
    val_examples: int = 0


def per_replica_batch_size(config: Any, input_context: Any = None) -> int:
    """The batch one input pipeline makes: `train.batch_size` split over the replicas of
    `input_context` (a `tf.distribute.InputContext`), or all of it without one."""
    global_batch = config.train.batch_size
    return input_context.get_per_replica_batch_size(global_batch) if input_context else global_batch


def batch_shapes_may_vary(input_context: Any = None) -> bool:
    """Whether a pipeline may cut each batch to its own length (e.g. its longest text).

    Only with a single replica: Keras builds a distributed model by averaging the replicas' first
    batches, which fails when their shapes differ, so with several replicas batches keep their
    fixed length."""
    return input_context is None or input_context.num_replicas_in_sync <= 1


def longest_row(ids: Any) -> Any:
    """The number of non-padding (non-zero) ids in the longest row of a batch `[B, L]` (at least
    1): the length a batch of token ids can be cut to where `batch_shapes_may_vary`."""
    import tensorflow as tf

    return tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)), 1)


def validation_batches(ds: Any, batch_size: int, input_context: Any = None) -> Any:
    """Batch a validation `tf.data.Dataset` for `fit`: repeated, so Keras' `validation_steps`
    never runs dry. With one replica the last batch is partial (each example counted once per
    pass); with several, every batch is full (the stream wraps around), because Keras builds a
    distributed model from the replicas' first batches, which must have the same shape."""
    if batch_shapes_may_vary(input_context):
        return ds.batch(batch_size).repeat()
    return ds.repeat().batch(batch_size, drop_remainder=True)


@runtime_checkable
class Task(Protocol):
    """A task application: model, data, training objective, evaluation and serving signatures."""

    name: ClassVar[str]
    config_cls: ClassVar[type]
    presets: ClassVar[Mapping[str, Mapping[str, Any]]]
    primary_metric: ClassVar[str]

    def resolve_data(self, config: Any) -> Any:
        """Return `config` with the fields that the data determines filled in (labels, channels)."""

    def build_model(self, config: Any) -> Any:
        """Build the (uncompiled) Keras model."""

    def make_datasets(self, config: Any, input_context: Any = None) -> Datasets:
        """Build train/val datasets, sharded by `input_context` and batched per replica."""

    def loss(self, config: Any) -> Any:
        """The Keras loss."""

    def metrics(self, config: Any) -> list[Any]:
        """The Keras metrics reported during training."""

    def evaluate(self, model: Any, config: Any, data: str, out_dir: Any) -> Mapping[str, float]:
        """Evaluate on all of `data`; write artefacts under `out_dir`; return flat metrics."""

    def signatures(self, model: Any, config: Any) -> Mapping[str, Signature]:
        """Serving signatures (raw inputs in, readable answers out); must include `serving_default`."""

    def sample_request(self, config: Any) -> Mapping[str, Any]:
        """A valid request for `serving_default`: used for warm-up, parity checks and tests."""

    # Optional: `pretrain(model, config) -> None` trains the freshly built model's weights without
    # labels (e.g. masked-LM) before the supervised fit; the trainer calls it when a task has it.

    def synthetic_data(self, root: Any) -> str:
        """Write a small generated dataset in this task's input format under `root`; return the
        path to pass as `--data` (the contract test, the demo and quickstarts use it)."""
