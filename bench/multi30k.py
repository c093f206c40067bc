"""Machine translation quality: Multi30k English→German, no outside pretraining, two CPU cores.

The CLI trains (`tfapps train translation`, preset `cpu` by default) on `raw/train.{en,de}.gz`,
validates on `raw/val` (the best epoch by validation loss), then evaluates the best model's served
graph (beam search as served) on `raw/test_2016_flickr` with sacrebleu, and prints BLEU, chrF and
the training wall-clock. The files are read in place.

    .venv/bin/python bench/multi30k.py [--preset cpu] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cli_runs import SHARED, train_and_evaluate

DEFAULT_DATA = SHARED / "datasets/machine_translation/multi30k_en_de/raw"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--work", type=Path, default=Path("bench-work/multi30k"))
    args = parser.parse_args(argv)
    if not (args.data / "train.en.gz").is_file():
        print(f"Multi30k not found under {args.data} (the shared datasets folder).", file=sys.stderr)
        return 2
    run_dir = args.work / f"run-{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    figures = train_and_evaluate(
        "translation",
        args.data / "train",
        args.data / "test_2016_flickr",
        run_dir,
        args.preset,
        ["data.source_lang=en", "data.target_lang=de", *args.set],
        val_data=args.data / "val",
    )
    figures["goal"] = "test_2016_flickr BLEU >= 25 with no outside pretraining in <= 60 minutes"
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
