"""Machine translation config and presets."""

from __future__ import annotations

import dataclasses

from tfapps.apps.config import check_ranges
from tfapps.apps.task import DataConfig, RuntimeConfig, TrainConfig

__all__ = [
    "PRESETS",
    "TranslationConfig",
    "TranslationDataConfig",
    "TranslationModelConfig",
    "TranslationServingConfig",
]


@dataclasses.dataclass(frozen=True)
class TranslationDataConfig(DataConfig):
    """Parallel text: TSV `source<TAB>target`, JSON Lines, or aligned files `PREFIX.<lang>[.gz]`.

    Attributes:
        source_lang, target_lang: language codes; with them `--data raw/train` reads
            `raw/train.<source_lang>[.gz]` and `raw/train.<target_lang>[.gz]` line by line, and
            JSON Lines / TSV headers may name their columns by them.
        source_column, target_column: TSV header or JSON key names; empty: the language codes,
            then `source`/`target` (TSV without a header: the first two columns).
        max_length: training pairs longer than this many characters on either side are dropped
            (and reported); 0 keeps all.
        source_sequence_length, target_sequence_length: tokens per sentence (`</s>` included);
            longer sentences are cut in training, and translations stop there.
        vocab_size: SentencePiece vocabulary size learned from the training split.
        shared_vocabulary: one vocabulary learned from both sides (and one embedding table);
            `false`: one per language.
        source_tokenizer, target_tokenizer: the learned SentencePiece models (base64), filled from
            the training split and saved with the run and the export; the target is empty when
            the vocabulary is shared.
        shuffle_buffer: shuffle buffer size; 0 shuffles the whole (per-worker) dataset.
    """

    source_lang: str = ""
    target_lang: str = ""
    source_column: str = ""
    target_column: str = ""
    max_length: int = 0
    source_sequence_length: int = 64
    target_sequence_length: int = 64
    vocab_size: int = 8000
    shared_vocabulary: bool = True
    source_tokenizer: str = ""
    target_tokenizer: str = ""
    shuffle_buffer: int = 0


@dataclasses.dataclass(frozen=True)
class TranslationModelConfig:
    """The encoder-decoder Transformer (keras-hub layers).

    Attributes:
        hidden_dim, num_layers, num_heads, intermediate_dim: the shape of the encoder and the
            decoder (`num_layers` each).
        dropout: dropout rate.
        label_smoothing: label smoothing of the token cross-entropy.
    """

    hidden_dim: int = 256
    num_layers: int = 3
    num_heads: int = 4
    intermediate_dim: int = 512
    dropout: float = 0.1
    label_smoothing: float = 0.1


@dataclasses.dataclass(frozen=True)
class TranslationServingConfig:
    """Decoding in the served graph.

    Attributes:
        beam_size: beams of the beam search (1: greedy); `nbest` returns this many translations.
        length_penalty: GNMT length normalisation `((5 + len) / 6) ** alpha` of beam scores;
            0 disables, larger values favour longer translations.
        max_extra_tokens: a translation stops after the source's token count plus this many
            tokens (and always at `data.target_sequence_length`).
    """

    beam_size: int = 4
    length_penalty: float = 0.6
    max_extra_tokens: int = 50


@dataclasses.dataclass(frozen=True)
class TranslationConfig:
    """Full translation config (see `tfapps config show translation`)."""

    data: TranslationDataConfig = TranslationDataConfig()
    model: TranslationModelConfig = TranslationModelConfig()
    train: TrainConfig = TrainConfig(batch_size=64, monitor="loss")
    runtime: RuntimeConfig = RuntimeConfig()
    serving: TranslationServingConfig = TranslationServingConfig()

    def validate(self) -> None:
        """Check value ranges that types cannot express.

        Raises:
            ConfigError: naming the first invalid value (`check_ranges`).
        """
        d, m, s = self.data, self.model, self.serving
        check_ranges(
            [
                (d.max_length >= 0, "data.max_length", ">= 0", d.max_length),
                (
                    d.source_sequence_length >= 2,
                    "data.source_sequence_length",
                    ">= 2",
                    d.source_sequence_length,
                ),
                (
                    d.target_sequence_length >= 2,
                    "data.target_sequence_length",
                    ">= 2",
                    d.target_sequence_length,
                ),
                (d.vocab_size >= 16, "data.vocab_size", ">= 16", d.vocab_size),
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
                (0.0 <= m.dropout < 1.0, "model.dropout", "in [0, 1)", m.dropout),
                (0.0 <= m.label_smoothing < 1.0, "model.label_smoothing", "in [0, 1)", m.label_smoothing),
                (self.train.epochs >= 1, "train.epochs", ">= 1", self.train.epochs),
                (self.train.batch_size >= 1, "train.batch_size", ">= 1", self.train.batch_size),
                (s.beam_size >= 1, "serving.beam_size", ">= 1", s.beam_size),
                (s.length_penalty >= 0.0, "serving.length_penalty", ">= 0", s.length_penalty),
                (s.max_extra_tokens >= 1, "serving.max_extra_tokens", ">= 1", s.max_extra_tokens),
            ]
        )


PRESETS: dict[str, dict] = {
    # Seconds on a laptop: the contract test and the CLI tests use it.
    "tiny": {
        "data": {"source_sequence_length": 24, "target_sequence_length": 24, "vocab_size": 128},
        "model": {"hidden_dim": 32, "num_layers": 1, "num_heads": 2, "intermediate_dim": 64, "dropout": 0.0},
        "train": {"epochs": 1, "batch_size": 16, "learning_rate": 3e-3, "lr_schedule": "constant"},
        "serving": {"beam_size": 2, "max_extra_tokens": 8},
    },
    # Two CPU cores, under an hour: Multi30k En→De (bench/multi30k.py).
    "cpu": {
        "data": {"source_sequence_length": 48, "target_sequence_length": 48, "vocab_size": 8000},
        "model": {
            "hidden_dim": 256,
            "num_layers": 3,
            "num_heads": 4,
            "intermediate_dim": 512,
            "dropout": 0.1,
        },
        "train": {
            "epochs": 10,
            "batch_size": 64,
            "learning_rate": 1e-3,
            "lr_schedule": "cosine",
            "warmup_epochs": 0.5,
            "weight_decay": 1e-4,
        },
    },
}
