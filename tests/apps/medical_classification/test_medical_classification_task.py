"""Medical classification task: preprocessing parity, PNG bit depths, metrics, the 3D path, the
served graph (Grad-CAM saliency at the input size), and `tfapps predict` on DICOM files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfapps.apps import config as config_lib
from tfapps.apps import runs
from tfapps.apps.errors import ConfigError
from tfapps.apps.medical_classification import data as medical_data
from tfapps.apps.medical_classification.evaluation import medical_classification_metrics
from tfapps.apps.medical_classification.signatures import decode_png_any_depth
from tfapps.apps.medical_classification.synthetic import write_dicom_slice, write_synthetic_scans
from tfapps.apps.registry import get_task
from tfapps.pipelines.medical_io import read_dicom, read_image

TASK = get_task("medical_classification")


def _config(preset: str = "tiny", **values):
    overrides = [f"{k}={v}" for k, v in values.items()]
    return config_lib.resolve(TASK.config_cls, TASK.presets, preset=preset, overrides=overrides)


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_synthetic_scans(tmp_path_factory.mktemp("scans"), per_class=6, size=24))


def _volumes_npz(path: Path, count: int = 24, size: int = 12, seed: int = 0) -> Path:
    """A MedMNIST-style 3D file: class 1 volumes hold a bright cube, class 0 a bright ball."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.arange(size) - size / 2 + 0.5] * 3, indexing="ij")

    def part(n):
        labels = np.arange(n) % 2
        images = []
        for label in labels:
            shift = rng.integers(-1, 2, size=3)
            g = [a - s for a, s in zip(grids, shift, strict=True)]
            shape = np.max(np.abs(g), axis=0) < 3.5 if label else sum(a**2 for a in g) < 16
            images.append((shape * 255).astype(np.uint8))
        return np.stack(images), labels[:, None].astype(np.uint8)

    arrays = {}
    for name, n in (("train", count), ("val", 4), ("test", 8)):
        arrays[f"{name}_images"], arrays[f"{name}_labels"] = part(n)
    np.savez(path, **arrays)
    return path


def test_window_mode_needs_a_window() -> None:
    with pytest.raises(ConfigError, match="data.intensity"):
        _config(**{"data.intensity": "window", "data.spatial_dims": 2}).validate()
    with pytest.raises(ConfigError, match="data.image_size"):
        _config(**{"data.image_size": "[8,8,8]", "data.spatial_dims": 2}).validate()


def test_resolve_fills_classes_size_dims_and_the_dicom_window(scans: str) -> None:
    config = TASK.resolve_data(_config(**{"data.train": scans}))
    assert config.data.class_names == ("lesion", "normal")
    assert config.data.spatial_dims == 2 and config.data.image_size == (24, 24)
    assert config.data.window == (40.0, 400.0)  # the window stored in the generated DICOMs


def test_training_batches_equal_the_served_preprocessing(scans: str, tmp_path: Path) -> None:
    # A slice of another size: the pipeline resizes it at load time, the graph at serving time.
    config = TASK.resolve_data(_config(**{"data.train": scans, "data.image_size": "[16,16]"}))
    split = medical_data.load_split(scans, "train", config)
    batch = next(iter(medical_data.make_dataset(split, config, False, len(split.labels))))[0].numpy()
    first = read_dicom(split.paths[0]).array.astype(np.float32)
    assert first.shape == (24, 24)
    served = medical_data.preprocess(tf.constant(first[None, ..., None]), config).numpy()
    assert batch.shape == (len(split.labels), 16, 16, 1)
    np.testing.assert_allclose(batch[0], served[0], atol=1e-5)


@pytest.mark.parametrize("bits", [8, 16])
def test_png_decoding_keeps_the_stored_values_at_either_bit_depth(bits: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(bits)
    values = rng.integers(0, 2**bits, size=(9, 7), dtype=np.uint16 if bits == 16 else np.uint8)
    path = tmp_path / f"x{bits}.png"
    Image.fromarray(values).save(path)
    decoded = decode_png_any_depth(tf.constant(path.read_bytes())).numpy()[..., 0]
    np.testing.assert_array_equal(decoded, values.astype(np.float32))
    np.testing.assert_array_equal(decoded, read_image(path).array)


def test_metrics_match_hand_counts() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])
    probabilities = np.array(
        [[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]]
    )
    metrics, matrix = medical_classification_metrics(labels, probabilities, ["a", "b", "c"])
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["sensitivity/a"] == pytest.approx(2 / 3) and metrics["specificity/a"] == pytest.approx(
        2 / 3
    )
    assert metrics["sensitivity/b"] == pytest.approx(1 / 2) and metrics["specificity/b"] == pytest.approx(
        3 / 4
    )
    assert metrics["sensitivity/c"] == 1.0 and metrics["specificity/c"] == 1.0
    # One-vs-rest AUCs by counting ordered pairs: a 8/9, b 7/8 (0.7 > 0.4: one inversion), c 1.
    assert metrics["auc"] == pytest.approx((8 / 9 + 7 / 8 + 1.0) / 3)
    assert matrix.tolist() == [[2, 1, 0], [1, 1, 0], [0, 0, 1]]


