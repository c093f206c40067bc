"""A generated text classification set: short product reviews whose class shows in their words."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["write_synthetic_reviews"]

_WORDS = {
    "positive": ["great", "excellent", "loved", "wonderful", "perfect", "happy", "recommend"],
    "negative": ["awful", "broken", "hated", "terrible", "refund", "useless", "disappointed"],
    "neutral": ["arrived", "ordered", "package", "tuesday", "colour", "size", "box"],
}
_FILLER = ["the", "it", "this", "was", "and", "a", "product", "is", "very", "i", "my", "with"]


def write_synthetic_reviews(path: Path, per_class: int = 40, seed: int = 0) -> Path:
    """Write `sentence\\tlabel` rows (GLUE's layout) for the classes positive, negative, neutral."""
    rng = np.random.default_rng(seed)
    rows = ["sentence\tlabel"]
    for _ in range(per_class):
        for label, words in _WORDS.items():
            chosen = list(rng.choice(words, size=2)) + list(rng.choice(_FILLER, size=int(rng.integers(3, 7))))
            rng.shuffle(chosen)
            rows.append(f"{' '.join(chosen)}\t{label}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path
