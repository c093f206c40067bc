"""Evaluation metrics computed on whole datasets (numpy), flat and JSON-ready."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["classification_report", "confusion_matrix"]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """`[true, predicted]` counts."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return matrix


def classification_report(
    y_true: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str]
) -> tuple[dict[str, float], np.ndarray]:
    """Accuracy, top-5 accuracy (more than 5 classes), macro and per-class precision, recall and F1.

    Args:
        y_true: `[n]` true class indices.
        probabilities: `[n, classes]` scores (any monotonic score works).
        class_names: names used in the per-class keys (`"precision/<name>"`).

    Returns:
        `(metrics, confusion_matrix)`; per-class values of classes never predicted or never
        present are 0.0 (as scikit-learn's `zero_division=0`).
    """
    y_true = np.asarray(y_true, np.int64)
    probabilities = np.asarray(probabilities)
    num_classes = len(class_names)
    y_pred = probabilities.argmax(axis=1)
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    metrics: dict[str, float] = {"accuracy": float((y_pred == y_true).mean()), "examples": float(len(y_true))}
    if num_classes > 5:
        top5 = np.argsort(-probabilities, axis=1)[:, :5]
        metrics["top5_accuracy"] = float((top5 == y_true[:, None]).any(axis=1).mean())
    true_positive = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    actual = matrix.sum(axis=1).astype(np.float64)
    precision = np.divide(true_positive, predicted, out=np.zeros(num_classes), where=predicted > 0)
    recall = np.divide(true_positive, actual, out=np.zeros(num_classes), where=actual > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros(num_classes), where=denominator > 0)
    metrics["macro_precision"] = float(precision.mean())
    metrics["macro_recall"] = float(recall.mean())
    metrics["macro_f1"] = float(f1.mean())
    for i, name in enumerate(class_names):
        metrics[f"precision/{name}"] = float(precision[i])
        metrics[f"recall/{name}"] = float(recall[i])
        metrics[f"f1/{name}"] = float(f1[i])
    return metrics, matrix
