"""Semantic segmentation quality: the CamVid (SegNet 11-class) subset, no pretrained weights, two CPU cores.

Runs the CLI: `tfapps train semantic_segmentation` (preset `cpu` by default) on `train/`, validating
on `val/`, then `tfapps evaluate` of the best checkpoint on `test/` (mean IoU over the 11 classes,
class 11 "Unlabelled" ignored), and prints the metrics with the training wall-clock. The dataset
is read in place from `../shared` (never copied).

    .venv/bin/python bench/camvid.py [--preset cpu] [--epochs N] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cli_runs import SHARED, train_and_evaluate

DEFAULT_DATA = SHARED / "datasets/semantic_segmentation/camvid_segnet_subset"
CLASSES = "Sky,Building,Pole,Road,Pavement,Tree,SignSymbol,Fence,Car,Pedestrian,Bicyclist"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the CamVid subset folder")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--work", type=Path, default=Path("bench-work/camvid"))
    args = parser.parse_args(argv)
    if not (args.data / "trainannot").is_dir():
        print(f"CamVid subset not found under {args.data} (the shared datasets folder).", file=sys.stderr)
        return 2
    overrides = [f"data.class_names={CLASSES}", "data.ignore_index=11", *args.set]
    overrides += [f"train.epochs={args.epochs}"] if args.epochs else []
    run_dir = args.work / f"run-{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    figures = train_and_evaluate(
        "semantic_segmentation",
        args.data / "train",
        args.data / "test",
        run_dir,
        args.preset,
        overrides,
        val_data=args.data / "val",
        monitor="mean_iou",
    )
    figures["goal"] = "mean_iou >= 0.35 over the 11 classes in <= 30 minutes, no pretrained weights"
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
