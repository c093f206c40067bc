"""Object detection quality: the raccoon dataset, no pretrained weights, two CPU cores.

Runs the CLI: `tfapps train object_detection` (preset `cpu` by default) on the images of
`data/train_labels.csv`, then `tfapps evaluate` of the best checkpoint on those of
`data/test_labels.csv` (pycocotools), and prints the metrics with the training wall-clock. The
dataset is read in place from `../shared` (never copied).

    .venv/bin/python bench/raccoon.py [--preset cpu] [--epochs N] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cli_runs import SHARED, train_and_evaluate

DEFAULT_DATA = SHARED / "datasets/object_detection/raccoon/data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder with train_labels.csv, test_labels.csv"
    )
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--work", type=Path, default=Path("bench-work/raccoon"))
    args = parser.parse_args(argv)
    train_csv, test_csv = args.data / "train_labels.csv", args.data / "test_labels.csv"
    if not train_csv.is_file() or not test_csv.is_file():
        print(f"Raccoon CSVs not found under {args.data} (the shared datasets folder).", file=sys.stderr)
        return 2
    overrides = list(args.set) + ([f"train.epochs={args.epochs}"] if args.epochs else [])
    run_dir = args.work / f"run-{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    figures = train_and_evaluate("object_detection", train_csv, test_csv, run_dir, args.preset, overrides)
    figures["goal"] = "map_50 >= 0.4 in <= 30 minutes, no pretrained weights"
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
