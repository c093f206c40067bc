"""COCO-style detection metrics through pycocotools, and the evaluation artefacts.

Ground truth and detections are both in each original image's pixels (the served model's output),
so what is scored is exactly what a client receives.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfapps.pipelines.detection_data import DetectionRecord

__all__ = ["coco_metrics", "write_examples", "write_report"]


def _xywh(boxes: np.ndarray) -> np.ndarray:
    """Pixel `ymin, xmin, ymax, xmax` → COCO `x, y, width, height`."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack([boxes[:, 1], boxes[:, 0], boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]], axis=1)


def _ground_truth(records: Sequence[DetectionRecord], class_names: Sequence[str]) -> dict:
    images, annotations = [], []
    for image_id, record in enumerate(records, start=1):
        images.append({"id": image_id, "width": record.width, "height": record.height})
        for box, cls, difficult in zip(
            _xywh(record.boxes),
            record.classes.tolist(),
            record.difficult.tolist() if record.difficult is not None else [False] * record.num_boxes,
            strict=True,
        ):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(cls) + 1,
                    "bbox": box.tolist(),
                    "area": float(box[2] * box[3]),
                    # VOC "difficult" boxes neither count as misses nor as false positives when found.
                    "iscrowd": int(bool(difficult)),
                }
            )
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(class_names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_metrics(
    records: Sequence[DetectionRecord], detections: Sequence[dict], class_names: Sequence[str]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """COCO mAP over IoU 0.5:0.95, at 0.5 and 0.75, and per-class AP.

    Args:
        records: the ground truth, one record per image.
        detections: per image (same order): `boxes` `[K, 4]` pixel ymin/xmin/ymax/xmax, `scores`,
            `classes` (0-based), `num_detections`.
        class_names: class names by index.

    Returns:
        `(metrics, per_class)`: flat metrics (`map`, `map_50`, `map_75`, `map_small|medium|large`,
        `ar_100`, `ap/<class>`), and per class `{"ap", "ap_50", "gt_boxes", "detections"}`. A class
        without ground-truth boxes has no AP and is left out of the means, as in COCO.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO()
    gt.dataset = _ground_truth(records, class_names)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        gt.createIndex()
    results = []
    for image_id, found in enumerate(detections, start=1):
        n = int(found["num_detections"])
        for box, score, cls in zip(
            _xywh(found["boxes"][:n]), found["scores"][:n], found["classes"][:n], strict=True
        ):
            results.append(
                {
                    "image_id": image_id,
                    "category_id": int(cls) + 1,
                    "bbox": box.tolist(),
                    "score": float(score),
                }
            )
    gt_counts = np.bincount(
        np.concatenate([r.classes for r in records]).astype(np.int64) if records else np.zeros(0, np.int64),
        minlength=len(class_names),
    )
    found_counts = np.bincount([r["category_id"] - 1 for r in results], minlength=len(class_names))
    names = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "ar_1", "ar_10", "ar_100")
    if not results or not gt.dataset["annotations"]:
        metrics = dict.fromkeys(names, 0.0)
        per_class = {
            name: {"ap": 0.0, "ap_50": 0.0, "gt_boxes": int(gt_counts[i]), "detections": int(found_counts[i])}
            for i, name in enumerate(class_names)
        }
        metrics.update({f"ap/{name}": 0.0 for name in class_names})
        return metrics, per_class
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        evaluator = COCOeval(gt, dt, iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = evaluator.stats  # AP@[.5:.95], AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ...
    metrics = {name: max(float(stats[i]), 0.0) for i, name in enumerate(names[:6])}
    metrics.update({name: max(float(stats[i]), 0.0) for i, name in zip((6, 7, 8), names[6:], strict=True)})
    precision = evaluator.eval["precision"]  # [IoU thresholds, recall points, classes, areas, max dets]
    per_class = {}
    for i, name in enumerate(class_names):
        curves = precision[:, :, i, 0, -1]
        at_50 = curves[0]
        ap = float(np.mean(curves[curves > -1])) if (curves > -1).any() else float("nan")
        ap_50 = float(np.mean(at_50[at_50 > -1])) if (at_50 > -1).any() else float("nan")
        per_class[name] = {
            "ap": ap,
            "ap_50": ap_50,
            "gt_boxes": int(gt_counts[i]),
            "detections": int(found_counts[i]),
            # Precision at IoU 0.5 on COCO's 101 recall points (-1 where recall is never reached).
            "precision_50": at_50.tolist(),
        }
        if not np.isnan(ap):
            metrics[f"ap/{name}"] = ap
    return metrics, per_class


def _plot_precision_recall(per_class: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    recall = np.linspace(0, 1, 101)  # COCOeval's recall thresholds
    for name, row in per_class.items():
        precision = np.asarray(row.get("precision_50", []), float)
        if precision.size == recall.size and (precision > -1).any():
            reached = precision > -1
            ax.plot(recall[reached], precision[reached], label=f"{name} (AP50 {row['ap_50']:.2f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall at IoU 0.5")
    if ax.lines:
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(out_dir: Path, metrics: dict[str, float], per_class: dict[str, dict[str, float]]) -> None:
    """Write `metrics.json`, `per_class.csv` and `precision_recall.png` (IoU 0.5, per class)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _plot_precision_recall(per_class, out_dir / "precision_recall.png")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    with (out_dir / "per_class.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["class", "gt_boxes", "detections", "ap", "ap_50"])
        for name, row in per_class.items():
            writer.writerow([name, row["gt_boxes"], row["detections"], row["ap"], row["ap_50"]])


def write_examples(
    out_dir: Path,
    records: Sequence[DetectionRecord],
    detections: Sequence[dict],
    class_names: Sequence[str],
    count: int = 8,
    min_score: float = 0.3,
) -> None:
    """Draw ground truth (green) and detections scoring at least `min_score` (red, with label and
    score) on the first `count` images, as `examples/<n>_<file>.png`."""
    from PIL import Image, ImageDraw

    folder = out_dir / "examples"
    folder.mkdir(parents=True, exist_ok=True)
    for n, (record, found) in enumerate(zip(records[:count], detections[:count], strict=False)):
        with Image.open(record.image_path) as source:
            image = source.convert("RGB")
        draw = ImageDraw.Draw(image)
        for ymin, xmin, ymax, xmax in record.boxes.tolist():
            draw.rectangle([xmin, ymin, xmax, ymax], outline=(0, 200, 0), width=2)
        for k in range(int(found["num_detections"])):
            score = float(found["scores"][k])
            if score < min_score:
                continue
            ymin, xmin, ymax, xmax = (float(v) for v in found["boxes"][k])
            draw.rectangle([xmin, ymin, xmax, ymax], outline=(220, 0, 0), width=2)
            draw.text(
                (xmin + 2, ymin + 1), f"{class_names[int(found['classes'][k])]} {score:.2f}", fill=(220, 0, 0)
            )
        image.save(folder / f"{n:02d}_{Path(record.image_path).stem}.png")
