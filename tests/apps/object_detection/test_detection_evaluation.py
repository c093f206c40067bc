"""COCO metrics through pycocotools on hand-made ground truth and detections."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tfapps.apps.object_detection.evaluation import coco_metrics, write_examples, write_report
from tfapps.pipelines.detection_data import DetectionRecord

CLASSES = ("cat", "dog")


def _record(path: Path, boxes: list[list[float]], classes: list[int]) -> DetectionRecord:
    from PIL import Image

    Image.new("RGB", (100, 80)).save(path)
    return DetectionRecord(
        str(path), 100, 80, np.array(boxes, np.float32).reshape(-1, 4), np.array(classes, np.int32)
    )


def _found(boxes: list[list[float]], classes: list[int], scores: list[float], k: int = 5) -> dict:
    out = {
        "boxes": np.zeros((k, 4), np.float32),
        "scores": np.zeros(k, np.float32),
        "classes": np.zeros(k, np.int32),
        "num_detections": np.int32(len(boxes)),
    }
    out["boxes"][: len(boxes)] = np.array(boxes, np.float32).reshape(-1, 4)
    out["scores"][: len(scores)] = scores
    out["classes"][: len(classes)] = classes
    return out


@pytest.fixture
def records(tmp_path: Path) -> list[DetectionRecord]:
    return [
        _record(tmp_path / "a.png", [[10, 10, 50, 40], [20, 60, 70, 95]], [0, 1]),
        _record(tmp_path / "b.png", [[5, 5, 30, 30]], [0]),
    ]


def test_perfect_detections_score_one(records: list[DetectionRecord]) -> None:
    detections = [_found(r.boxes.tolist(), r.classes.tolist(), [0.9] * r.num_boxes) for r in records]
    metrics, per_class = coco_metrics(records, detections, CLASSES)
    assert metrics["map"] == pytest.approx(1.0) and metrics["map_50"] == pytest.approx(1.0)
    assert metrics["ap/cat"] == pytest.approx(1.0) and metrics["ap/dog"] == pytest.approx(1.0)
    assert per_class["cat"]["gt_boxes"] == 2 and per_class["dog"]["detections"] == 1


def test_loose_boxes_pass_at_iou_half_but_not_at_three_quarters(records: list[DetectionRecord]) -> None:
    # Each box widened by 30% of its width: IoU ~0.77, so it counts at 0.5 and 0.75 but not above 0.8.
    def widen(box: list[float]) -> list[float]:
        grow = 0.3 * (box[3] - box[1])
        return [box[0], box[1], box[2], box[3] + grow]

    detections = [
        _found([widen(b) for b in r.boxes.tolist()], r.classes.tolist(), [0.9] * r.num_boxes) for r in records
    ]
    metrics, _ = coco_metrics(records, detections, CLASSES)
    assert metrics["map_50"] == pytest.approx(1.0) and metrics["map_75"] == pytest.approx(1.0)
    assert 0.2 < metrics["map"] < 0.8


def test_wrong_class_and_missing_detections_lower_the_scores(records: list[DetectionRecord]) -> None:
    detections = [
        _found([records[0].boxes[0].tolist()], [1], [0.9]),  # right place, wrong class
        _found([], [], []),
    ]
    metrics, per_class = coco_metrics(records, detections, CLASSES)
    assert metrics["map"] == 0.0 and metrics["ap/cat"] == 0.0
    assert per_class["dog"]["detections"] == 1


def test_no_detections_at_all_gives_zeros(records: list[DetectionRecord]) -> None:
    metrics, per_class = coco_metrics(records, [_found([], [], []) for _ in records], CLASSES)
    assert metrics["map"] == 0.0 and metrics["ap/dog"] == 0.0
    assert per_class["cat"]["gt_boxes"] == 2


def test_report_and_examples_are_written(records: list[DetectionRecord], tmp_path: Path) -> None:
    detections = [_found(r.boxes.tolist(), r.classes.tolist(), [0.9] * r.num_boxes) for r in records]
    metrics, per_class = coco_metrics(records, detections, CLASSES)
    out = tmp_path / "eval"
    write_report(out, metrics, per_class)
    write_examples(out, records, detections, CLASSES)
    assert json.loads((out / "metrics.json").read_text())["map"] == pytest.approx(1.0)
    assert (out / "per_class.csv").read_text().splitlines()[0] == "class,gt_boxes,detections,ap,ap_50"
    assert sorted(p.name for p in (out / "examples").iterdir()) == ["00_a.png", "01_b.png"]
    assert (out / "precision_recall.png").stat().st_size > 0
    assert per_class["cat"]["precision_50"][0] == pytest.approx(1.0)
