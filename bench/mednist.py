"""Medical classification quality (2D): the MedNIST subset, six classes, no pretrained weights.

The split the issue states: in every class folder, sorted by name, every 5th file (the 1st, 6th,
11th, ...) is the test set, the rest trains (10% of it held out, per class, for validation). The
split is built as symlinks under `--work` (the dataset is never copied), then the CLI trains
(`tfapps train medical_classification`, preset `cpu`) and evaluates on the test files.

    .venv/bin/python bench/mednist.py [--preset cpu] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cli_runs import SHARED, train_and_evaluate

DEFAULT_DATA = SHARED / "datasets/medical_imaging/mednist_subset"


def build_split(data: Path, root: Path) -> Path:
    """`root/train/<class>/` and `root/test/<class>/` of symlinks; every 5th sorted file is test."""
    for class_dir in sorted(p for p in data.iterdir() if p.is_dir()):
        for i, source in enumerate(sorted(class_dir.iterdir())):
            target = root / ("test" if i % 5 == 0 else "train") / class_dir.name / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.is_symlink():
                target.symlink_to(source.resolve())
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--work", type=Path, default=Path("bench-work/mednist"))
    args = parser.parse_args(argv)
    if not (args.data / "Hand").is_dir():
        print(f"MedNIST subset not found under {args.data} (the shared datasets folder).", file=sys.stderr)
        return 2
    split = build_split(args.data, args.work / "split")
    run_dir = args.work / f"run-{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    figures = train_and_evaluate(
        "medical_classification",
        split / "train",
        split / "test",
        run_dir,
        args.preset,
        args.set,
        monitor="accuracy",
    )
    figures["goal"] = "accuracy >= 0.97 on every 5th file of each class"
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
