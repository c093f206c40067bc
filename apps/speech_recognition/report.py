"""Evaluation plot: a few test clips' log-mel features with the model's best label per output
frame beneath, to see where it hears each character (or piece) and where it hears nothing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["AlignedExample", "plot_alignments"]


class AlignedExample(NamedTuple):
    """One clip for `plot_alignments`.

    Attributes:
        features: log-mel features `[frames, mels]` (the valid frames only).
        frame_labels: the best label of each output frame ("" for the blank).
        frames_per_label: feature frames per output frame (the model's time stride).
        reference, transcript: the clip's reference and what the model transcribed.
    """

    features: np.ndarray
    frame_labels: Sequence[str]
    frames_per_label: int
    reference: str
    transcript: str


def plot_alignments(examples: Sequence[AlignedExample], path: Path) -> None:
    """Write one panel per example: features as an image (time across), the non-blank frame
    labels at their frames, and the reference and transcript in the title."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(examples), 1, figsize=(10, 2.4 * len(examples)), squeeze=False)
    for ax, example in zip(axes[:, 0], examples, strict=True):
        ax.imshow(example.features.T, origin="lower", aspect="auto", cmap="magma")
        for frame, label in enumerate(example.frame_labels):
            if label:
                x = (frame + 0.5) * example.frames_per_label - 0.5
                ax.axvline(x, color="cyan", linewidth=0.6, alpha=0.6)
                top = example.features.shape[1] - 0.5
                ax.text(x, top, label.replace(" ", "␣"), color="black", ha="center", va="bottom", fontsize=8)
        ax.set_ylabel("mel bin")
        ax.set_title(f"reference: {example.reference!r}   transcript: {example.transcript!r}", fontsize=9)
    axes[-1, 0].set_xlabel("feature frame")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
