"""Medical segmentation task: label groups, patch sampling, the served sliding-window graph,
`tfapps predict` writing NIfTI masks with the input's affine, and learning on generated volumes."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tensorflow as tf

from tfapps.apps import config as config_lib
from tfapps.apps import runs
from tfapps.apps.errors import ConfigError
from tfapps.apps.medical_segmentation import data as volume_data
from tfapps.apps.medical_segmentation.synthetic import write_synthetic_volumes
from tfapps.apps.registry import get_task

TASK = get_task("medical_segmentation")


def _config(**values):
    overrides = [f"{k}={v}" for k, v in values.items()]
    return config_lib.resolve(TASK.config_cls, TASK.presets, preset="tiny", overrides=overrides)


@pytest.fixture(scope="module")
def volumes(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_synthetic_volumes(tmp_path_factory.mktemp("vol"), cases=4, size=20))


def test_patch_and_window_sizes_must_fit_the_unet_depth() -> None:
    with pytest.raises(ConfigError, match="data.patch_size"):
        _config(**{"data.patch_size": "[16,16,18]"}).validate()
    with pytest.raises(ConfigError, match="serving.window"):
        _config(**{"serving.window": "[16,16]"}).validate()
    with pytest.raises(ConfigError, match="label_groups"):
        _config(**{"data.label_groups": "[[0,1]]"}).validate()


def test_label_groups_merge_values_into_classes() -> None:
    label = np.array([[0, 1, 2], [3, 4, 5]], np.float32)
    np.testing.assert_array_equal(volume_data.class_ids(label, [[1, 2, 3, 4]]), [[0, 1, 1], [1, 1, 0]])
    np.testing.assert_array_equal(volume_data.class_ids(label, [[2], [4, 5]]), [[0, 0, 1], [0, 2, 2]])
    np.testing.assert_array_equal(volume_data.class_ids(label, []), label.astype(int))


def test_resolve_reads_channels_and_class_names_from_dataset_json(volumes: str) -> None:
    config = TASK.resolve_data(_config(**{"data.train": volumes}))
    assert config.data.channels == 1 and config.data.class_names == ("background", "lesion")
    grouped = TASK.resolve_data(_config(**{"data.train": volumes, "data.label_groups": "[[1]]"}))
    assert grouped.data.class_names == ("background", "class_1")


def test_foreground_patches_hold_foreground_and_stay_inside_the_volume() -> None:
    label = np.zeros((30, 30, 30), np.int32)
    label[20:24, 3:7, 10:14] = 1
    image = np.ones((30, 30, 30, 1), np.float32)
    case = volume_data.Case("c", image, label, (1.0, 1.0, 1.0), np.eye(4))
    sampler = volume_data.PatchSampler([case], (8, 8, 8), foreground_fraction=1.0, seed=0)
    patches = [sampler.sample(0) for _ in range(40)]
    assert all(p.shape == (8, 8, 8, 1) and lab.shape == (8, 8, 8) for p, lab in patches)
    assert all(lab.sum() > 0 for _, lab in patches)
    background_only = volume_data.PatchSampler([case], (8, 8, 8), foreground_fraction=0.0, seed=0)
    share = np.mean([background_only.sample(0)[1].any() for _ in range(200)])
    assert share < 0.3  # the lesion is 64 of 27,000 voxels: uniform patches rarely hold it


def test_small_cases_are_padded_to_a_patch() -> None:
    case = volume_data.Case(
        "c", np.ones((5, 12, 12, 2), np.float32), np.ones((5, 12, 12), np.int32), (1,) * 3, np.eye(4)
    )
    image, label = volume_data.PatchSampler([case], (8, 8, 8), 0.5, 0).sample(0)
    assert image.shape == (8, 8, 8, 2) and label.shape == (8, 8, 8)


def test_trains_serves_any_size_and_predict_writes_nifti_with_the_input_affine(
    volumes: str, tmp_path: Path, exported_ops
) -> None:
    from tfapps.apps.cli import main

    run_dir = tmp_path / "run"
    runs.train_run("medical_segmentation", run_dir, preset="tiny", data=volumes)
    metrics = runs.evaluate_run(run_dir, volumes)
    assert {"dice", "dice/lesion", "hd95/lesion"} <= set(metrics) and metrics["cases"] == 4.0
    predictions = sorted((run_dir / "eval" / "predictions").iterdir())
    assert len(predictions) == 4 and predictions[0].name.endswith("_mask.nii.gz")

    version = runs.export_run(run_dir, tmp_path / "export")
    ops, missing = exported_ops(version)
    assert missing == [] and "While" in ops | {"StatelessWhile"} and "ArgMax" in ops
    loaded = tf.saved_model.load(str(version))
    volume = np.random.default_rng(0).normal(size=(2, 19, 23, 9, 1)).astype(np.float32)
    mask = loaded.signatures["volume"](volume=tf.constant(volume))["mask"]
    assert mask.shape == (2, 19, 23, 9) and mask.dtype == tf.int32

    affine = np.array([[0.0, -1.2, 0, 30], [1.1, 0, 0, -20], [0, 0, 2.5, 5], [0, 0, 0, 1]])
    source = tmp_path / "in" / "scan.nii.gz"
    source.parent.mkdir()
    nib.save(nib.Nifti1Image(volume[0, ..., 0], affine), str(source))
    out = tmp_path / "rows.jsonl"
    code = main(
        [
            "predict",
            "--model-dir",
            str(version.parent),
            "--output",
            str(out),
            "--output-dir",
            str(tmp_path / "masks"),
            str(source),
        ]
    )
    assert code == 0
    row = json.loads(out.read_text())
    written = nib.load(row["mask_file"])
    np.testing.assert_allclose(written.affine, affine, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(written.dataobj), mask.numpy()[0])
    assert sum(row["class_voxel_counts"]) == 19 * 23 * 9


def test_the_segmenter_learns_lesions_of_unseen_cases(tmp_path: Path) -> None:
    train = write_synthetic_volumes(tmp_path / "train", cases=6, size=24, seed=0)
    test = write_synthetic_volumes(tmp_path / "test", cases=3, size=24, seed=1)
    runs.train_run(
        "medical_segmentation",
        tmp_path / "run",
        preset="tiny",
        data=str(train),
        overrides=[
            "train.epochs=15",
            "data.patches_per_case=4",
            "model.base_filters=8",
            "train.learning_rate=5e-3",
        ],
    )
    metrics = runs.evaluate_run(tmp_path / "run", str(test))
    # Predicting background everywhere scores 0; the lesion is a bright ball, easily learnt.
    assert metrics["dice/lesion"] >= 0.7, metrics


@pytest.fixture(scope="module")
def served_segmenter(volumes: str, tmp_path_factory: pytest.TempPathFactory):
    from tfapps.serving.server import ModelServer, ServerOptions

    root = tmp_path_factory.mktemp("served")
    runs.train_run("medical_segmentation", root / "run", preset="tiny", data=volumes)
    version = runs.export_run(root / "run", root / "export", name="organs")
    options = ServerOptions(
        model_name="organs", model_base_path=str(version.parent), grpc_port=0, rest_port=0
    )
    with ModelServer(options).start() as server:
        yield server, version.parent


@pytest.mark.serving
def test_remote_predict_sends_nifti_volumes_over_rest_and_grpc(
    volumes: str, served_segmenter, tmp_path: Path, capsys
) -> None:
    from tfapps.apps.cli import main

    server, model_dir = served_segmenter
    scans = sorted(Path(volumes, "imagesTr").iterdir())[:2]
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"\x1f\x8b not a volume")
    local_dir = tmp_path / "local"
    assert (
        main(["predict", "--model-dir", str(model_dir), "--output-dir", str(local_dir), *map(str, scans)])
        == 0
    )
    local = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for name, extra in (
        ("rest", [f"127.0.0.1:{server.rest_port}"]),
        ("grpc", [f"127.0.0.1:{server.grpc_port}", "--grpc"]),
    ):
        argv = ["predict", "--server", *extra, "--model", "organs", "--output-dir", str(tmp_path / name)]
        code = main([*argv, *map(str, scans), str(broken)])
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert code == 1 and "error" in rows[2] and rows[2]["input"] == str(broken)
        for want, got in zip(local, rows[:2], strict=True):
            assert got["class_voxel_counts"] == want["class_voxel_counts"]
            np.testing.assert_array_equal(
                np.asarray(nib.load(got["mask_file"]).dataobj),
                np.asarray(nib.load(want["mask_file"]).dataobj),
            )
