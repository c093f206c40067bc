"""Medical dataset readers: class folders, MedMNIST `.npz` and CSV for classification; Decathlon (MSD)
folders and CSV for segmentation volumes. Odd files are dropped and reported, never raised; only a
dataset with nothing usable is an error. Generated data in tmp_path, plus one test per shared dataset."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from tfapps.apps.errors import DataError, InvalidArgumentError, NotFoundError
from tfapps.pipelines.medical_data import (
    MedicalRecord,
    VolumeRecord,
    load_case,
    load_example,
    read_classification_dataset,
    read_segmentation_volumes,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
MEDICAL = SHARED / "datasets" / "medical_imaging"
AFFINE = np.array([[-1.5, 0, 0, 90.0], [0, 1.5, 0, -120.0], [0, 0, 3.0, -60.0], [0, 0, 0, 1]])


def write_dicom(path: Path, pixels: np.ndarray, **attributes) -> Path:
    """A MONOCHROME2 DICOM Part 10 file holding `pixels` (3D arrays are multi-frame)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    dataset.SOPClassUID = SecondaryCaptureImageStorage
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.set_pixel_data(pixels, "MONOCHROME2", pixels.dtype.itemsize * 8)
    for name, value in attributes.items():
        setattr(dataset, name, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(path, enforce_file_format=True)
    return path


def write_image(path: Path, value: int = 100, size: tuple[int, int] = (6, 5)) -> Path:
    """A solid grey 8-bit image, in the format its suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, np.uint8)).save(path)
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_volume(path: Path, array: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, affine), path)
    return path


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def corrupt_files(folder: Path) -> None:
    """A truncated DICOM, a text file renamed .png and a garbage .nii.gz in `folder`."""
    data = write_dicom(folder / "whole.dcm", np.zeros((6, 5), np.uint16)).read_bytes()
    (folder / "whole.dcm").unlink()
    write_bytes(folder / "cut.dcm", data[:-10])
    write_bytes(folder / "notes.png", b"this is text, not a PNG\n")
    write_bytes(folder / "broken.nii.gz", b"garbage" * 30)


# --- class folders ------------------------------------------------------------------------------


def test_class_folders_read_dicom_and_png_and_report_corrupt_files(tmp_path):
    write_dicom(tmp_path / "ct" / "a.dcm", np.full((6, 5), 7, np.int16), RescaleSlope=2, RescaleIntercept=-3)
    write_dicom(tmp_path / "ct" / "series" / "IM0001", np.ones((6, 5), np.uint16))  # no suffix: by content
    write_image(tmp_path / "xray" / "b.png")
    write_image(tmp_path / "xray" / "c.jpg", value=3)
    corrupt_files(tmp_path / "xray")
    write_bytes(tmp_path / "xray" / "README.md", b"about the data")
    write_bytes(tmp_path / "xray" / ".DS_Store", b"\0\1")
    write_bytes(tmp_path / "xray" / "scan.doc", b"a document")
    write_bytes(tmp_path / "LICENSE", b"licence text")

    data = read_classification_dataset(tmp_path)

    assert data.layout == "folders" and data.class_names == ("ct", "xray")
    assert data.spatial_dims == 2 and data.shape == (6, 5)
    assert [(Path(r.path).name, r.label) for r in data.records] == [
        ("a.dcm", 0),
        ("IM0001", 0),
        ("b.png", 1),
        ("c.jpg", 1),
    ]
    report = data.report
    assert report.issues() == {"unreadable_files": 3, "unsupported_files": 1}
    assert sorted(e.split(":")[0] for e in report.examples["unreadable_files"]) == [
        "xray/broken.nii.gz",
        "xray/cut.dcm",
        "xray/notes.png",
    ]
    assert report.examples["unsupported_files"] == ("xray/scan.doc",)
    assert report.class_counts == {"ct": 2, "xray": 2} and report.split is None
    assert "files that cannot be read (dropped): 3; e.g. xray/broken.nii.gz: " in report.summary()
    assert json.loads(json.dumps(report.to_dict()))["unreadable_files"] == 3

    example = load_example(data, data.records[0])
    assert example.dtype == np.float32
    np.testing.assert_array_equal(example, np.full((6, 5), 7 * 2 - 3))


def test_class_names_skip_other_folders_and_require_their_own(tmp_path):
    for name in ("benign", "malignant", "unsure"):
        write_image(tmp_path / name / "x.png")

    data = read_classification_dataset(tmp_path, class_names=["malignant", "benign"])

    assert data.class_names == ("malignant", "benign")
    assert [(Path(r.path).parent.name, r.label) for r in data.records] == [("malignant", 0), ("benign", 1)]
    assert data.report.issues() == {"skipped_folders": 1}
    assert data.report.examples["skipped_folders"] == ("unsure/",)
    with pytest.raises(NotFoundError, match="No folder for class normal") as error:
        read_classification_dataset(tmp_path, class_names=["benign", "normal"])
    assert "Received: path=" in str(error.value)


def test_split_layout_reads_the_split_folder(tmp_path):
    write_image(tmp_path / "train" / "a" / "1.png")
    write_image(tmp_path / "train" / "b" / "2.png")
    write_image(tmp_path / "validation" / "a" / "3.png")

    train = read_classification_dataset(tmp_path, split="train")
    val = read_classification_dataset(tmp_path, split="val")

    assert [Path(r.path).name for r in train.records] == ["1.png", "2.png"]
    assert val.class_names == ("a",) and len(val) == 1 and val.report.split == "val"
    with pytest.raises(NotFoundError, match="no 'test' split folder"):
        read_classification_dataset(tmp_path, split="test")
    with pytest.raises(InvalidArgumentError, match="Received: split='holdout'"):
        read_classification_dataset(tmp_path, split="holdout")


def test_mixed_2d_and_3d_files_are_an_error_naming_one_of_each(tmp_path):
    write_image(tmp_path / "a" / "flat.png")
    write_volume(tmp_path / "b" / "vol.nii.gz", np.zeros((4, 4, 4), np.float32))

    with pytest.raises(DataError, match=r"a/flat\.png \(2D\) and b/vol\.nii\.gz \(3D\)"):
        read_classification_dataset(tmp_path)


def test_nothing_usable_is_an_error_that_shows_why(tmp_path):
    corrupt_files(tmp_path / "only")

    with pytest.raises(DataError, match="No usable example") as error:
        read_classification_dataset(tmp_path)
    assert "only/cut.dcm" in str(error.value) and "Expected a folder with one sub-folder per class" in str(
        error.value
    )


def test_volumes_in_class_folders_have_their_channel_axis_dropped(tmp_path):
    write_volume(tmp_path / "a" / "v.nii.gz", np.ones((3, 4, 5, 1), np.float32))
    write_volume(tmp_path / "b" / "w.nii", np.zeros((3, 4, 5), np.int16))
    write_volume(tmp_path / "b" / "rgb.nii.gz", np.zeros((3, 4, 5, 2), np.float32))

    data = read_classification_dataset(tmp_path)

    assert data.spatial_dims == 3 and data.shape == (3, 4, 5) and len(data) == 2
    assert data.report.issues() == {"multi_channel_files": 1}
    assert load_example(data, data.records[0]).shape == (3, 4, 5)


# --- MedMNIST -----------------------------------------------------------------------------------


def write_medmnist(path: Path, image_shape=(5, 4, 6), sizes=(6, 2, 3)) -> Path:
    rng = np.random.default_rng(3)
    arrays = {}
    for split, size in zip(("train", "val", "test"), sizes, strict=True):
        arrays[f"{split}_images"] = rng.integers(0, 256, (size, *image_shape)).astype(np.uint8)
        arrays[f"{split}_labels"] = (np.arange(size) % 3).reshape(-1, 1).astype(np.uint8)
    np.savez_compressed(path, **arrays)
    return path


def test_medmnist_npz_reads_rows_as_records(tmp_path):
    path = write_medmnist(tmp_path / "organmnist3d.npz")

    train = read_classification_dataset(path)
    test = read_classification_dataset(path, split="test", class_names=["liver", "kidney", "spleen"])

    assert train.layout == "medmnist" and len(train) == 8 and train.spatial_dims == 3
    assert train.shape == (5, 4, 6) and train.class_names == ("class_0", "class_1", "class_2")
    assert [r.label for r in train.records] == [0, 1, 2, 0, 1, 2, 0, 1]
    assert train.records[6] == MedicalRecord("", 0, 6)
    with np.load(path) as stored:
        np.testing.assert_array_equal(load_example(train, train.records[6]), stored["val_images"][0])
        np.testing.assert_array_equal(load_example(test, test.records[2]), stored["test_images"][2])
    assert load_example(train, train.records[0]).dtype == np.float32
    assert test.report.class_counts == {"liver": 1, "kidney": 1, "spleen": 1}
    assert len(read_classification_dataset(path, split="val")) == 2
    with pytest.raises(DataError, match="at least 3 names"):
        read_classification_dataset(path, class_names=["a", "b"])


def test_medmnist_2d_grey_and_colour_sets_are_2d(tmp_path):
    grey = read_classification_dataset(write_medmnist(tmp_path / "g.npz", image_shape=(7, 6)))
    colour = read_classification_dataset(write_medmnist(tmp_path / "c.npz", image_shape=(7, 6, 3)))

    assert (grey.spatial_dims, grey.shape) == (2, (7, 6))
    assert (colour.spatial_dims, colour.shape) == (2, (7, 6))
    assert load_example(colour, colour.records[0]).shape == (7, 6, 3)


# --- classification CSV -------------------------------------------------------------------------


def test_csv_of_volumes_reports_missing_unreadable_and_empty_rows(tmp_path):
    write_volume(tmp_path / "vols" / "a.nii.gz", np.zeros((4, 5, 6), np.float32))
    write_volume(tmp_path / "vols" / "b.nii.gz", np.ones((4, 5, 6), np.float32))
    write_bytes(tmp_path / "vols" / "bad.nii.gz", b"not gzip" * 10)
    csv_path = write_csv(
        tmp_path / "labels.csv",
        "image,label",
        ["vols/a.nii.gz,healthy", f"{tmp_path / 'vols' / 'b.nii.gz'},tumour", "vols/gone.nii.gz,healthy"]
        + ["vols/bad.nii.gz,tumour", "vols/a.nii.gz,"],
    )

    data = read_classification_dataset(csv_path)

    assert data.layout == "csv" and data.class_names == ("healthy", "tumour")
    assert [(Path(r.path).name, r.label) for r in data.records] == [("a.nii.gz", 0), ("b.nii.gz", 1)]
    assert data.spatial_dims == 3 and data.shape == (4, 5, 6)
    assert data.report.issues() == {"missing_files": 1, "unreadable_files": 1, "bad_rows": 1}
    assert data.report.examples["missing_files"] == ("vols/gone.nii.gz (labels.csv line 4)",)
    np.testing.assert_array_equal(load_example(data, data.records[1]), np.ones((4, 5, 6)))


def test_csv_split_column_and_integer_labels(tmp_path):
    for name in ("a", "b", "c"):
        write_image(tmp_path / f"{name}.png")
    csv_path = write_csv(
        tmp_path / "data.csv", "image,label,split", ["a.png,2,train", "b.png,0,validation", "c.png,7,train"]
    )

    train = read_classification_dataset(csv_path, split="train")
    named = read_classification_dataset(csv_path, split="train", class_names=["x", "y", "z"])

    assert [(Path(r.path).name, r.label) for r in train.records] == [("a.png", 2), ("c.png", 7)]
    assert len(train.class_names) == 8 and train.report.split == "train"
    assert [r.label for r in named.records] == [2] and named.report.issues() == {
        "unknown_labels": 1,
        "empty_classes": 2,
    }
    assert [Path(r.path).name for r in read_classification_dataset(csv_path, split="val").records] == [
        "b.png"
    ]
    with pytest.raises(NotFoundError, match="no rows of split 'test'"):
        read_classification_dataset(csv_path, split="test")
    with pytest.raises(DataError, match="lacks the column label"):
        read_classification_dataset(write_csv(tmp_path / "bad.csv", "image,class", ["a.png,x"]))


# --- segmentation volumes: MSD ------------------------------------------------------------------


def write_msd(root: Path) -> Path:
    """An MSD task: 3 good 4D cases (one with a float label), one label of the wrong shape, one garbage
    label, an image without a label, macOS `._` files and a dataset.json."""
    rng = np.random.default_rng(4)
    for case in ("BRATS_001", "BRATS_002", "BRATS_003", "BRATS_004", "BRATS_005", "BRATS_006"):
        write_volume(root / "imagesTr" / f"{case}.nii.gz", rng.random((6, 5, 4, 2)).astype(np.float32))
    for case in ("BRATS_001", "BRATS_002"):
        write_volume(root / "labelsTr" / f"{case}.nii.gz", rng.integers(0, 4, (6, 5, 4)).astype(np.uint8))
    write_volume(root / "labelsTr" / "BRATS_003.nii.gz", np.full((6, 5, 4), 2.9999, np.float32))
    write_volume(root / "labelsTr" / "BRATS_004.nii.gz", np.zeros((6, 5, 3), np.uint8))
    write_bytes(root / "labelsTr" / "BRATS_005.nii.gz", b"garbage" * 30)
    write_bytes(root / "imagesTr" / "._BRATS_001.nii.gz", b"\0\5\26\7 AppleDouble")
    write_bytes(root / "labelsTr" / "._BRATS_001.nii.gz", b"\0\5\26\7 AppleDouble")
    meta = {"labels": {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"}}
    meta["modality"] = {"0": "FLAIR", "1": "T1w"}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def test_msd_folder_pairs_images_with_labels_and_reports_bad_cases(tmp_path):
    root = write_msd(tmp_path / "Task01_BrainTumour")

    data = read_segmentation_volumes(root)

    assert data.layout == "msd" and data.channels == 2
    assert [r.case_id for r in data.records] == ["BRATS_001", "BRATS_002", "BRATS_003"]
    assert data.records[0] == VolumeRecord(
        "BRATS_001",
        (str(root / "imagesTr" / "BRATS_001.nii.gz"),),
        str(root / "labelsTr" / "BRATS_001.nii.gz"),
    )
    assert data.label_names == ("background", "edema", "non-enhancing tumor", "enhancing tumour")
    assert data.channel_names == ("FLAIR", "T1w")
    assert data.report.issues() == {
        "unreadable_files": 1,
        "images_without_labels": 1,
        "label_shape_mismatches": 1,
    }
    assert data.report.examples["images_without_labels"] == ("imagesTr/BRATS_006.nii.gz",)
    assert data.report.examples["unreadable_files"][0].startswith("labelsTr/BRATS_005.nii.gz: ")
    assert "BRATS_004: label 6x5x3, image 6x5x4" in data.report.summary()

    image, label, affine = load_case(data.records[2])
    assert image.shape == (6, 5, 4, 2) and image.dtype == np.float32
    assert label.dtype == np.int32 and np.all(label == 3)  # 2.9999 stored as float: rounded
    np.testing.assert_allclose(affine, AFFINE, atol=1e-6)


def test_msd_test_split_needs_its_folders(tmp_path):
    root = write_msd(tmp_path / "task")

    with pytest.raises(NotFoundError, match=r"looked for imagesTs/ \+ labelsTs/") as error:
        read_segmentation_volumes(root, split="test")
    assert "Received: path=" in str(error.value)

    write_volume(root / "imagesTs" / "x.nii.gz", np.zeros((2, 2, 2, 2), np.float32))
    write_volume(root / "labelsTs" / "x.nii.gz", np.zeros((2, 2, 2), np.uint8))
    assert [r.case_id for r in read_segmentation_volumes(root, split="test").records] == ["x"]


def test_nnunet_channel_files_and_split_layouts(tmp_path):
    for split in ("train", "test"):
        for case in ("c1", "c2"):
            for channel in (1, 0):
                write_volume(
                    tmp_path / split / "imagesTr" / f"{case}_000{channel}.nii.gz", np.zeros((3, 3, 3))
                )
            write_volume(tmp_path / split / "labelsTr" / f"{case}.nii.gz", np.zeros((3, 3, 3), np.uint8))

    data = read_segmentation_volumes(tmp_path, split="test")

    assert data.channels == 2 and [r.case_id for r in data.records] == ["c1", "c2"]
    assert [Path(p).name for p in data.records[0].image_paths] == ["c1_0000.nii.gz", "c1_0001.nii.gz"]
    assert Path(data.records[0].label_path).parent.parent.name == "test"
    assert load_case(data.records[1])[0].shape == (3, 3, 3, 2)
    with pytest.raises(NotFoundError, match="no 'val' split folder"):
        read_segmentation_volumes(tmp_path, split="val")


# --- segmentation volumes: CSV ------------------------------------------------------------------


def test_volume_csv_with_channel_columns_reports_shape_mismatches(tmp_path):
    for case, shape in (("p1", (4, 4, 3)), ("p2", (4, 4, 3)), ("p3", (4, 4, 2))):
        write_volume(tmp_path / case / "flair.nii.gz", np.full((4, 4, 3), 1.5, np.float32))
        write_volume(tmp_path / case / "t1.nii.gz", np.full(shape, 2.5, np.float32))
        write_volume(tmp_path / case / "seg.nii.gz", np.ones((4, 4, 3), np.float32))
    rows = [f"{c}/flair.nii.gz,{c}/t1.nii.gz,{c}/seg.nii.gz,{s}" for c, s in (("p1", "train"), ("p2", "val"))]
    rows += [
        "p3/flair.nii.gz,p3/t1.nii.gz,p3/seg.nii.gz,train",
        "p9/flair.nii.gz,p9/t1.nii.gz,p9/seg.nii.gz,train",
    ]
    csv_path = write_csv(tmp_path / "cases.csv", "image_0,image_1,label,split", rows)

    data = read_segmentation_volumes(csv_path, split="train")

    assert data.layout == "csv" and data.channels == 2 and data.label_names is None
    # No case_id column and every label named seg.nii.gz: ids are the labels' folder names.
    assert [r.case_id for r in data.records] == ["p1"]
    assert data.report.issues() == {"missing_files": 1, "channel_shape_mismatches": 1}
    assert "t1.nii.gz 4x4x2" in data.report.examples["channel_shape_mismatches"][0]
    image, label, _ = load_case(data.records[0])
    np.testing.assert_array_equal(image[..., 0], 1.5)
    np.testing.assert_array_equal(image[..., 1], 2.5)
    assert label.shape == (4, 4, 3)


def test_volume_csv_with_nothing_usable_is_an_error(tmp_path):
    write_bytes(tmp_path / "a.nii.gz", b"nope" * 20)
    write_volume(tmp_path / "l.nii.gz", np.zeros((2, 2, 2), np.uint8))
    csv_path = write_csv(tmp_path / "c.csv", "case_id,image,label", ["one,a.nii.gz,l.nii.gz"])

    with pytest.raises(DataError, match="No usable case") as error:
        read_segmentation_volumes(csv_path)
    assert "a.nii.gz" in str(error.value) and f"Received: path='{tmp_path}'" in str(error.value)


# --- shared datasets ----------------------------------------------------------------------------


@pytest.mark.shared_data
def test_shared_mednist_subset_as_class_folders():
    data = read_classification_dataset(MEDICAL / "mednist_subset")

    assert data.class_names == ("AbdomenCT", "BreastMRI", "CXR", "ChestCT", "Hand", "HeadCT")
    assert len(data) == 1474 and data.spatial_dims == 2 and data.shape == (64, 64)
    assert data.report.issues() == {}
    assert load_example(data, data.records[-1]).shape == (64, 64)


@pytest.mark.shared_data
def test_shared_adrenalmnist3d_npz():
    path = MEDICAL / "adrenalmnist3d" / "adrenalmnist3d.npz"

    train = read_classification_dataset(path, split="train")
    test = read_classification_dataset(path, split="test")

    assert len(train) == 1188 + 98 and len(test) == 298
    assert train.spatial_dims == 3 and train.shape == (28, 28, 28) and train.num_classes == 2
    assert test.report.class_counts == {"class_0": 229, "class_1": 69}


@pytest.mark.shared_data
def test_shared_brats_subset_through_a_csv(tmp_path):
    root = MEDICAL / "brats2015_deepmedic_subset"
    cases = sorted(p for p in root.glob("*/brats_*") if p.is_dir())
    rows = [f"{case}/Flair_subtrMeanDivStd.nii.gz,{case}/OTMultiClass.nii.gz" for case in cases]
    csv_path = write_csv(tmp_path / "brats.csv", "image,label", rows)

    data = read_segmentation_volumes(csv_path)

    assert len(data) == 6 and data.channels == 1 and data.report.issues() == {}
    assert [r.case_id for r in data.records] == [case.name for case in cases]  # labels all share one name
    image, label, affine = load_case(data.records[0])
    assert image.shape == (240, 240, 155, 1) and label.shape == (240, 240, 155)
    assert set(np.unique(label).tolist()) <= {0, 1, 2, 3, 4}
    assert affine.shape == (4, 4)