def test_volumes_train_export_and_serve_saliency_at_the_input_size(tmp_path: Path, exported_ops) -> None:
    data = _volumes_npz(tmp_path / "cubes.npz")
    run_dir = tmp_path / "run"
    runs.train_run(
        "medical_classification",
        run_dir,
        preset="tiny",
        data=str(data),
        overrides=[
            "data.class_names=ball,cube",
            "data.intensity=fixed",
            "data.intensity_scale=255",
            "train.epochs=2",
        ],
    )
    _, config = runs.load_run(run_dir)
    assert config.data.spatial_dims == 3 and config.data.image_size == (12, 12, 12)
    metrics = runs.evaluate_run(run_dir, str(data))
    assert metrics["examples"] == 8.0 and {"auc", "sensitivity/cube", "specificity/ball"} <= set(metrics)
    assert (run_dir / "eval" / "roc.png").is_file() and any((run_dir / "eval" / "saliency").iterdir())

    version = runs.export_run(run_dir, tmp_path / "export")
    ops, missing = exported_ops(version)
    # Grad-CAM's gradients are core ops too: the graph holds them, and nothing else is missing.
    assert missing == [] and any(op.endswith("Grad") for op in ops)
    loaded = tf.saved_model.load(str(version))
    assert set(loaded.signatures) == {"serving_default", "volume"}
    volume = np.zeros((2, 15, 13, 11, 1), np.float32)
    volume[:, 4:10, 4:9, 3:8] = 255.0
    answer = loaded.signatures["volume"](volume=tf.constant(volume))
    assert answer["saliency"].shape == (2, 15, 13, 11)
    assert float(tf.reduce_min(answer["saliency"])) >= 0.0 and float(tf.reduce_max(answer["saliency"])) <= 1.0
    np.testing.assert_allclose(answer["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    assert [label.decode() for label in answer["labels"].numpy()[:, 0]] == [
        config.data.class_names[i] for i in answer["probabilities"].numpy().argmax(axis=1)
    ]


def test_png_signature_and_predict_on_dicom_files(tmp_path: Path, scans: str, capsys) -> None:
    from tfapps.apps.cli import main

    run_dir = tmp_path / "run"
    runs.train_run("medical_classification", run_dir, preset="tiny", data=scans)
    version = runs.export_run(run_dir, tmp_path / "export")
    loaded = tf.saved_model.load(str(version))
    _, config = runs.load_run(run_dir)

    # The same slice as 16-bit PNG bytes and as a float array in HU answers the same.
    hounsfield = np.full((24, 24), -1000.0, np.float32)
    hounsfield[6:18, 6:18] = 150.0
    stored = (hounsfield + 1024).astype(np.uint16)  # what a 16-bit PNG of CT holds with offset 1024
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, format="PNG")
    from_png = loaded.signatures["png"](image_png_bytes=tf.constant([buffer.getvalue()]))
    from_array = loaded.signatures["serving_default"](
        image=tf.constant(stored.astype(np.float32)[None, ..., None])
    )
    np.testing.assert_allclose(from_png["probabilities"], from_array["probabilities"], atol=1e-6)
    assert from_png["saliency"].shape == (1, 24, 24)

    dicom = write_dicom_slice(tmp_path / "in" / "slice.dcm", hounsfield[:20, :22])
    out = tmp_path / "predictions.jsonl"
    assert (
        main(
            [
                "predict",
                "--model-dir",
                str(version.parent),
                "--output",
                str(out),
                "--output-dir",
                str(tmp_path / "maps"),
                str(dicom),
            ]
        )
        == 0
    )
    row = json.loads(out.read_text())
    assert row["labels"][0] in config.data.class_names and len(row["probabilities"]) == 2
    saliency = np.array(Image.open(row["saliency_file"]))
    assert saliency.shape == (20, 22) and saliency.dtype == np.uint8


def test_a_csv_of_nifti_volumes_of_several_sizes_needs_and_uses_an_image_size(tmp_path: Path) -> None:
    import nibabel as nib

    from tfapps.apps.errors import DataError

    rows = ["image,label"]
    for i in range(8):
        side = 10 + i % 3
        volume = np.zeros((side, side, side), np.float32)
        volume[2:-2, 2:-2, 2:-2] = 100.0 * (1 + i % 2)
        nib.save(nib.Nifti1Image(volume, np.eye(4)), str(tmp_path / f"v{i}.nii.gz"))
        rows.append(f"v{i}.nii.gz,{'bright' if i % 2 else 'dim'}")
    (tmp_path / "volumes.csv").write_text("\n".join(rows) + "\n")
    data = str(tmp_path / "volumes.csv")
    with pytest.raises(DataError, match="data.image_size"):
        TASK.resolve_data(_config(**{"data.train": data}))
    config = TASK.resolve_data(_config(**{"data.train": data, "data.image_size": "[12,12,12]"}))
    assert config.data.spatial_dims == 3 and config.data.class_names == ("bright", "dim")
    config = config_lib.with_values(config, **{"data.validation_split": 0.25})
    train, val = medical_data.train_val_splits(config)
    assert train.images.shape == (6, 12, 12, 12, 1) and len(val.labels) == 2
    assert sorted(val.labels.tolist()) == [0, 1]  # held out per class


def test_a_keras_hub_backbone_builds_for_one_channel_images() -> None:
    config = config_lib.with_values(
        _config(),
        **{
            "data.class_names": ["a", "b"],
            "data.spatial_dims": 2,
            "data.image_size": [32, 32],
            "model.backbone": "resnet18",
        },
    )
    model = TASK.build_model(config)
    assert model.input_shape == (None, 32, 32, 1) and model.output_shape == (None, 2)
