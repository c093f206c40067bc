"""Text classification config and presets."""

from __future__ import annotations

import dataclasses
from typing import Literal

from tfapps.apps.config import check_ranges
from tfapps.apps.masked_lm import MaskedLmTrainConfig
from tfapps.apps.task import DataConfig, RuntimeConfig

__all__ = [
    "PRESETS",
    "TextClassificationConfig",
    "TextDataConfig",
    "TextModelConfig",
    "TextServingConfig",
    "TextTrainConfig",
]


@dataclasses.dataclass(frozen=True)
class TextDataConfig(DataConfig):
    """Texts and labels: CSV/TSV (SST-2's `sentence\\tlabel` as is), JSON Lines, or a folder per
    class of `.txt` files.

    Attributes:
        text_column: the text column or key; empty: the first of text, sentence, review, content,
            document.
        label_column: the label column or key; empty: the first of label, labels, category,
            class, sentiment, target.
        multi_label: several labels per text (`label_separator`-separated, or a JSON list).
        label_separator: separator of multi-label cells.
        class_names: class order; from the config or the training labels.
        sequence_length: tokens per text, `[CLS]` and `[SEP]` included (longer texts are cut).
        vocab_size: WordPiece vocabulary size learned from the training texts.
        lower_case: lower-case and strip accents before tokenizing.
        vocabulary: the learned WordPiece vocabulary; filled from the training split and saved
            with the run and the export (`assets.extra/tfapps_config.yaml`).
        shuffle_buffer: shuffle buffer size; 0 shuffles the whole (per-worker) dataset.
    """

    text_column: str = ""
    label_column: str = ""
    multi_label: bool = False
    label_separator: str = "|"
    class_names: tuple[str, ...] = ()
    sequence_length: int = 64
    vocab_size: int = 8000
    lower_case: bool = True
    vocabulary: tuple[str, ...] = ()
    shuffle_buffer: int = 0


# What `model.members` of an ensemble may name.
MemberArchitecture = Literal["transformer", "cnn", "bigru", "bag_of_embeddings"]


@dataclasses.dataclass(frozen=True)
class TextModelConfig:
    """Model architecture.

    Attributes:
        architecture: `transformer` (BERT-style encoder from keras-hub layers), `cnn` (Kim 2014),
            `bigru` (bidirectional GRU, max pooled), `bag_of_embeddings` (fastText-style baseline,
            fastest), or `ensemble`: the `members` trained side by side in one run (each with its
            own loss), their probabilities averaged.
        members: the architectures of an `ensemble` (two or more of the others).
        hidden_dim, num_layers, num_heads, intermediate_dim: the Transformer's shape.
        embedding_dim: embedding width of `cnn`, `bigru` and `bag_of_embeddings`.
        rnn_units: GRU units per direction of `bigru`.
        ngram_buckets: hashed bigram embeddings of `bag_of_embeddings`; 0 for none.
        dropout: dropout rate.
        label_smoothing: label smoothing of the single-label cross-entropy.
    """

    architecture: Literal["transformer", "cnn", "bigru", "bag_of_embeddings", "ensemble"] = "transformer"
    members: tuple[MemberArchitecture, ...] = ("bag_of_embeddings", "cnn", "bigru")
    hidden_dim: int = 128
    num_layers: int = 2
    num_heads: int = 4
    intermediate_dim: int = 256
    embedding_dim: int = 128
    rnn_units: int = 64
    ngram_buckets: int = 0
    dropout: float = 0.1
    label_smoothing: float = 0.0


# The text tasks share the masked-LM pretraining settings (`apps.masked_lm`).
TextTrainConfig = MaskedLmTrainConfig


@dataclasses.dataclass(frozen=True)
class TextServingConfig:
    """What the serving signature returns.

    Attributes:
        top_k: labels and scores returned per text (capped at the class count).
    """

    top_k: int = 5


