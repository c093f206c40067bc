"""Extractive question answering config and presets."""

from __future__ import annotations

import dataclasses
from typing import Literal

from tfapps.apps.config import check_ranges
from tfapps.apps.masked_lm import MaskedLmTrainConfig
from tfapps.apps.task import DataConfig, RuntimeConfig

__all__ = [
    "PRESETS",
    "QaConfig",
    "QaDataConfig",
    "QaModelConfig",
    "QaServingConfig",
]


@dataclasses.dataclass(frozen=True)
class QaDataConfig(DataConfig):
    """SQuAD v1.1 / v2.0 JSON; long contexts are cut into overlapping windows.

    Attributes:
        sequence_length: tokens per window: `[CLS] question [SEP] context part [SEP]`.
        max_question_length: question pieces kept (the rest is cut).
        stride: pieces between the starts of a context's consecutive windows (BERT's
            `doc_stride`).
        vocab_size: WordPiece vocabulary size learned from the training questions and contexts.
        lower_case: lower-case and strip accents before tokenizing.
        vocabulary: the learned vocabulary; filled from the training split and saved with the
            run and the export.
        unanswerable: the training data has unanswerable questions (SQuAD v2.0); filled from
            the data. The served graph then answers "" when no span beats the null score.
        shuffle_buffer: shuffle buffer size of the training windows; 0 shuffles all of them.
        bucket_by_length: batch training windows of about the same number of tokens (16 length
            buckets; one replica only), so each batch is cut to a shorter length: about a
            quarter less work per epoch on SQuAD, where most contexts are shorter than a window.
    """

    sequence_length: int = 384
    max_question_length: int = 64
    stride: int = 128
    vocab_size: int = 8000
    lower_case: bool = True
    vocabulary: tuple[str, ...] = ()
    unanswerable: bool = False
    shuffle_buffer: int = 0
    bucket_by_length: bool = False


@dataclasses.dataclass(frozen=True)
class QaModelConfig:
    """The reader: both architectures see which context tokens the question contains and give
    start/end logits whose answers begin and end at word boundaries.

    Attributes:
        architecture: `transformer`, a BERT-style encoder (keras-hub layers; the part masked-LM
            pretraining trains), fusion layers and a span head (`models.span_reader`); or `drqa`,
            DrQA's recurrent reader (Chen et al. 2017; `models.rnn_reader`): word embeddings,
            exact-match and aligned question embedding features, stacked BiGRUs over the context,
            a self-attention-pooled BiGRU question vector and bilinear start/end scores. Trained
            from scratch on a few thousand questions, `drqa` learns far more.
        hidden_dim, num_layers, num_heads, intermediate_dim: the Transformer encoder's shape
            (`transformer` only).
        fusion_layers: Transformer layers over the encoder's output plus segment and
            question-match embeddings (DrQA's exact-match feature; it matters most without
            pretrained weights; `transformer` only).
        embedding_dim: word embedding width, learned from scratch (`drqa` only).
        rnn_units: GRU units per direction (`drqa` only).
        rnn_layers: BiGRU layers of the context and of the question encoder (`drqa` only).
        dropout: dropout rate (DrQA used 0.3 on the embeddings and every BiGRU's input).
    """

    architecture: Literal["transformer", "drqa"] = "transformer"
    hidden_dim: int = 256
    num_layers: int = 4
    num_heads: int = 4
    intermediate_dim: int = 512
    fusion_layers: int = 1
    embedding_dim: int = 128
    rnn_units: int = 64
    rnn_layers: int = 3
    dropout: float = 0.1


@dataclasses.dataclass(frozen=True)
class QaServingConfig:
    """Answer selection in the served graph.

    Attributes:
        max_answer_length: longest answer, in tokens.
        null_score_diff_threshold: with `data.unanswerable`, the answer is "" when the null score
            beats the best span's by more than this (BERT's rule).
    """

    max_answer_length: int = 30
    null_score_diff_threshold: float = 0.0


