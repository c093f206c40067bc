"""Masked-language-model pretraining of a task's Transformer encoder on its own training texts,
shared by the text tasks (`Task.pretrain`): no pretrained weights exist here, so this is the one
way to give an encoder some language before the supervised fit."""

from __future__ import annotations

import dataclasses
import logging

import keras
import numpy as np
import tensorflow as tf

from tfapps.apps.task import TrainConfig
from tfapps.models.text_encoders import masked_lm_loss, masked_lm_pretrainer, mlm_dataset

__all__ = ["MaskedLmTrainConfig", "pretrain_encoder"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class MaskedLmTrainConfig(TrainConfig):
    """Optimisation settings, plus masked-language-model pretraining.

    Attributes:
        pretrain_mlm_epochs: epochs of masked-LM pretraining of the Transformer encoder on the
            training texts before the supervised fit (no outside data); 0 disables.
        mlm_mask_rate: share of tokens masked in pretraining.
        mlm_learning_rate: peak learning rate of the pretraining.
    """

    pretrain_mlm_epochs: int = 0
    mlm_mask_rate: float = 0.15
    mlm_learning_rate: float = 1e-3


def pretrain_encoder(encoder: keras.Model, ids: np.ndarray, vocabulary: list[str], config) -> None:
    """Train `encoder` (in place) as a masked LM on token ids `[N, L]` for
    `train.pretrain_mlm_epochs` epochs; `vocabulary` gives the size and the `[MASK]` id."""
    t = config.train
    batches = (
        tf.data.Dataset.from_tensor_slices(ids)
        .shuffle(len(ids), seed=config.data.seed)
        .batch(t.batch_size, drop_remainder=True)
    )
    examples = mlm_dataset(batches, len(vocabulary), vocabulary.index("[MASK]"), mask_rate=t.mlm_mask_rate)
    pretrainer = masked_lm_pretrainer(encoder)
    pretrainer.compile(
        optimizer=keras.optimizers.AdamW(t.mlm_learning_rate, weight_decay=t.weight_decay),
        loss=masked_lm_loss(),
    )
    logger.info("Masked-LM pretraining: %d epochs over %d texts", t.pretrain_mlm_epochs, len(ids))
    history = pretrainer.fit(
        examples.prefetch(tf.data.AUTOTUNE), epochs=t.pretrain_mlm_epochs, verbose=0, shuffle=False
    )
    logger.info("Masked-LM loss by epoch: %s", ", ".join(f"{v:.3f}" for v in history.history["loss"]))
