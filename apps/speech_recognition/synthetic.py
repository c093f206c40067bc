"""A generated speech-like dataset: words spelled as tone sequences, with a CSV manifest.

Each letter sounds as a short harmonic tone at its own pitch, letters are separated by short
gaps and words by longer silences, with random durations, loudness and background noise. A
recogniser has to segment and label the tones, as it segments and labels phones in speech, so
the task exercises the whole pipeline (reading, features, CTC) in seconds of training.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from tfapps.pipelines.audio_io import encode_wav

__all__ = ["SPEAKERS", "SYNTHETIC_WORDS", "synthetic_clip", "write_synthetic_speech"]

SYNTHETIC_WORDS = ("bad", "cab", "face", "dead", "bead", "fade", "head", "ace", "egg", "hag")
# Pitch of each letter's tone, in Hz: far enough apart to tell apart on a mel scale at 8 kHz.
_PITCH = {letter: 220.0 * 2 ** (i / 2) for i, letter in enumerate("abcdefgh")}


# Two "speakers": one pitches every letter a little lower, the other a little higher.
SPEAKERS = {"low": 0.94, "high": 1.06}


def synthetic_clip(text: str, sample_rate: int, rng: np.random.Generator, speaker: str = "low") -> np.ndarray:
    """float32 samples of `text` (letters a-h and spaces) spoken as tones at `sample_rate` by
    one of the `SPEAKERS`."""
    parts = [_silence(rng.uniform(0.05, 0.15), sample_rate)]
    for i, word in enumerate(text.split()):
        if i:
            parts.append(_silence(rng.uniform(0.12, 0.2), sample_rate))
        for j, letter in enumerate(word):
            if j:
                parts.append(_silence(rng.uniform(0.02, 0.04), sample_rate))
            pitch = _PITCH[letter] * SPEAKERS[speaker]
            parts.append(_tone(pitch, rng.uniform(0.06, 0.1), sample_rate, rng))
    parts.append(_silence(rng.uniform(0.05, 0.15), sample_rate))
    samples = np.concatenate(parts)
    samples += rng.normal(0.0, 0.003, samples.shape)
    return samples.astype(np.float32)


def _silence(seconds: float, sample_rate: int) -> np.ndarray:
    return np.zeros(int(seconds * sample_rate))


def _tone(pitch: float, seconds: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch *= rng.uniform(0.97, 1.03)  # no two utterances of a letter are quite the same
    wave = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in (1, 2, 3))
    envelope = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)  # 10 ms fade in and out
    return rng.uniform(0.2, 0.5) * envelope * wave / 1.9


def write_synthetic_speech(root: Path, clips: int = 96, sample_rate: int = 8000, seed: int = 0) -> Path:
    """Write `clips` WAV files (16-bit PCM) of one to three `SYNTHETIC_WORDS`, the speakers taking
    turns, and a manifest `manifest.csv` (`path,transcript,speaker`, paths relative to it);
    returns the manifest's path."""
    root = Path(root)
    (root / "clips").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(clips):
        words = rng.choice(SYNTHETIC_WORDS, size=int(rng.integers(1, 4)))
        text = " ".join(str(w) for w in words)
        speaker = list(SPEAKERS)[i % len(SPEAKERS)]
        name = f"clips/{i:04d}.wav"
        samples = synthetic_clip(text, sample_rate, rng, speaker)
        (root / name).write_bytes(encode_wav(samples, sample_rate))
        rows.append((name, text, speaker))
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "transcript", "speaker"])
        writer.writerows(rows)
    return manifest
