"""Speech recognition quality: the Free Spoken Digit Dataset (FSDD), its standard split, two CPU
cores. Each recording's transcript is its digit as an English word (`7_jackson_32.wav` → "seven");
recordings with index 0-4 are the test set (300 clips), 5-49 the training set (2,700 clips, a
seeded 10% of which is held out to pick the epoch). The script writes the two CSV manifests
(`path,transcript,speaker`), trains through the CLI (`tfapps train speech_recognition`, preset
`cpu` at FSDD's 8 kHz), evaluates the served graph with jiwer's WER/CER and prints the figures
with the training wall-clock.

    .venv/bin/python bench/fsdd.py [--preset cpu] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from cli_runs import SHARED, train_and_evaluate

DEFAULT_DATA = SHARED / "datasets/speech_recognition/free_spoken_digit_dataset/recordings"
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def write_manifests(recordings: Path, out: Path) -> tuple[Path, Path, dict[str, int]]:
    """Write `train.csv` (index 5-49) and `test.csv` (index 0-4) for the FSDD `recordings` folder."""
    rows: dict[str, list[tuple[str, str, str]]] = {"train": [], "test": []}
    for path in sorted(recordings.glob("*.wav")):
        digit, speaker, index = path.stem.split("_")
        split = "test" if int(index) <= 4 else "train"
        rows[split].append((str(path.resolve()), DIGITS[int(digit)], speaker))
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for split in ("train", "test"):
        file = out / f"{split}.csv"
        with file.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "transcript", "speaker"])
            writer.writerows(rows[split])
        files.append(file)
    return files[0], files[1], {split: len(items) for split, items in rows.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="FSDD's recordings folder")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--work", type=Path, default=Path("bench-work/fsdd"))
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"FSDD recordings not found at {args.data} (the shared datasets folder).", file=sys.stderr)
        return 2
    run_dir = args.work / f"run-{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    train_file, test_file, counts = write_manifests(args.data, run_dir.parent / "manifests")
    # FSDD is recorded at 8 kHz: the model runs at that rate rather than upsampling.
    overrides = ["data.sample_rate=8000", *args.set]
    figures = train_and_evaluate("speech_recognition", train_file, test_file, run_dir, args.preset, overrides)
    figures["split"] = counts
    figures["goal"] = "test wer <= 0.05 in <= 20 minutes of training"
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
