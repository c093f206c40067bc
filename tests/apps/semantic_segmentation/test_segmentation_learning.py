"""The segmenter learns: trained on generated shapes, it segments the shapes of unseen images."""

from __future__ import annotations

from pathlib import Path

from tfapps.apps import runs
from tfapps.apps.semantic_segmentation.synthetic import write_shapes_segmentation


def test_segmenter_finds_unseen_shapes(tmp_path: Path) -> None:
    train = write_shapes_segmentation(tmp_path / "train", images=48, seed=0)
    test = write_shapes_segmentation(tmp_path / "test", images=12, seed=1)
    runs.train_run(
        "semantic_segmentation",
        tmp_path / "run",
        preset="tiny",
        data=str(train),
        overrides=["train.epochs=25", "model.base_filters=8", "train.learning_rate=5e-3"],
    )
    metrics = runs.evaluate_run(tmp_path / "run", str(test))
    # An untrained or misaligned model scores ~0.3 (background only); a trained one far more.
    assert metrics["mean_iou"] >= 0.6, metrics
    assert metrics["iou/disc"] > 0.4 and metrics["iou/square"] > 0.4, metrics
    artefacts = {p.name for p in (tmp_path / "run" / "eval").iterdir()}
    assert {
        "metrics.json",
        "per_class.csv",
        "per_class_iou.png",
        "confusion_matrix.json",
        "examples",
    } <= artefacts
