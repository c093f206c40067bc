"""Whole-dataset classification metrics against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tfapps.models.metrics import classification_report, confusion_matrix


def one_hot_scores(predicted, num_classes):
    """Scores whose argmax is `predicted` (noise below the winning margin)."""
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 0.5, (len(predicted), num_classes))
    scores[np.arange(len(predicted)), predicted] = 1.0
    return scores


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    matrix = confusion_matrix(np.array([0, 1, 2, 2, 2]), np.array([0, 2, 2, 1, 2]), 4)
    expected = [
        [1, 0, 0, 0],
        [0, 0, 1, 0],
        [0, 1, 2, 0],
        [0, 0, 0, 0],
    ]
    np.testing.assert_array_equal(matrix, expected)
    assert matrix.dtype == np.int64


def test_report_on_a_small_example():
    # (true, predicted): (a,a) (a,b) (b,b) (b,b) (c,c) (c,a) (c,b)
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0, 1])
    metrics, matrix = classification_report(y_true, one_hot_scores(predicted, 3), ["a", "b", "c"])
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 2, 0], [1, 1, 1]])
    assert metrics["accuracy"] == pytest.approx(4 / 7)
    assert metrics["examples"] == 7
    assert "top5_accuracy" not in metrics  # only with more than 5 classes
    # precision = diagonal / column sums (2, 4, 1); recall = diagonal / row sums (2, 2, 3)
    assert metrics["precision/a"] == pytest.approx(1 / 2)
    assert metrics["precision/b"] == pytest.approx(2 / 4)
    assert metrics["precision/c"] == pytest.approx(1 / 1)
    assert metrics["recall/a"] == pytest.approx(1 / 2)
    assert metrics["recall/b"] == pytest.approx(2 / 2)
    assert metrics["recall/c"] == pytest.approx(1 / 3)
    # f1 = 2pr / (p + r)
    assert metrics["f1/a"] == pytest.approx(0.5)
    assert metrics["f1/b"] == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert metrics["f1/c"] == pytest.approx(2 * 1 * (1 / 3) / (4 / 3))
    assert metrics["macro_precision"] == pytest.approx((0.5 + 0.5 + 1) / 3)
    assert metrics["macro_recall"] == pytest.approx((0.5 + 1 + 1 / 3) / 3)
    assert metrics["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0.5) / 3)
    assert all(isinstance(v, float) for v in metrics.values())  # JSON-ready


def test_perfect_predictions():
    y_true = np.array([2, 0, 1, 1])
    metrics, matrix = classification_report(y_true, one_hot_scores(y_true, 3), ["x", "y", "z"])
    np.testing.assert_array_equal(matrix, np.diag([1, 2, 1]))
    assert metrics["accuracy"] == 1.0
    assert metrics["macro_f1"] == 1.0


def test_absent_and_never_predicted_classes_score_zero():
    # Class "c" is never predicted; class "d" never occurs and is never predicted.
    y_true = np.array([0, 1, 2, 2])
    predicted = np.array([0, 1, 1, 0])
    metrics, _ = classification_report(y_true, one_hot_scores(predicted, 4), ["a", "b", "c", "d"])
    assert metrics["precision/c"] == metrics["recall/c"] == metrics["f1/c"] == 0.0
    assert metrics["precision/d"] == metrics["recall/d"] == metrics["f1/d"] == 0.0
    # a: tp 1 of 2 predicted, 1 of 1 true; b: tp 1 of 2 predicted, 1 of 1 true.
    assert metrics["precision/a"] == pytest.approx(0.5)
    assert metrics["recall/a"] == pytest.approx(1.0)
    assert metrics["macro_precision"] == pytest.approx((0.5 + 0.5) / 4)
    assert metrics["macro_recall"] == pytest.approx((1 + 1) / 4)
    assert all(np.isfinite(v) for v in metrics.values())


def test_top5_accuracy_with_more_than_five_classes():
    names = [f"c{i}" for i in range(7)]
    # Scores 6, 5, 4, ... for classes 0, 1, 2, ...: class k is ranked k + 1.
    scores = np.tile(np.arange(7, 0, -1, dtype=np.float64), (4, 1))
    y_true = np.array([0, 4, 5, 6])  # ranks 1, 5, 6, 7 → in the top five: 2 of 4
    metrics, _ = classification_report(y_true, scores, names)
    assert metrics["top5_accuracy"] == pytest.approx(0.5)
    assert metrics["accuracy"] == pytest.approx(0.25)


def test_any_monotonic_score_gives_the_same_report():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(30, 6))
    y_true = rng.integers(0, 6, 30)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    names = list("abcdef")
    from_logits, matrix_logits = classification_report(y_true, logits, names)
    from_probabilities, matrix_probabilities = classification_report(y_true, probabilities, names)
    np.testing.assert_array_equal(matrix_logits, matrix_probabilities)
    assert from_logits == pytest.approx(from_probabilities)
    assert from_logits["accuracy"] == pytest.approx(np.mean(logits.argmax(axis=1) == y_true))
