"""The `tfapps` command line: verbs, output streams and exit codes (in-process, tiny preset)."""

from __future__ import annotations

import json

import pytest
import yaml

from tfapps.apps.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_tasks_lists_the_registered_tasks(capsys):
    code, out, _ = run(capsys, "tasks")
    assert code == 0
    assert out.splitlines()[0].startswith("image_classification\tpresets: ")
    assert "tiny" in out and "cpu" in out


def test_config_show_prints_resolved_yaml(capsys, tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("train:\n  epochs: 4\n")
    code, out, _ = run(
        capsys,
        "config",
        "show",
        "image_classification",
        "--preset",
        "tiny",
        "--config",
        str(file),
        "--set",
        "train.batch_size=3",
    )
    assert code == 0
    shown = yaml.safe_load(out)
    assert shown["train"]["epochs"] == 4 and shown["train"]["batch_size"] == 3
    assert shown["model"]["widths"] == [8, 16]


@pytest.mark.parametrize(
    "argv",
    [
        ["config", "show", "image_classification", "--set", "train.epoch=2"],
        ["config", "show", "no_such_task"],
        ["train", "image_classification"],  # missing --data / --run-dir
        ["bogus"],
        ["config", "show", "image_classification", "--preset", "huge"],
    ],
)
def test_usage_and_config_errors_exit_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert "Received" in err or "usage" in err.lower() or "--help" in err


def test_runtime_errors_exit_1(capsys, tmp_path):
    code, out, err = run(
        capsys, "evaluate", "image_classification", "--run-dir", str(tmp_path), "--data", "x"
    )
    assert code == 1 and out == ""
    assert "Not a tfapps run directory" in err


def test_train_with_missing_data_is_a_clear_error(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "train",
        "image_classification",
        "--data",
        str(tmp_path / "nope"),
        "--run-dir",
        str(tmp_path / "r"),
        "--preset",
        "tiny",
    )
    assert code == 1
    assert "does not exist" in err and "Received: path=" in err


def test_train_evaluate_export_predict(capsys, tmp_path, shapes_dir):
    run_dir, export_dir = tmp_path / "run", tmp_path / "export"
    code, out, _ = run(
        capsys,
        "train",
        "image_classification",
        "--data",
        str(shapes_dir),
        "--run-dir",
        str(run_dir),
        "--preset",
        "tiny",
        "--set",
        "train.epochs=2",
    )
    assert code == 0
    summary = json.loads(out)
    assert summary["best_model"].endswith("best.keras") and "val_accuracy" in summary
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["data"]["class_names"] == [
        "circle",
        "cross",
        "square",
        "triangle",
    ]

    code, out, _ = run(
        capsys, "evaluate", "image_classification", "--run-dir", str(run_dir), "--data", str(shapes_dir)
    )
    assert code == 0
    metrics = json.loads(out)
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert {f"f1/{c}" for c in ("circle", "cross", "square", "triangle")} <= set(metrics)
    assert {p.name for p in (run_dir / "eval").iterdir()} >= {"confusion_matrix.json", "confusion_matrix.png"}

    export = (
        "export",
        "image_classification",
        "--run-dir",
        str(run_dir),
        "--export-dir",
        str(export_dir),
        "--name",
        "shapes",
    )
    code, out, _ = run(capsys, *export)
    assert code == 0 and out.strip() == str(export_dir / "shapes" / "1")
    code, out, _ = run(capsys, *export)
    assert out.strip() == str(export_dir / "shapes" / "2")  # next free version
    code, _, err = run(capsys, *export, "--version", "2")
    assert code == 1 and "already exists" in err

    images = sorted((shapes_dir / "circle").iterdir())[:2]
    output = tmp_path / "preds.jsonl"
    code, out, _ = run(
        capsys,
        "predict",
        "--model-dir",
        str(export_dir / "shapes"),
        "--output",
        str(output),
        *map(str, images),
    )
    assert code == 0 and out == ""
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["input"] for row in rows] == [str(p) for p in images]
    for row in rows:
        assert len(row["labels"]) == 4 and set(row["labels"]) == {"circle", "cross", "square", "triangle"}
        assert row["scores"] == sorted(row["scores"], reverse=True)
        assert abs(sum(row["probabilities"]) - 1.0) < 1e-4

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    code, out, err = run(
        capsys, "predict", "--model-dir", str(export_dir / "shapes"), str(bad), str(images[0])
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and "1 of 2 input(s) failed" in err
    assert rows[0]["input"] == str(bad)
    assert "Unknown image file format" in rows[0]["error"] and "\n" not in rows[0]["error"]
    assert "labels" in rows[1]  # the good file still gets its answer

    code, _, err = run(
        capsys, "predict", "--model-dir", str(export_dir / "shapes"), str(tmp_path / "none*.png")
    )
    assert code == 1 and "No input file matches" in err
