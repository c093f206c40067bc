"""Medical classification metrics (accuracy, ROC AUC, per-class sensitivity and specificity) and
the evaluation artefacts: metrics, tables, ROC curves and Grad-CAM saliency overlays."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from tfapps.models.metrics import confusion_matrix

__all__ = ["medical_classification_metrics", "write_report"]


def medical_classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str]
) -> tuple[dict[str, float], np.ndarray]:
    """`accuracy`, `auc` (the positive class's ROC AUC for two classes, else the one-vs-rest mean
    over the classes present, as MedMNIST's evaluator), per class `sensitivity/<c>` (recall) and
    `specificity/<c>` (true-negative rate), and `examples`.

    Returns:
        `(metrics, confusion matrix [true, predicted])`; an undefined AUC (one class present) is NaN.
    """
    labels = np.asarray(labels, np.int64)
    k = len(class_names)
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted, k)
    metrics = {"accuracy": float((predicted == labels).mean()), "examples": float(len(labels))}
    present = np.unique(labels)
    if len(present) < 2:
        metrics["auc"] = float("nan")
    elif k == 2:
        metrics["auc"] = float(roc_auc_score(labels, probabilities[:, 1]))
    else:
        metrics["auc"] = float(np.mean([roc_auc_score(labels == c, probabilities[:, c]) for c in present]))
    total = matrix.sum()
    for c, name in enumerate(class_names):
        tp = matrix[c, c]
        fn = matrix[c].sum() - tp
        fp = matrix[:, c].sum() - tp
        tn = total - tp - fn - fp
        metrics[f"sensitivity/{name}"] = float(tp / (tp + fn)) if tp + fn else float("nan")
        metrics[f"specificity/{name}"] = float(tn / (tn + fp)) if tn + fp else float("nan")
    return metrics, matrix


def _plot_roc(labels: np.ndarray, probabilities: np.ndarray, names: Sequence[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    classes = [1] if len(names) == 2 else range(len(names))
    for c in classes:
        if 0 < (labels == c).sum() < len(labels):
            fpr, tpr, _ = roc_curve(labels == c, probabilities[:, c])
            ax.plot(fpr, tpr, label=names[c])
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_saliency(image: np.ndarray, saliency: np.ndarray, title: str, path: Path) -> None:
    """The image (the middle slice of a volume) with the heat map over it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if image.ndim == 3:
        middle = image.shape[0] // 2
        image, saliency = image[middle], saliency[middle]
    fig, axes = plt.subplots(1, 2, figsize=(6, 3.2))
    axes[0].imshow(image, cmap="gray")
    axes[1].imshow(image, cmap="gray")
    axes[1].imshow(saliency, cmap="jet", alpha=0.45, vmin=0, vmax=1)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(
    out_dir: Path,
    metrics: dict[str, float],
    matrix: np.ndarray,
    names: Sequence[str],
    split,
    probabilities: np.ndarray,
    examples: Sequence[tuple[np.ndarray, np.ndarray]],
) -> None:
    """Write `metrics.json`, `per_class.csv`, `confusion_matrix.json`, `predictions.csv`,
    `roc.png` and `saliency/*.png` under `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    (out_dir / "confusion_matrix.json").write_text(
        json.dumps({"labels": list(names), "matrix": matrix.tolist()})
    )
    with (out_dir / "per_class.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["class", "examples", "sensitivity", "specificity"])
        for c, name in enumerate(names):
            writer.writerow(
                [name, int(matrix[c].sum()), metrics[f"sensitivity/{name}"], metrics[f"specificity/{name}"]]
            )
    with (out_dir / "predictions.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "path", "label", "predicted", *[f"p/{n}" for n in names]])
        for i, (label, row) in enumerate(zip(split.labels, probabilities, strict=True)):
            path = split.paths[i] if i < len(split.paths) else ""
            writer.writerow([i, path, names[label], names[int(row.argmax())], *[f"{p:.5f}" for p in row]])
    _plot_roc(np.asarray(split.labels), probabilities, names, out_dir / "roc.png")
    (out_dir / "saliency").mkdir(exist_ok=True)
    for i, (image, heat) in enumerate(examples):
        label, predicted = names[split.labels[i]], names[int(probabilities[i].argmax())]
        _plot_saliency(
            image, heat, f"true {label}, predicted {predicted}", out_dir / "saliency" / f"{i:02d}.png"
        )
