"""Medical classification quality (3D): AdrenalMNIST3D 28³, official split, mean AUC of three seeds.

For each seed, the CLI trains (`tfapps train medical_classification`, preset `cpu_3d`) on the
`.npz` (MedMNIST's train and val arrays; 10% held out per class for validation and model
selection by validation AUC) and evaluates on the official test arrays. Prints every seed's
metrics and the mean and spread of the test AUC and accuracy.

    .venv/bin/python bench/adrenalmnist3d.py [--seeds 0 1 2] [--preset cpu_3d] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from cli_runs import SHARED, train_and_evaluate

DEFAULT_DATA = SHARED / "datasets/medical_imaging/adrenalmnist3d/adrenalmnist3d.npz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--preset", default="cpu_3d")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--work", type=Path, default=Path("bench-work/adrenalmnist3d"))
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"AdrenalMNIST3D not found at {args.data} (the shared datasets folder).", file=sys.stderr)
        return 2
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs = []
    for seed in args.seeds:
        overrides = ["data.class_names=normal,hyperplasia", f"data.seed={seed}", *args.set]
        run_dir = args.work / f"run-{args.preset}-{stamp}-seed{seed}"
        runs.append(
            train_and_evaluate(
                "medical_classification", args.data, args.data, run_dir, args.preset, overrides, monitor="auc"
            )
        )
        print(json.dumps(runs[-1]), file=sys.stderr)
    aucs = [r["test"]["auc"] for r in runs]
    accuracies = [r["test"]["accuracy"] for r in runs]
    figures = {
        "runs": runs,
        "seeds": args.seeds,
        "mean_auc": round(statistics.mean(aucs), 4),
        "stdev_auc": round(statistics.stdev(aucs), 4) if len(aucs) > 1 else 0.0,
        "mean_accuracy": round(statistics.mean(accuracies), 4),
        "mean_train_seconds": round(statistics.mean(r["train_seconds"] for r in runs), 1),
        "goal": "mean test auc of three seeds >= 0.83 (published 3D ResNets: 0.827-0.828)",
    }
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