@dataclasses.dataclass(frozen=True)
class TextClassificationConfig:
    """Full text-classification config (see `tfapps config show text_classification`)."""

    data: TextDataConfig = TextDataConfig()
    model: TextModelConfig = TextModelConfig()
    train: TextTrainConfig = TextTrainConfig(batch_size=64)
    runtime: RuntimeConfig = RuntimeConfig()
    serving: TextServingConfig = TextServingConfig()

    def validate(self) -> None:
        """Check value ranges that types cannot express.

        Raises:
            ConfigError: naming the first invalid value (`check_ranges`).
        """
        d, m = self.data, self.model
        check_ranges(
            [
                (d.sequence_length >= 3, "data.sequence_length", ">= 3", d.sequence_length),
                (d.vocab_size >= 100, "data.vocab_size", ">= 100", d.vocab_size),
                (bool(d.label_separator), "data.label_separator", "non-empty", d.label_separator),
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
                (0.0 <= m.dropout < 1.0, "model.dropout", "in [0, 1)", m.dropout),
                (m.ngram_buckets >= 0, "model.ngram_buckets", ">= 0", m.ngram_buckets),
                (m.rnn_units >= 1, "model.rnn_units", ">= 1", m.rnn_units),
                (
                    m.architecture != "ensemble"
                    or (len(m.members) >= 2 and len(set(m.members)) == len(m.members)),
                    "model.members",
                    "two or more distinct architectures for an ensemble",
                    list(m.members),
                ),
                (self.train.epochs >= 1, "train.epochs", ">= 1", self.train.epochs),
                (
                    self.train.pretrain_mlm_epochs == 0 or m.architecture == "transformer",
                    "train.pretrain_mlm_epochs",
                    "0 unless model.architecture is transformer (only it has an encoder to pretrain)",
                    self.train.pretrain_mlm_epochs,
                ),
                (
                    0.0 < self.train.mlm_mask_rate < 1.0,
                    "train.mlm_mask_rate",
                    "in (0, 1)",
                    self.train.mlm_mask_rate,
                ),
                (self.train.batch_size >= 1, "train.batch_size", ">= 1", self.train.batch_size),
                (self.train.learning_rate > 0, "train.learning_rate", "> 0", self.train.learning_rate),
                (self.serving.top_k >= 1, "serving.top_k", ">= 1", self.serving.top_k),
            ]
        )


PRESETS: dict[str, dict] = {
    # Seconds on a laptop: the contract test and the CLI tests use it.
    "tiny": {
        "data": {"sequence_length": 16, "vocab_size": 200},
        "model": {"hidden_dim": 16, "num_layers": 1, "num_heads": 2, "intermediate_dim": 32},
        "train": {"epochs": 1, "batch_size": 8, "learning_rate": 3e-3, "lr_schedule": "constant"},
    },
    # Two CPU cores, minutes: SST-2 (bench/sst2.py). Three different models trained side by side
    # and averaged: on SST-2 dev the ensemble beats each member alone by 1-2 points.
    "cpu": {
        "data": {"sequence_length": 64, "vocab_size": 8000},
        "model": {
            "architecture": "ensemble",
            "members": ["bag_of_embeddings", "cnn", "bigru"],
            "embedding_dim": 128,
            "rnn_units": 64,
            "ngram_buckets": 131072,
            "dropout": 0.5,
        },
        "train": {
            "epochs": 4,
            "batch_size": 64,
            "optimizer": "adam",
            "learning_rate": 1e-3,
            "lr_schedule": "cosine",
            "weight_decay": 0.0,
        },
    },
    "transformer": {
        "data": {"sequence_length": 64, "vocab_size": 8000},
        "model": {"architecture": "transformer", "hidden_dim": 128, "num_layers": 2, "num_heads": 4},
        "train": {"epochs": 5, "batch_size": 64, "learning_rate": 5e-4, "warmup_epochs": 0.5},
    },
}
