"""Fashion-MNIST quality benchmark for image classification preset `cpu`.

Converts the raw IDX files of Debian's `dataset-fashion-mnist` package into class folders of PNGs
(`train/` 60k, `test/` 10k), trains preset `cpu` from those files (10% of train held out for
validation), evaluates the best model on the 10k test images and prints the figures. Goal: test
accuracy >= 0.92 within 15 minutes of training wall-clock on 2 CPU cores.

    apt-get install dataset-fashion-mnist
    .venv/bin/python bench/fashion_mnist.py [--work-dir bench-work/fashion_mnist] [--set train.epochs=10]
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

RAW_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = (
    "T-shirt_top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle_boot",
)
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_idx(path: Path) -> np.ndarray:
    """Read a gzipped IDX file (the MNIST format) into an array."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def write_png_folders(raw_dir: Path, out_dir: Path) -> Path:
    """Write `<out_dir>/{train,test}/<class>/<index>.png` once; return `out_dir`."""
    done = out_dir / ".complete"
    if done.exists():
        return out_dir
    for split, (images_file, labels_file) in FILES.items():
        images, labels = read_idx(raw_dir / images_file), read_idx(raw_dir / labels_file)
        for name in CLASSES:
            (out_dir / split / name).mkdir(parents=True, exist_ok=True)
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            Image.fromarray(image, mode="L").save(out_dir / split / CLASSES[label] / f"{i:05d}.png")
    done.write_text("ok\n")
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--raw-dir", type=Path, default=RAW_DIR)
    parser.add_argument("--work-dir", type=Path, default=Path("bench-work/fashion_mnist"))
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not (args.raw_dir / FILES["train"][0]).is_file():
        print(
            f"Fashion-MNIST raw files not found in {args.raw_dir}: apt-get install dataset-fashion-mnist",
            file=sys.stderr,
        )
        return 2

    from tfapps.apps import runs

    started = time.monotonic()
    data = write_png_folders(args.raw_dir, args.work_dir / "png")
    convert_s = time.monotonic() - started
    run_dir = args.work_dir / f"run-{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    started = time.monotonic()
    result = runs.train_run(
        "image_classification", run_dir, preset=args.preset, overrides=args.overrides, data=str(data)
    )
    train_s = time.monotonic() - started
    started = time.monotonic()
    metrics = runs.evaluate_run(run_dir, str(data))
    eval_s = time.monotonic() - started
    figures = {
        "preset": args.preset,
        "overrides": args.overrides,
        "test_accuracy": round(metrics["accuracy"], 4),
        "test_macro_f1": round(metrics["macro_f1"], 4),
        "test_examples": int(metrics["examples"]),
        "train_wall_s": round(train_s, 1),
        "epochs_completed": len(result.history.get("loss", [])),
        "best_" + result.monitor: round(result.best_value, 4),
        "convert_s": round(convert_s, 1),
        "eval_s": round(eval_s, 1),
        "goal": "test_accuracy >= 0.92 with train_wall_s <= 900",
        "goal_met": metrics["accuracy"] >= 0.92 and train_s <= 900,
        "run_dir": str(run_dir),
    }
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
