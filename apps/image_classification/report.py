"""Evaluation artefacts: confusion matrix (JSON and PNG) and a per-class table."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["write_report"]


def _plot_confusion(matrix: np.ndarray, class_names: Sequence[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    size = max(4.0, 0.5 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    row_sums = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, row_sums, out=np.zeros(matrix.shape), where=row_sums > 0)
    ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(class_names) <= 30:
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(
                j,
                i,
                str(count),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if normalised[i, j] > 0.5 else "black",
            )
    ax.set_title("Confusion matrix (rows: true class)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(
    out_dir: Path, metrics: Mapping[str, float], matrix: np.ndarray, class_names: Sequence[str]
) -> None:
    """Write `metrics.json`, `confusion_matrix.json`, `confusion_matrix.png` and `per_class.csv`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(dict(metrics), indent=1))
    (out_dir / "confusion_matrix.json").write_text(
        json.dumps(
            {"labels": list(class_names), "matrix": matrix.tolist(), "rows": "true", "columns": "predicted"}
        )
    )
    _plot_confusion(matrix, class_names, out_dir / "confusion_matrix.png")
    with (out_dir / "per_class.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["class", "support", "precision", "recall", "f1"])
        for i, name in enumerate(class_names):
            writer.writerow(
                [
                    name,
                    int(matrix[i].sum()),
                    metrics[f"precision/{name}"],
                    metrics[f"recall/{name}"],
                    metrics[f"f1/{name}"],
                ]
            )
