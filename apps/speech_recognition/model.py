"""The recogniser as one Keras model: samples → log-mel features (+ SpecAugment in training) →
the CTC acoustic model → logits. Features live inside the model, so training, evaluation and
the served graph compute them with the same layer."""

from __future__ import annotations

from typing import Any

import keras

from tfapps.models.preprocessing.audio import LogMelSpectrogram, SpecAugment
from tfapps.models.speech import ctc_acoustic_model

__all__ = ["speech_recognizer"]


def speech_recognizer(config: Any, vocabulary_size: int) -> keras.Model:
    """`{"samples": float32 [B, T], "sample_lengths": int32 [B]}` → CTC logits `[B, T', V + 1]`
    (blank last; padded frames forced to blank)."""
    d, m, a = config.data, config.model, config.augment
    samples = keras.Input((None,), dtype="float32", name="samples")
    lengths = keras.Input((), dtype="int32", name="sample_lengths")
    features, feature_lengths = LogMelSpectrogram(
        d.sample_rate,
        frame_length_ms=m.frame_length_ms,
        frame_step_ms=m.frame_step_ms,
        num_mels=m.num_mels,
        name="log_mel",
    )(samples, lengths)
    if a.spec_augment:
        features = SpecAugment(
            freq_masks=a.freq_masks,
            freq_mask_width=a.freq_mask_width,
            time_masks=a.time_masks,
            time_mask_ratio=a.time_mask_ratio,
            max_time_mask_width=a.max_time_mask_width,
            seed=d.seed,
            name="spec_augment",
        )(features, feature_lengths)
    acoustic = ctc_acoustic_model(
        m.num_mels,
        vocabulary_size,
        encoder=m.encoder,
        conv_filters=m.conv_filters,
        time_stride=m.time_stride,
        hidden_units=m.hidden_units,
        num_layers=m.num_layers,
        num_heads=m.num_heads,
        conv_kernel_size=m.conv_kernel_size,
        dropout=m.dropout,
        name="acoustic_model",
    )
    logits = acoustic({"features": features, "feature_lengths": feature_lengths})
    return keras.Model({"samples": samples, "sample_lengths": lengths}, logits, name="speech_recognizer")