@dataclasses.dataclass(frozen=True)
class QaConfig:
    """Full question-answering config (see `tfapps config show question_answering`)."""

    data: QaDataConfig = QaDataConfig()
    model: QaModelConfig = QaModelConfig()
    train: MaskedLmTrainConfig = MaskedLmTrainConfig(batch_size=32, monitor="loss")
    runtime: RuntimeConfig = RuntimeConfig()
    serving: QaServingConfig = QaServingConfig()

    def validate(self) -> None:
        """Check value ranges that types cannot express.

        Raises:
            ConfigError: naming the first invalid value (`check_ranges`).
        """
        d, m, s = self.data, self.model, self.serving
        check_ranges(
            [
                (
                    d.sequence_length >= d.max_question_length + 8,
                    "data.sequence_length",
                    f">= data.max_question_length + 8 ({d.max_question_length + 8})",
                    d.sequence_length,
                ),
                (d.max_question_length >= 1, "data.max_question_length", ">= 1", d.max_question_length),
                (d.stride >= 1, "data.stride", ">= 1", d.stride),
                (d.vocab_size >= 100, "data.vocab_size", ">= 100", d.vocab_size),
                (
                    0.0 <= d.validation_split < 1.0,
                    "data.validation_split",
                    "in [0, 1)",
                    d.validation_split,
                ),
                (
                    m.hidden_dim % m.num_heads == 0,
                    "model.hidden_dim",
                    f"a multiple of model.num_heads ({m.num_heads})",
                    m.hidden_dim,
                ),
                (m.num_layers >= 1, "model.num_layers", ">= 1", m.num_layers),
                (m.fusion_layers >= 0, "model.fusion_layers", ">= 0", m.fusion_layers),
                (m.embedding_dim >= 1, "model.embedding_dim", ">= 1", m.embedding_dim),
                (m.rnn_units >= 1, "model.rnn_units", ">= 1", m.rnn_units),
                (m.rnn_layers >= 1, "model.rnn_layers", ">= 1", m.rnn_layers),
                (0.0 <= m.dropout < 1.0, "model.dropout", "in [0, 1)", m.dropout),
                (self.train.epochs >= 1, "train.epochs", ">= 1", self.train.epochs),
                (
                    m.architecture == "transformer" or self.train.pretrain_mlm_epochs == 0,
                    "train.pretrain_mlm_epochs",
                    "0 with model.architecture='drqa' (masked-LM pretraining trains the Transformer "
                    "encoder, which the drqa reader does not have)",
                    self.train.pretrain_mlm_epochs,
                ),
                (self.train.batch_size >= 1, "train.batch_size", ">= 1", self.train.batch_size),
                (
                    0.0 < self.train.mlm_mask_rate < 1.0,
                    "train.mlm_mask_rate",
                    "in (0, 1)",
                    self.train.mlm_mask_rate,
                ),
                (s.max_answer_length >= 1, "serving.max_answer_length", ">= 1", s.max_answer_length),
            ]
        )


PRESETS: dict[str, dict] = {
    # Seconds on a laptop: the contract test and the CLI tests use it.
    "tiny": {
        "data": {"sequence_length": 64, "max_question_length": 16, "stride": 24, "vocab_size": 200},
        "model": {"hidden_dim": 32, "num_layers": 1, "num_heads": 2, "intermediate_dim": 64, "dropout": 0.0},
        "train": {"epochs": 1, "batch_size": 16, "learning_rate": 3e-3, "lr_schedule": "constant"},
        "serving": {"max_answer_length": 8},
    },
    # Two CPU cores, under an hour: SQuAD v1.1 dev split by article (bench/squad.py).
    "cpu": {
        "data": {"sequence_length": 256, "max_question_length": 48, "stride": 96, "vocab_size": 8000},
        "model": {
            "hidden_dim": 192,
            "num_layers": 3,
            "num_heads": 4,
            "intermediate_dim": 384,
            "fusion_layers": 1,
        },
        "train": {
            "epochs": 8,
            "batch_size": 32,
            "learning_rate": 5e-4,
            "lr_schedule": "cosine",
            "warmup_epochs": 0.5,
            "weight_decay": 1e-2,
        },
    },
    # The same goal with DrQA's recurrent reader and its settings (dropout 0.3, batch 32,
    # gradients clipped at norm 10; Adam standing in for Adamax; 64 GRU units a direction instead
    # of 128 to fit the hour). A step of 256 tokens took 0.8 s on two free CPU cores (2 s beside
    # another benchmark); length buckets cut the average batch to ~190 tokens, so an epoch of the
    # ~9,500 training windows takes about 4 minutes (measured 248-252 s). The best epoch is kept
    # (validation loss).
    # Measured (bench/squad.py, 8 epochs, 36 min): validation loss was lowest after epoch 2
    # (3.21; then 3.38, 3.31, 3.71, ...) and the reader scored test F1 33.1 / EM 21.4; patience
    # 2 stops such a run after epoch 4, keeping the same best epoch in half the time.
    "cpu_drqa": {
        "data": {
            "sequence_length": 256,
            "max_question_length": 48,
            "stride": 96,
            "vocab_size": 8000,
            "bucket_by_length": True,
        },
        "model": {
            "architecture": "drqa",
            "embedding_dim": 128,
            "rnn_units": 64,
            "rnn_layers": 3,
            "dropout": 0.3,
        },
        "train": {
            "epochs": 8,
            "batch_size": 32,
            "optimizer": "adam",
            "learning_rate": 2e-3,
            "lr_schedule": "cosine",
            "clipnorm": 10.0,
            "early_stopping_patience": 2,
        },
    },
}
