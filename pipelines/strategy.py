"""tf.distribute strategy resolution: `auto` picks TPU → multi-worker → mirrored GPUs → default."""

from __future__ import annotations

import json
import logging
import os

import tensorflow as tf

from tfapps.apps.errors import ConfigError, TrainingError

__all__ = ["is_chief", "resolve_strategy"]

logger = logging.getLogger(__name__)


def _tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise ConfigError(f"TF_CONFIG is not valid JSON: {err}. Received: TF_CONFIG={raw[:200]!r}") from err


def _num_workers(tf_config: dict) -> int:
    cluster = tf_config.get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def is_chief() -> bool:
    """True unless TF_CONFIG names this process a non-chief worker (only the chief writes run files)."""
    tf_config = _tf_config()
    task = tf_config.get("task", {})
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    return (
        task.get("type") == "worker"
        and task.get("index", 0) == 0
        and "chief" not in tf_config.get("cluster", {})
    )


def _mirrored() -> tf.distribute.Strategy:
    gpus = tf.config.list_logical_devices("GPU")
    # Without GPUs, mirror over the logical CPUs (one unless the caller split the CPU), so the same
    # code path runs on a laptop, in tests (two logical CPUs) and on a multi-GPU host.
    if gpus:
        return tf.distribute.MirroredStrategy(devices=[d.name for d in gpus])
    # Reduce on one device instead of with collective ops: CPU collectives cache their instance
    # parameters per (group, instance) key, and a second MirroredStrategy in the same process
    # reuses those keys, so training a second, different model aborted with "Shape mismatch in the
    # collective instance" (two trainings in one notebook or test session).
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(
        devices=devices, cross_device_ops=tf.distribute.ReductionToOneDevice()
    )


def _tpu() -> tf.distribute.Strategy:
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as err:
        raise TrainingError(f"No TPU could be reached: {err}. Received: distribution_strategy='tpu'") from err
    return tf.distribute.TPUStrategy(resolver)


def resolve_strategy(name: str) -> tf.distribute.Strategy:
    """Return the tf.distribute strategy for `runtime.distribution_strategy`.

    Call it before any other TensorFlow work in the process: `multi_worker` must configure
    collective ops before TensorFlow initialises.

    Args:
        name: `auto`, `default`, `mirrored`, `multi_worker` or `tpu`.

    Raises:
        ConfigError: unknown name, or `multi_worker` without a usable TF_CONFIG.
        TrainingError: `tpu` asked for and none reachable.
    """
    if name == "auto":
        # TF_CONFIG first: listing devices initialises TensorFlow, after which collective ops
        # (multi-worker) can no longer be configured.
        if _num_workers(_tf_config()) > 1:
            name = "multi_worker"
        elif tf.config.list_logical_devices("TPU"):
            name = "tpu"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "mirrored":
        strategy = _mirrored()
    elif name == "multi_worker":
        if _num_workers(_tf_config()) < 1:
            raise ConfigError(
                "distribution_strategy=multi_worker needs TF_CONFIG with a cluster of workers, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}. '
                f"Received: TF_CONFIG={os.environ.get('TF_CONFIG', '')!r}"
            )
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif name == "tpu":
        strategy = _tpu()
    else:
        raise ConfigError(
            f"Unknown distribution strategy. Expected auto, default, mirrored, multi_worker or tpu. Received: {name!r}"
        )
    logger.info("Strategy %s with %d replica(s)", type(strategy).__name__, strategy.num_replicas_in_sync)
    return strategy
