"""Input-pipeline benchmark for image classification (preset `cpu` by default).

Measures, in one run, on a folder of synthetic labelled JPEGs (4 shape classes, written once under
`--work-dir`):

1. images/s of `TASK.make_datasets(config).train`: the first epoch (cold: read, decode, resize and
   fill the in-memory cache) and later epochs (warm: from the cache, shuffled and augmented);
2. training step time with that real pipeline versus on one real batch held in memory
   (`tf.data.Dataset.from_tensors(batch).repeat()`), with the model, loss, metrics and optimizer
   built as the trainer builds them. Each timing is a `model.fit` of `--steps` steps after a warm-up
   fit (tracing excluded); the two feeds alternate for `--rounds` rounds (order flipped every round)
   because the machine is shared and noisy, and the medians are compared. The per-step time is
   taken between the ends of the first and the last step of each fit (steady state; the first step
   pays for a new iterator and its shuffle buffer), and the whole fit's wall time is reported too.
   `cpu_ratio` compares this process's CPU seconds per step (model and tf.data threads together):
   the work the pipeline adds, far less sensitive than wall time to other processes on the cores.

Goal: real-pipeline step time <= 1.05 x in-memory step time. Prints one JSON object (figures,
config, goal, goal_met, and the load average so CPU contention from other processes is visible);
it never asserts times.

    .venv/bin/python bench/input_pipeline.py [--images-per-class 1500] [--size 64] [--steps 30]
        [--rounds 5] [--preset cpu] [--set key=value ...] [--work-dir bench-work/input_pipeline]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

FORMATS = ("jpg",)


def shapes_folder(work_dir: Path, images_per_class: int, size: int) -> tuple[Path, float]:
    """Write the JPEG shapes dataset once per (count, size); return its folder and the seconds spent."""
    from tfapps.pipelines.synthetic import write_shapes_dataset

    root = work_dir / f"shapes-{images_per_class}x{size}"
    done = root / ".complete"
    if done.exists():
        return root, 0.0
    started = time.perf_counter()
    write_shapes_dataset(root, images_per_class=images_per_class, size=size, formats=FORMATS)
    done.write_text("ok\n")
    return root, time.perf_counter() - started


def time_batches(iterator, count: int) -> float:
    """Seconds to pull `count` batches from `iterator`."""
    started = time.perf_counter()
    for _ in range(count):
        next(iterator)
    return time.perf_counter() - started


def make_step_timer():
    """A Keras callback recording wall and process CPU time at the end of every training batch."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends: list[float] = []
            self.cpu: list[float] = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())
            self.cpu.append(time.process_time())  # all threads of this process: model and tf.data

    return StepTimer()


