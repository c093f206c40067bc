"""The `tfapps` command: thin verbs over library functions.

Logs go to stderr, results to stdout. Exit codes: 0 ok, 1 runtime error, 2 usage or config error.

    tfapps tasks
    tfapps config show TASK [--preset P] [--config F]... [--set K=V]...
    tfapps train TASK --data PATH [--val-data PATH] --run-dir DIR [--preset P] [--config F]... [--set K=V]...
    tfapps evaluate TASK --run-dir DIR --data PATH
    tfapps export TASK --run-dir DIR --export-dir BASE [--name NAME] [--version N]
    tfapps predict --model-dir BASE/NAME [--signature S] [--output FILE.jsonl] [--output-dir DIR] [--lines] INPUT...
    tfapps predict --server HOST:PORT [--grpc] --model NAME [--output FILE.jsonl] [--output-dir DIR] [--lines] INPUT...
    tfapps serve --port 8500 --rest_api_port 8501 --model_name NAME --model_base_path BASE/NAME
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence

from tfapps.apps.errors import EXIT_RUNTIME_ERROR, TfappsError, UsageError

__all__ = ["main"]

logger = logging.getLogger("tfapps")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message}. Run '{self.prog} --help' for usage.")


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", help="named preset of the task (e.g. tiny, cpu)")
    parser.add_argument(
        "--config", action="append", default=[], metavar="FILE", help="YAML config file (repeatable)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override one config value, e.g. train.epochs=5 (repeatable)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tfapps", description="Train, export and serve Keras task models for TF Serving.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    verbs.add_parser("tasks", help="list the registered tasks")

    config = verbs.add_parser("config", help="show a resolved config")
    config_verbs = config.add_subparsers(dest="config_verb", required=True, parser_class=_Parser)
    show = config_verbs.add_parser("show", help="print the resolved config as YAML")
    show.add_argument("task")
    _config_args(show)

    train = verbs.add_parser("train", help="train (or resume) a run")
    train.add_argument("task")
    train.add_argument("--data", required=True, help="training data (folder or file)")
    train.add_argument("--val-data", help="validation data; default: data.validation_split of --data")
    train.add_argument("--run-dir", required=True, help="run directory (created; reused to resume)")
    _config_args(train)

    evaluate = verbs.add_parser("evaluate", help="evaluate a run's best model; prints metrics as JSON")
    evaluate.add_argument("task")
    evaluate.add_argument("--run-dir", required=True)
    evaluate.add_argument("--data", required=True)

    export = verbs.add_parser("export", help="export a run for TF Serving; prints the version directory")
    export.add_argument("task")
    export.add_argument("--run-dir", required=True)
    export.add_argument(
        "--export-dir", required=True, help="base directory; the model goes to BASE/NAME/VERSION"
    )
    export.add_argument("--name", help="model name (default: the task name)")
    export.add_argument("--version", type=int, help="version number (default: next free)")

    predict = verbs.add_parser(
        "predict", help="run an exported model on files, locally or on a server; one JSON line per input"
    )
    where = predict.add_mutually_exclusive_group(required=True)
    where.add_argument("--model-dir", help="BASE/NAME (the highest version is used) or a version dir")
    where.add_argument("--server", metavar="HOST:PORT", help="a TF Serving (or tfapps serve) endpoint")
    predict.add_argument("--model", help="model name on --server")
    predict.add_argument(
        "--grpc", action="store_true", help="with --server: use gRPC (its port) instead of REST"
    )
    predict.add_argument("--version", type=int)
    predict.add_argument("--signature", default="serving_default")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument("--output", help="write JSON lines to this file instead of stdout")
    predict.add_argument(
        "--output-dir",
        help="write per-pixel outputs of DICOM/NIfTI/image inputs (masks, saliency) here: NIfTI with "
        "the input's affine for NIfTI inputs, PNG for 2D images",
    )
    predict.add_argument(
        "--lines",
        action="store_true",
        help="send each non-empty line of the text files as one input (e.g. sentences to translate)",
    )
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")

    verbs.add_parser(
        "serve",
        help="TF Serving-compatible REST + gRPC server (tensorflow_model_server flags)",
        add_help=False,
    )
    return parser


def _check_task(args) -> None:
    from tfapps.apps.runs import load_run

    task, _ = load_run(args.run_dir)
    if task.name != args.task:
        raise UsageError(
            f"The run directory holds a '{task.name}' run. Received: task='{args.task}', "
            f"run_dir='{args.run_dir}'"
        )


def _run(args) -> int:
    if args.verb == "tasks":
        from tfapps.apps.registry import get_task, task_names

        for name in task_names():
            task = get_task(name)
            print(f"{name}\tpresets: {', '.join(task.presets)}")
        return 0
    if args.verb == "config":
        import yaml

        from tfapps.apps.config import to_dict
        from tfapps.apps.runs import resolve_config

        config = resolve_config(args.task, args.preset, args.config, args.overrides)
        print(yaml.safe_dump(to_dict(config), sort_keys=False), end="")
        return 0
    if args.verb == "train":
        from tfapps.apps.runs import train_run

        result = train_run(
            args.task, args.run_dir, args.preset, args.config, args.overrides, args.data, args.val_data
        )
        print(
            json.dumps(
                {
                    "run_dir": str(result.run_dir),
                    "best_model": str(result.best_model),
                    result.monitor: result.best_value,
                }
            )
        )
        return 0
    if args.verb == "evaluate":
        from tfapps.apps.runs import evaluate_run

        _check_task(args)
        metrics = evaluate_run(args.run_dir, args.data)
        # Strict JSON has no NaN/Infinity: an undefined metric (e.g. HD95 of an empty mask) is null.
        print(json.dumps({k: v if math.isfinite(v) else None for k, v in metrics.items()}))
        return 0
    if args.verb == "export":
        from tfapps.apps.runs import export_run

        _check_task(args)
        print(export_run(args.run_dir, args.export_dir, args.name, args.version))
        return 0
    if args.verb == "predict":
        from tfapps.apps.predict import expand_inputs, predict_files, predict_remote

        inputs = expand_inputs(args.inputs)
        if args.server:
            if not args.model:
                raise UsageError(
                    "--server needs --model NAME (the served model's name). Received: --model=None"
                )
            rows = predict_remote(
                args.server,
                args.model,
                inputs,
                args.grpc,
                args.signature,
                args.batch_size,
                args.version,
                output_dir=args.output_dir,
                lines=args.lines,
            )
        else:
            if args.model or args.grpc:
                raise UsageError(
                    "--model and --grpc go with --server, not --model-dir. Received: --model-dir"
                )
            rows = predict_files(
                args.model_dir,
                inputs,
                args.signature,
                args.batch_size,
                args.version,
                args.output_dir,
                lines=args.lines,
            )
        out = open(args.output, "w") if args.output else sys.stdout  # noqa: SIM115 (closed below)
        failures = answered = 0
        try:
            for row in rows:
                answered += 1
                failures += "error" in row
                out.write(json.dumps(row) + "\n")
                out.flush()
        finally:
            if out is not sys.stdout:
                out.close()
        if failures:
            print(f"tfapps: error: {failures} of {answered} input(s) failed", file=sys.stderr)
        return EXIT_RUNTIME_ERROR if failures else 0
    raise UsageError(f"Unknown command. Received: {args.verb!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `tfapps` command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    verbose = "-v" in argv[:1] or "--verbose" in argv[:1]
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if verbose:
        argv = argv[1:]
    if argv[:1] == ["serve"]:
        # tensorflow_model_server's flag syntax is its own (--flag=value, bare booleans): parsed there.
        from tfapps.serving.server import main as serve_main

        return serve_main(argv[1:])
    try:
        args = _parser().parse_args(argv)
        return _run(args)
    except TfappsError as err:
        print(f"tfapps: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("tfapps: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exit_:  # argparse --help
        return int(exit_.code or 0)
    except Exception as err:  # the CLI is a boundary: report, don't dump a traceback at users
        logger.exception("Unexpected error: %s", err)
        return EXIT_RUNTIME_ERROR


if __name__ == "__main__":
    sys.exit(main())
