"""Narrow fixes for Keras 3.15 bugs under MultiWorkerMirroredStrategy (tensorflow/tensorflow#72388).

`Model.fit` breaks twice when the strategy spans several workers:

1. It builds the compiled state from `strategy.reduce("MEAN", first_batch)`, which fails for a
   nested `(x, y)` batch ("Attempt to convert a value (PerReplica...) to a Tensor").
2. Each step's metric results are reduced with `strategy.reduce("MEAN", v, axis=0)`, which fails
   for scalars ("Invalid reduction dimension 0 for input with 0 dimensions").

Both are patched only for that strategy; single-worker strategies run Keras unchanged.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

__all__ = ["prepare_multi_worker_fit"]


def _patch_step_reduction() -> None:
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica
    if getattr(original, "_tfapps_patched", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction == "auto" and tf_trainer._collective_all_reduce_multi_worker(strategy):
            # The mean over all replicas of each replica's (scalar) metric result.
            return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return original(values, strategy, reduction)

    reduce_per_replica._tfapps_patched = True
    tf_trainer.reduce_per_replica = reduce_per_replica


def prepare_multi_worker_fit(model: keras.Model, strategy: tf.distribute.Strategy, local_batch: Any) -> None:
    """Make `model.fit` work under MultiWorkerMirroredStrategy.

    Builds the compiled state (metric and optimizer variables) in the strategy's scope from a
    batch of this worker's own dataset, skips Keras' failing reduction of the first batch for
    this model, and fixes the per-step metric reduction.
    """
    with strategy.scope():
        model._symbolic_build(data_batch=local_batch)
    model._maybe_symbolic_build = lambda *args, **kwargs: None
    _patch_step_reduction()
