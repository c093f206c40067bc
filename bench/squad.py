"""Question answering quality: SQuAD v1.1 dev split by article, no outside pretraining, two CPU cores.

The dev file's articles are shuffled with `random.Random(0).shuffle`; the first 80% are written as
the training file, the rest as the test file (`pipelines.squad_data.split_articles`). The CLI trains
(`tfapps train question_answering`, preset `cpu_drqa` by default: DrQA's recurrent reader, which
learns far more from these 8,803 questions than the Transformer reader of preset `cpu`; a seeded
10% of the training articles held out to pick the epoch), then evaluates the served graph on the
test articles with the official SQuAD metrics, and prints them with the training wall-clock.

    .venv/bin/python bench/squad.py [--preset cpu_drqa] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cli_runs import SHARED, train_and_evaluate

from tfapps.pipelines.squad_data import read_squad, split_articles, write_squad

DEFAULT_DATA = SHARED / "datasets/question_answering/squad_v1.1/dev-v1.1.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--preset", default="cpu_drqa")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--work", type=Path, default=Path("bench-work/squad"))
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"SQuAD v1.1 dev not found at {args.data} (the shared datasets folder).", file=sys.stderr)
        return 2
    dataset = read_squad(args.data, split="val")
    train, test = split_articles(dataset, fraction=0.8, seed=0)
    run_dir = args.work / f"run-{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    train_file = write_squad(train, run_dir.parent / "split-train.json", version="1.1")
    test_file = write_squad(test, run_dir.parent / "split-test.json", version="1.1")
    figures = train_and_evaluate("question_answering", train_file, test_file, run_dir, args.preset, args.set)
    figures["split"] = {
        "train_questions": len(train),
        "test_questions": len(test),
        "test_articles": sorted({e.title for e in test}),
    }
    figures["goal"] = "test f1 >= 20 with no outside pretraining in <= 60 minutes"
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
