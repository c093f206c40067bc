"""Medical segmentation quality: whole-tumour Dice on the BRATS 2015 DeepMedic subset (FLAIR only).

Writes `train.csv`, `val.csv` and `test.csv` (`image,label` columns, paths relative to the CSV,
pointing into `../shared`: nothing is copied) for the subset's own train (2 cases), validation
(2) and test (2) folders, then the CLI trains (`tfapps train medical_segmentation`, preset `cpu`,
labels 1-4 merged into one "whole_tumour" class) and evaluates on the test cases with
sliding-window inference over the whole 240×240×155 volumes.

    .venv/bin/python bench/brats.py [--preset cpu] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

from cli_runs import SHARED, train_and_evaluate

DEFAULT_DATA = SHARED / "datasets/medical_imaging/brats2015_deepmedic_subset"


def write_csv(split_dir: Path, path: Path) -> Path:
    """An `image,label` CSV of the FLAIR volume and the labels of every case in `split_dir`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_id", "image", "label"])
        for case in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            image = os.path.relpath(case / "Flair_subtrMeanDivStd.nii.gz", path.parent)
            label = os.path.relpath(case / "OTMultiClass.nii.gz", path.parent)
            writer.writerow([case.name, image, label])
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--work", type=Path, default=Path("bench-work/brats"))
    args = parser.parse_args(argv)
    if not (args.data / "train").is_dir():
        print(f"BRATS subset not found under {args.data} (the shared datasets folder).", file=sys.stderr)
        return 2
    csvs = {
        split: write_csv(args.data / split, args.work / f"{split}.csv")
        for split in ("train", "validation", "test")
    }
    overrides = ["data.label_groups=[[1,2,3,4]]", "data.class_names=background,whole_tumour", *args.set]
    run_dir = args.work / f"run-{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    figures = train_and_evaluate(
        "medical_segmentation",
        csvs["train"],
        csvs["test"],
        run_dir,
        args.preset,
        overrides,
        val_data=csvs["validation"],
        monitor="dice",
    )
    figures["goal"] = "whole-tumour dice >= 0.7 on the 2 test cases"
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
