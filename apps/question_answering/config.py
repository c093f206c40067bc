"""Extractive question answering config and presets."""

from __future__ import annotations

import dataclasses

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
    """

    sequence_length: int = 384
    max_question_length: int = 64
    stride: int = 128
    vocab_size: int = 8000
    lower_case: bool = True
    vocabulary: tuple[str, ...] = ()
    unanswerable: bool = False
    shuffle_buffer: int = 0


@dataclasses.dataclass(frozen=True)
class QaModelConfig:
    """A BERT-style encoder (keras-hub layers), fusion layers that see which context tokens the
    question contains, and a span head.

    Attributes:
        hidden_dim, num_layers, num_heads, intermediate_dim: the encoder's shape (the part
            masked-LM pretraining trains).
        fusion_layers: Transformer layers over the encoder's output plus segment and
            question-match embeddings (DrQA's exact-match feature; it matters most without
            pretrained weights).
        dropout: dropout rate.
    """

    hidden_dim: int = 256
    num_layers: int = 4
    num_heads: int = 4
    intermediate_dim: int = 512
    fusion_layers: int = 1
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
                (0.0 <= m.dropout < 1.0, "model.dropout", "in [0, 1)", m.dropout),
                (self.train.epochs >= 1, "train.epochs", ">= 1", self.train.epochs),
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
}
