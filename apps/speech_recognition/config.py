"""Speech recognition config and presets."""

from __future__ import annotations

import dataclasses
from typing import Literal

from tfapps.apps.config import check_ranges
from tfapps.apps.task import DataConfig, RuntimeConfig, TrainConfig

__all__ = [
    "DEFAULT_ALPHABET",
    "PRESETS",
    "SpeechAugmentConfig",
    "SpeechConfig",
    "SpeechDataConfig",
    "SpeechModelConfig",
    "SpeechServingConfig",
]

# Lower-case English letters, the apostrophe and the space (the word separator).
DEFAULT_ALPHABET = "abcdefghijklmnopqrstuvwxyz' "


@dataclasses.dataclass(frozen=True)
class SpeechDataConfig(DataConfig):
    """Audio with transcripts: a CSV/TSV manifest (`path,transcript`), LJSpeech, LibriSpeech or
    Common Voice (see `tfapps.pipelines.speech_data`).

    Attributes:
        sample_rate: the model's sample rate; clips at other rates are resampled to it, and the
            served `audio_bytes` input expects 16-bit PCM WAV at this rate.
        vocabulary: `characters` (the `alphabet`) or `sentencepiece` (subwords learned from the
            training transcripts).
        alphabet: the characters a transcript may hold after normalisation (the space separates
            words); utterances with other characters are dropped and reported. Empty: every
            character of the normalised training transcripts (`characters` vocabulary).
        vocab_size: SentencePiece vocabulary size (`sentencepiece` vocabulary).
        tokenizer: the learned SentencePiece model (base64), filled from the training split.
        lowercase, strip_punctuation: transcript normalisation (NFKC always; punctuation other
            than the apostrophe removed).
        max_seconds: training clips longer than this are dropped and reported; 0 keeps all.
        cache: keep the decoded training and validation clips in memory after the first epoch.
        shuffle_buffer: shuffle buffer size; 0 shuffles the whole (per-worker) dataset.
    """

    sample_rate: int = 16000
    vocabulary: Literal["characters", "sentencepiece"] = "characters"
    alphabet: str = DEFAULT_ALPHABET
    vocab_size: int = 256
    tokenizer: str = ""
    lowercase: bool = True
    strip_punctuation: bool = True
    max_seconds: float = 20.0
    cache: bool = True
    shuffle_buffer: int = 0


@dataclasses.dataclass(frozen=True)
class SpeechModelConfig:
    """Log-mel features, a DeepSpeech2-like convolutional front end, a bidirectional GRU or
    conformer encoder and a CTC head.

    Attributes:
        num_mels, frame_length_ms, frame_step_ms: the log-mel spectrogram (tf.signal).
        encoder: `bigru` (bidirectional GRU layers) or `conformer`.
        conv_filters: filters of the 2D convolutions over (time, frequency).
        time_stride: frames per output step of the front end (1, 2 or 4).
        hidden_units, num_layers: the encoder's width and depth.
        num_heads, conv_kernel_size: conformer attention heads and depthwise kernel size.
        dropout: dropout rate.
    """

    num_mels: int = 80
    frame_length_ms: float = 25.0
    frame_step_ms: float = 10.0
    encoder: Literal["bigru", "conformer"] = "bigru"
    conv_filters: tuple[int, ...] = (32, 32)
    time_stride: int = 2
    hidden_units: int = 256
    num_layers: int = 3
    num_heads: int = 4
    conv_kernel_size: int = 15
    dropout: float = 0.1


@dataclasses.dataclass(frozen=True)
class SpeechAugmentConfig:
    """SpecAugment (training only).

    Attributes:
        spec_augment: mask frequency bands and time spans of the training features.
        freq_masks, freq_mask_width: number of frequency masks and their widest (mel bins).
        time_masks, time_mask_ratio, max_time_mask_width: number of time masks, their widest as a
            fraction of each utterance's frames, and in frames.
    """

    spec_augment: bool = True
    freq_masks: int = 2
    freq_mask_width: int = 15
    time_masks: int = 2
    time_mask_ratio: float = 0.05
    max_time_mask_width: int = 40


@dataclasses.dataclass(frozen=True)
class SpeechServingConfig:
    """CTC decoding in the served graph.

    Attributes:
        decoder: `beam` (CTC beam search) or `greedy` (best class per frame).
        beam_width: beams of the beam search.
    """

    decoder: Literal["beam", "greedy"] = "beam"
    beam_width: int = 8


