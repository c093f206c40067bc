"""Spoken digit strings synthesised with espeak-ng (Debian package `espeak-ng`), for the
sentence-level benchmark and its tests: many voices, speaking rates and pitches, with a CSV
manifest naming each clip's voice as its speaker so that test voices can be held out."""

from __future__ import annotations

import csv
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfapps.apps.errors import FailedPreconditionError

__all__ = ["DIGIT_WORDS", "espeak_available", "synthesize", "write_digit_strings"]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def espeak_available() -> bool:
    """Whether the `espeak-ng` command is on the PATH."""
    return shutil.which("espeak-ng") is not None


def synthesize(text: str, voice: str, words_per_minute: int = 175, pitch: int = 50) -> bytes:
    """WAV bytes (espeak-ng's own 22,050 Hz 16-bit mono) of `text` spoken by `voice` (e.g.
    `en-us+f2`: a language voice and a variant).

    Raises:
        FailedPreconditionError: espeak-ng is not installed, or it failed for this voice.
    """
    if not espeak_available():
        raise FailedPreconditionError(
            "espeak-ng is not installed (Debian: apt-get install espeak-ng). Received: PATH without espeak-ng"
        )
    command = ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-p", str(pitch), "--stdout", text]
    result = subprocess.run(command, capture_output=True, check=False, timeout=60)
    if result.returncode != 0 or not result.stdout.startswith(b"RIFF"):
        raise FailedPreconditionError(
            f"espeak-ng failed for voice {voice!r}: {result.stderr.decode(errors='replace').strip()} "
            f"Received: voice={voice!r}, text={text!r}"
        )
    return result.stdout


def write_digit_strings(
    root: Path,
    voices: Sequence[str],
    clips_per_voice: int,
    seed: int = 0,
    min_digits: int = 3,
    max_digits: int = 7,
    manifest_name: str = "manifest.csv",
) -> Path:
    """Synthesise `clips_per_voice` random digit strings ("three one four") per voice, at a
    random rate (140-200 words per minute) and pitch (30-70), into `root/clips/`; write the
    manifest (`path,transcript,speaker`, speaker = the voice) and return its path."""
    root = Path(root)
    (root / "clips").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for voice in voices:
        for i in range(clips_per_voice):
            digits = rng.integers(0, 10, size=int(rng.integers(min_digits, max_digits + 1)))
            text = " ".join(DIGIT_WORDS[d] for d in digits)
            wav = synthesize(text, voice, int(rng.integers(140, 201)), int(rng.integers(30, 71)))
            name = f"clips/{voice.replace('+', '_')}_{i:04d}.wav"
            (root / name).write_bytes(wav)
            rows.append((name, text, voice))
    manifest = root / manifest_name
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "transcript", "speaker"])
        writer.writerows(rows)
    return manifest
