"""A generated parallel corpus: short English sentences and their word-by-word German."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["GLOSSARY", "synthetic_pairs", "write_synthetic_pairs"]

# English → German, one word each, so a small model can learn the mapping in seconds.
GLOSSARY = {
    "a": "ein",
    "the": "der",
    "man": "Mann",
    "dog": "Hund",
    "boy": "Junge",
    "ball": "Ball",
    "car": "Wagen",
    "sees": "sieht",
    "has": "hat",
    "likes": "mag",
    "big": "großer",
    "small": "kleiner",
    "red": "roter",
    "blue": "blauer",
}
_SUBJECTS = ["man", "dog", "boy"]
_VERBS = ["sees", "has", "likes"]
_OBJECTS = ["ball", "car", "dog", "man"]
_ADJECTIVES = ["big", "small", "red", "blue"]


def synthetic_pairs(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """`count` (English, German) sentence pairs such as ("the man sees a red ball.",
    "der Mann sieht ein roter Ball.")."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        words = [str(rng.choice(["a", "the"])), str(rng.choice(_SUBJECTS)), str(rng.choice(_VERBS))]
        words.append(str(rng.choice(["a", "the"])))
        if rng.random() < 0.5:
            words.append(str(rng.choice(_ADJECTIVES)))
        words.append(str(rng.choice(_OBJECTS)))
        english = " ".join(words) + "."
        german = " ".join(GLOSSARY[w] for w in words) + "."
        pairs.append((english[0].upper() + english[1:], german[0].upper() + german[1:]))
    return pairs


def write_synthetic_pairs(path: Path, count: int = 200, seed: int = 0) -> Path:
    """Write a `source<TAB>target` TSV (English, German; header row, then one pair per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ["source\ttarget"] + [f"{en}\t{de}" for en, de in synthetic_pairs(count, seed)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path