@dataclasses.dataclass(frozen=True)
class SpeechConfig:
    """Full speech recognition config (see `tfapps config show speech_recognition`)."""

    data: SpeechDataConfig = SpeechDataConfig()
    model: SpeechModelConfig = SpeechModelConfig()
    augment: SpeechAugmentConfig = SpeechAugmentConfig()
    train: TrainConfig = TrainConfig(batch_size=32)
    runtime: RuntimeConfig = RuntimeConfig()
    serving: SpeechServingConfig = SpeechServingConfig()

    def validate(self) -> None:
        """Check value ranges that types cannot express.

        Raises:
            ConfigError: naming the first invalid value (`check_ranges`).
        """
        d, m, a, s = self.data, self.model, self.augment, self.serving
        check_ranges(
            [
                (1000 <= d.sample_rate <= 192000, "data.sample_rate", "in [1000, 192000]", d.sample_rate),
                (
                    len(set(d.alphabet)) == len(d.alphabet),
                    "data.alphabet",
                    "characters that each appear once",
                    d.alphabet,
                ),
                (d.vocab_size >= 8, "data.vocab_size", ">= 8", d.vocab_size),
                (d.max_seconds >= 0, "data.max_seconds", ">= 0", d.max_seconds),
                (
                    0.0 <= d.validation_split < 1.0,
                    "data.validation_split",
                    "in [0, 1)",
                    d.validation_split,
                ),
                (m.num_mels >= 8, "model.num_mels", ">= 8", m.num_mels),
                (m.frame_length_ms > 0, "model.frame_length_ms", "> 0", m.frame_length_ms),
                (
                    0 < m.frame_step_ms <= m.frame_length_ms,
                    "model.frame_step_ms",
                    f"in (0, model.frame_length_ms={m.frame_length_ms}]",
                    m.frame_step_ms,
                ),
                (m.time_stride in (1, 2, 4), "model.time_stride", "1, 2 or 4", m.time_stride),
                (
                    len(m.conv_filters) >= 1 and all(f >= 1 for f in m.conv_filters),
                    "model.conv_filters",
                    "one or more positive filter counts",
                    m.conv_filters,
                ),
                (m.hidden_units >= 2, "model.hidden_units", ">= 2", m.hidden_units),
                (m.num_layers >= 1, "model.num_layers", ">= 1", m.num_layers),
                (
                    m.encoder != "conformer" or m.hidden_units % m.num_heads == 0,
                    "model.hidden_units",
                    f"a multiple of model.num_heads ({m.num_heads}) for the conformer",
                    m.hidden_units,
                ),
                (m.conv_kernel_size >= 1, "model.conv_kernel_size", ">= 1", m.conv_kernel_size),
                (0.0 <= m.dropout < 1.0, "model.dropout", "in [0, 1)", m.dropout),
                (
                    0 <= a.freq_mask_width <= m.num_mels,
                    "augment.freq_mask_width",
                    f"in [0, model.num_mels={m.num_mels}]",
                    a.freq_mask_width,
                ),
                (a.freq_masks >= 0, "augment.freq_masks", ">= 0", a.freq_masks),
                (a.time_masks >= 0, "augment.time_masks", ">= 0", a.time_masks),
                (0.0 <= a.time_mask_ratio <= 1.0, "augment.time_mask_ratio", "in [0, 1]", a.time_mask_ratio),
                (a.max_time_mask_width >= 0, "augment.max_time_mask_width", ">= 0", a.max_time_mask_width),
                (self.train.epochs >= 1, "train.epochs", ">= 1", self.train.epochs),
                (self.train.batch_size >= 1, "train.batch_size", ">= 1", self.train.batch_size),
                (s.beam_width >= 1, "serving.beam_width", ">= 1", s.beam_width),
            ]
        )


PRESETS: dict[str, dict] = {
    # Seconds on a laptop: the contract test and the CLI tests use it.
    "tiny": {
        "data": {"sample_rate": 8000},
        "model": {
            "num_mels": 20,
            "conv_filters": [4],
            "hidden_units": 16,
            "num_layers": 1,
            "dropout": 0.0,
        },
        "augment": {"spec_augment": False},
        "train": {"epochs": 1, "batch_size": 8, "learning_rate": 3e-3, "lr_schedule": "constant"},
        "serving": {"beam_width": 4},
    },
    # Two CPU cores: FSDD digits in minutes (bench/fsdd.py), espeak-ng digit strings.
    "cpu": {
        "model": {
            "num_mels": 64,
            "conv_filters": [32, 32],
            "time_stride": 2,
            "hidden_units": 192,
            "num_layers": 3,
            "dropout": 0.1,
        },
        "train": {
            "epochs": 30,
            "batch_size": 32,
            "learning_rate": 2e-3,
            "lr_schedule": "cosine",
            "warmup_epochs": 1.0,
            "weight_decay": 1e-4,
            "clipnorm": 5.0,
        },
    },
}