def timed_fit(model, dataset, steps: int) -> dict[str, float]:
    """Fit `steps` steps; per-step wall and CPU seconds between step ends, and the fit's wall time / steps."""
    timer = make_step_timer()
    started = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0, shuffle=False)
    wall = time.perf_counter() - started
    intervals = max(len(timer.ends) - 1, 1)
    return {
        "steady_s": (timer.ends[-1] - timer.ends[0]) / intervals,
        "cpu_s": (timer.cpu[-1] - timer.cpu[0]) / intervals,
        "fit_wall_s": wall / steps,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images-per-class", type=int, default=1500)
    parser.add_argument("--size", type=int, default=64, help="side of the written JPEGs in pixels")
    parser.add_argument("--steps", type=int, default=30, help="training steps per timed fit")
    parser.add_argument("--rounds", type=int, default=5, help="timed fits per feed, alternating")
    parser.add_argument("--warm-epochs", type=int, default=3, help="warm pipeline epochs to time")
    parser.add_argument("--warmup-steps", type=int, default=5, help="steps of the untimed warm-up fits")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--work-dir", type=Path, default=Path("bench-work/input_pipeline"))
    parser.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.steps < 2 or args.rounds < 1 or args.warm_epochs < 1:
        print("--steps must be >= 2, --rounds and --warm-epochs >= 1", file=sys.stderr)
        return 2

    load_before = os.getloadavg()
    root, write_s = shapes_folder(args.work_dir, args.images_per_class, args.size)

    import keras
    import tensorflow as tf

    from tfapps.apps.config import resolve, to_dict
    from tfapps.apps.image_classification import TASK
    from tfapps.pipelines.trainer import build_optimizer

    keras.utils.set_random_seed(0)
    config = resolve(
        TASK.config_cls,
        TASK.presets,
        preset=args.preset,
        values={"data.train": str(root)},
        overrides=args.overrides,
    )
    started = time.perf_counter()
    config = TASK.resolve_data(config)  # lists and test-decodes every file once (cached per process)
    scan_s = time.perf_counter() - started
    batch_size = config.train.batch_size

    # 1. Pipeline throughput on one iterator, as the trainer's fit (steps_per_epoch set) keeps one.
    datasets = TASK.make_datasets(config)
    train_data = datasets.train
    steps_per_epoch = max(datasets.train_examples // batch_size, 1)
    epoch_images = steps_per_epoch * batch_size
    started = time.perf_counter()
    iterator = iter(train_data)
    time_batches(iterator, steps_per_epoch)
    cold_s = time.perf_counter() - started  # iterator creation included
    warm_s = [time_batches(iterator, steps_per_epoch) for _ in range(args.warm_epochs)]
    del iterator
    # A new iterator on the same dataset (what every `fit` call below makes): is the cache shared?
    fresh_s = time_batches(iter(train_data), steps_per_epoch)

    # 2. Training step time: real pipeline vs one real batch repeated from memory.
    batch = next(iter(train_data))
    in_memory = tf.data.Dataset.from_tensors(batch).repeat()
    model = TASK.build_model(config)
    model.compile(
        optimizer=build_optimizer(config.train, steps_per_epoch),
        loss=TASK.loss(config),
        metrics=TASK.metrics(config),
        jit_compile=config.runtime.jit_compile,
    )
    feeds = {"pipeline": train_data, "in_memory": in_memory}
    for dataset in feeds.values():  # trace the train function for both element specs
        model.fit(dataset, epochs=1, steps_per_epoch=args.warmup_steps, verbose=0, shuffle=False)
    timings: dict[str, list[dict[str, float]]] = {name: [] for name in feeds}
    for round_index in range(args.rounds):
        order = list(feeds) if round_index % 2 == 0 else list(reversed(feeds))
        for name in order:
            timings[name].append(timed_fit(model, feeds[name], args.steps))

    def median_ms(name: str, key: str) -> float:
        return statistics.median(t[key] for t in timings[name]) * 1000

    real_ms, memory_ms = median_ms("pipeline", "steady_s"), median_ms("in_memory", "steady_s")
    ratio = real_ms / memory_ms
    wall_ratio = median_ms("pipeline", "fit_wall_s") / median_ms("in_memory", "fit_wall_s")
    paired = [
        p["steady_s"] / m["steady_s"] for p, m in zip(timings["pipeline"], timings["in_memory"], strict=True)
    ]
    figures = {
        "data": {
            "root": str(root),
            "images": args.images_per_class * 4,
            "jpeg_size": args.size,
            "train_examples": datasets.train_examples,
            "val_examples": datasets.val_examples,
            "write_s": round(write_s, 1),
            "scan_s": round(scan_s, 1),
        },
        "pipeline": {
            "batch_size": batch_size,
            "steps_per_epoch": steps_per_epoch,
            "cold_epoch_images_per_s": round(epoch_images / cold_s, 1),
            "cold_epoch_s": round(cold_s, 2),
            "warm_epoch_images_per_s": round(epoch_images / statistics.median(warm_s), 1),
            "warm_epochs_s": [round(s, 2) for s in warm_s],
            "new_iterator_epoch_images_per_s": round(epoch_images / fresh_s, 1),
        },
        "training": {
            "steps_per_fit": args.steps,
            "rounds": args.rounds,
            "pipeline_step_ms_median": round(real_ms, 2),
            "in_memory_step_ms_median": round(memory_ms, 2),
            "ratio": round(ratio, 3),
            "paired_ratios": [round(r, 3) for r in paired],
            "pipeline_step_ms": [round(t["steady_s"] * 1000, 2) for t in timings["pipeline"]],
            "in_memory_step_ms": [round(t["steady_s"] * 1000, 2) for t in timings["in_memory"]],
            "paired_ratio_median": round(statistics.median(paired), 3),
            # CPU seconds per step of this whole process (all cores): what the pipeline adds in work,
            # much less sensitive to other processes than wall time.
            "pipeline_cpu_ms_per_step_median": round(median_ms("pipeline", "cpu_s"), 2),
            "in_memory_cpu_ms_per_step_median": round(median_ms("in_memory", "cpu_s"), 2),
            "cpu_ratio": round(median_ms("pipeline", "cpu_s") / median_ms("in_memory", "cpu_s"), 3),
            "fit_wall_ratio": round(wall_ratio, 3),
            "pipeline_fit_wall_ms_per_step_median": round(median_ms("pipeline", "fit_wall_s"), 2),
            "in_memory_fit_wall_ms_per_step_median": round(median_ms("in_memory", "fit_wall_s"), 2),
            "images_per_s_pipeline": round(batch_size / real_ms * 1000, 1),
        },
        "goal": "training.ratio (pipeline / in-memory median step time) <= 1.05",
        "goal_met": ratio <= 1.05,
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "preset": args.preset,
        "overrides": args.overrides,
        "config": to_dict(config),
    }
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
