"""Object detection quality: the raccoon dataset, no pretrained weights, two CPU cores.

Trains `object_detection` (preset `cpu` by default) on the images of `data/train_labels.csv`,
evaluates the best checkpoint on those of `data/test_labels.csv` with pycocotools, and prints the
metrics with the training wall-clock. The dataset is read in place from `../shared` (never copied).

    .venv/bin/python bench/raccoon.py [--preset cpu] [--epochs N] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/datasets/object_detection/raccoon/data"


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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from tfapps.apps import runs

    overrides = list(args.set) + ([f"train.epochs={args.epochs}"] if args.epochs else [])
    run_dir = args.work / f"run-{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    started = time.monotonic()
    result = runs.train_run(
        "object_detection", run_dir, preset=args.preset, data=str(train_csv), overrides=overrides
    )
    train_seconds = time.monotonic() - started
    metrics = runs.evaluate_run(run_dir, str(test_csv))
    figures = {
        "run_dir": str(run_dir),
        "preset": args.preset,
        "overrides": overrides,
        "epochs_run": len(result.history["loss"]),
        "train_seconds": round(train_seconds, 1),
        "final_loss": round(result.history["loss"][-1], 4),
        "final_val_loss": round(result.history.get("val_loss", [float("nan")])[-1], 4),
        "test": {k: round(v, 4) for k, v in metrics.items()},
        "goal": "map_50 >= 0.4 in <= 30 minutes, no pretrained weights",
    }
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
