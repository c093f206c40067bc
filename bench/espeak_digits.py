"""Speech recognition quality on sentences: random digit strings ("three one four one five")
synthesised with espeak-ng, trained on eight voices and tested on three held-out ones (their
accent/variant pairs never occur in training). Needs Debian's `espeak-ng`.

    .venv/bin/python bench/espeak_digits.py [--train-clips 250] [--test-clips 100] [--set key=value ...]

The clips are written under --work, the CLI trains (`tfapps train speech_recognition`, preset
`cpu` at 16 kHz; the reader resamples espeak's 22,050 Hz), evaluates the served graph with
jiwer's WER/CER (and per test voice) and prints the figures with the training wall-clock.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cli_runs import train_and_evaluate

from tfapps.apps.speech_recognition.espeak import espeak_available, write_digit_strings

TRAIN_VOICES = (
    "en-us+m1",
    "en-us+f2",
    "en-gb+m3",
    "en-gb+f1",
    "en-gb-scotland+m2",
    "en-029+f3",
    "en-gb-x-rp+m4",
    "en-gb-x-gbcwmd+f4",
)
TEST_VOICES = ("en-us-nyc+m6", "en-gb-x-gbclan+f5", "en-gb-scotland+m7")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train-clips", type=int, default=250, help="clips per training voice")
    parser.add_argument("--test-clips", type=int, default=100, help="clips per test voice")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--work", type=Path, default=Path("bench-work/espeak-digits"))
    args = parser.parse_args(argv)
    if not espeak_available():
        print("espeak-ng is not installed (Debian: apt-get install espeak-ng).", file=sys.stderr)
        return 2
    run_dir = args.work / f"run-{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    started = time.monotonic()
    train = write_digit_strings(run_dir.parent / "clips-train", TRAIN_VOICES, args.train_clips, seed=0)
    test = write_digit_strings(run_dir.parent / "clips-test", TEST_VOICES, args.test_clips, seed=1)
    synthesis_seconds = time.monotonic() - started
    figures = train_and_evaluate("speech_recognition", train, test, run_dir, args.preset, args.set)
    figures["synthesis_seconds"] = round(synthesis_seconds, 1)
    figures["voices"] = {"train": list(TRAIN_VOICES), "test": list(TEST_VOICES)}
    figures["goal"] = "test wer <= 0.10 on held-out voices"
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
