"""Single medical files: DICOM (modality LUT, MONOCHROME1, multi-frame, colour, broken files), NIfTI
(affine, 4D, atomic writes), 8/16-bit images, suffix and content dispatch, and MedMNIST `.npz`.
Every file is generated here; expected values are computed from what was written."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEGLSLossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from tfapps.apps.errors import DataError, InvalidArgumentError
from tfapps.pipelines import medical_io
from tfapps.pipelines.medical_io import (
    MEDICAL_EXTENSIONS,
    medical_suffix,
    read_dicom,
    read_image,
    read_medical_file,
    read_medmnist,
    read_nifti,
    read_nifti_header,
    write_nifti,
)

AFFINE = np.array(
    [[0.0, -0.9, 0.0, 12.5], [1.1, 0.0, 0.0, -30.0], [0.0, 0.0, 2.5, 7.0], [0.0, 0.0, 0.0, 1.0]]
)
CT_STORED = np.array([[-1000, 0, 40], [1200, -32768, 32767]], np.int16)


def write_dicom(
    path: Path,
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    sop_class: str = SecondaryCaptureImageStorage,
    **attributes,
) -> Path:
    """A DICOM Part 10 file (explicit VR little endian) holding `pixels`; 3D arrays are multi-frame."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    dataset.SOPClassUID = sop_class
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.set_pixel_data(pixels, photometric, bits_stored or pixels.dtype.itemsize * 8)
    for name, value in attributes.items():
        setattr(dataset, name, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(path, enforce_file_format=True)
    return path


def write_ct(path: Path) -> Path:
    return write_dicom(
        path,
        CT_STORED,
        sop_class=CTImageStorage,
        RescaleSlope=2,
        RescaleIntercept=-1024,
        WindowCenter=[40, 400],
        WindowWidth=[400, 2000],
        PixelSpacing=[0.5, 0.75],
    )


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_nifti_file(path: Path, array: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, affine), path)
    return path


def assert_names_file(error: pytest.ExceptionInfo, path: Path) -> None:
    message = str(error.value)
    assert path.name in message
    assert f"Received: path='{path}'" in message


# --- DICOM ------------------------------------------------------------------------------------


def test_ct_dicom_applies_slope_and_intercept_to_signed_values(tmp_path):
    image = read_dicom(write_ct(tmp_path / "ct.dcm"))

    assert image.kind == "dicom"
    assert image.array.dtype == np.float32
    np.testing.assert_array_equal(image.array, CT_STORED.astype(np.float64) * 2 - 1024)
    assert image.window == (40.0, 400.0)  # the first of several windows
    assert image.spacing == (0.5, 0.75)
    assert image.affine is None


@pytest.mark.parametrize(("slope", "intercept"), [(1, 0), (2, 10)])
def test_monochrome1_is_inverted_over_the_stored_range(tmp_path, slope, intercept):
    stored = np.array([[0, 100], [4000, 4095]], np.uint16)
    path = write_dicom(
        tmp_path / "xray.dcm",
        stored,
        photometric="MONOCHROME1",
        bits_stored=12,
        RescaleSlope=slope,
        RescaleIntercept=intercept,
    )

    image = read_dicom(path)

    # Stored 0..4095 maps to intercept..4095*slope+intercept; inverting swaps the ends of that range.
    lo, hi = intercept, 4095 * slope + intercept
    np.testing.assert_array_equal(image.array, lo + hi - (stored * slope + intercept))
    assert image.array[0, 0] == hi and image.array[1, 1] == lo
    assert image.window is None


def test_unsigned_16_bit_dicom_without_rescale_keeps_raw_values(tmp_path):
    stored = np.array([[0, 1], [40000, 65535]], np.uint16)

    image = read_dicom(write_dicom(tmp_path / "mr.dcm", stored))

    np.testing.assert_array_equal(image.array, stored.astype(np.float32))
    assert image.spacing == (1.0, 1.0)


def test_multi_frame_dicom_is_a_volume_with_slice_spacing_first(tmp_path):
    frames = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    path = write_dicom(
        tmp_path / "multi.dcm",
        frames,
        PixelSpacing=[0.8, 0.9],
        SliceThickness=3,
        RescaleSlope=1,
        RescaleIntercept=-5,
    )

    image = read_dicom(path)

    assert image.array.shape == (3, 4, 5)
    np.testing.assert_array_equal(image.array, frames - 5.0)
    assert image.spacing == (3.0, 0.8, 0.9)


def test_rgb_dicom_becomes_bt601_luma(tmp_path):
    rgb = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [10, 20, 30]]], np.uint8)

    image = read_dicom(write_dicom(tmp_path / "photo.dcm", rgb, photometric="RGB"))

    expected = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    np.testing.assert_allclose(image.array, expected, rtol=1e-6)


def test_palette_colour_dicom_goes_through_its_palette_to_luma(tmp_path):
    palette = {
        "Red": [0, 65535, 0],
        "Green": [0, 0, 65535],
        "Blue": [65535, 0, 0],
    }  # index 0 blue, 1 red, 2 green
    indices = np.array([[0, 1], [2, 1]], np.uint8)
    path = write_dicom(tmp_path / "palette.dcm", indices, photometric="PALETTE COLOR")
    dataset = pydicom.dcmread(path)
    for colour, values in palette.items():
        dataset.add_new(f"{colour}PaletteColorLookupTableDescriptor", "US", [3, 0, 16])
        dataset.add_new(f"{colour}PaletteColorLookupTableData", "OW", np.array(values, "<u2").tobytes())
    dataset.save_as(path, enforce_file_format=True)

    image = read_dicom(path)

    rgb = np.stack([np.array(palette[c])[indices] for c in ("Red", "Green", "Blue")], axis=-1)
    np.testing.assert_allclose(image.array, rgb @ np.array([0.299, 0.587, 0.114]), rtol=1e-5)


def test_truncated_dicom_is_a_data_error_naming_the_file(tmp_path):
    data = write_ct(tmp_path / "ct.dcm").read_bytes()
    path = write_bytes(tmp_path / "cut.dcm", data[:-6])

    with pytest.raises(DataError, match="pixel data cannot be decoded") as error:
        read_dicom(path)
    assert_names_file(error, path)


@pytest.mark.parametrize("content", [b"", b"not a dicom file at all" * 10])
def test_non_dicom_bytes_are_a_data_error(tmp_path, content):
    path = write_bytes(tmp_path / "fake.dcm", content)

    with pytest.raises(DataError, match="DICM") as error:
        read_dicom(path)
    assert_names_file(error, path)


def test_dicom_without_pixel_data_is_a_data_error(tmp_path):
    dataset = pydicom.dcmread(write_ct(tmp_path / "ct.dcm"))
    del dataset.PixelData
    dataset.save_as(tmp_path / "nopixels.dcm", enforce_file_format=True)

    with pytest.raises(DataError, match="no pixel data"):
        read_dicom(tmp_path / "nopixels.dcm")


def test_compressed_dicom_without_its_decoder_plugin_is_a_data_error(tmp_path):
    path = write_dicom(tmp_path / "jls.dcm", np.zeros((4, 4), np.uint16), bits_stored=12)
    dataset = pydicom.dcmread(path)
    dataset.file_meta.TransferSyntaxUID = JPEGLSLossless
    dataset.PixelData = encapsulate([b"\xff\xd8" + b"\0" * 30])
    dataset["PixelData"].VR = "OB"
    dataset.save_as(path, enforce_file_format=True)

    with pytest.raises(DataError, match="JPEG-LS") as error:
        read_dicom(path)
    assert_names_file(error, path)


# --- NIfTI ------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_keeps_voxel_order_affine_and_zooms(tmp_path, suffix):
    volume = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    path = write_nifti_file(tmp_path / f"ct{suffix}", volume)

    image = read_nifti(path)

    assert image.kind == "nifti"
    assert image.array.dtype == np.float32
    np.testing.assert_array_equal(image.array, volume)  # no transposes
    np.testing.assert_allclose(image.affine, AFFINE, atol=1e-6)
    assert image.spacing == pytest.approx((1.1, 0.9, 2.5))
    assert image.window is None


def test_4d_nifti_keeps_channels_last(tmp_path):
    volume = np.random.default_rng(0).random((3, 4, 5, 2)).astype(np.float32)

    image = read_nifti(write_nifti_file(tmp_path / "mr.nii.gz", volume))

    assert image.array.shape == (3, 4, 5, 2)
    np.testing.assert_array_equal(image.array, volume)
    assert len(image.spacing) == 3


def test_nifti_header_reads_shape_and_affine_only(tmp_path):
    path = write_nifti_file(tmp_path / "v.nii.gz", np.zeros((6, 5, 4), np.uint8))

    shape, affine = read_nifti_header(path)

    assert shape == (6, 5, 4)
    np.testing.assert_allclose(affine, AFFINE, atol=1e-6)


def test_garbage_and_truncated_nifti_are_data_errors(tmp_path):
    garbage = write_bytes(tmp_path / "bad.nii.gz", b"garbage" * 40)
    data = write_nifti_file(tmp_path / "v.nii.gz", np.zeros((20, 20, 20), np.float32)).read_bytes()
    truncated = write_bytes(tmp_path / "cut.nii.gz", gzip.compress(gzip.decompress(data)[:2000]))

    with pytest.raises(DataError, match="NIfTI") as error:
        read_nifti(garbage)
    assert_names_file(error, garbage)
    with pytest.raises(DataError, match="data cannot be read") as error:
        read_nifti(truncated)
    assert_names_file(error, truncated)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_write_nifti_round_trips_data_and_affine(tmp_path, suffix):
    mask = np.random.default_rng(1).integers(0, 5, (4, 5, 6)).astype(np.int64)
    target = tmp_path / "out" / "deep" / f"mask{suffix}"

    written = write_nifti(target, mask, AFFINE)

    assert written == target
    loaded = nib.load(target)
    assert loaded.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asarray(loaded.dataobj), mask)
    np.testing.assert_allclose(loaded.affine, AFFINE, atol=1e-6)
    assert int(loaded.header["sform_code"]) > 0 and int(loaded.header["qform_code"]) > 0
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temporary left


def test_write_nifti_rejects_values_the_dtype_cannot_hold(tmp_path):
    with pytest.raises(InvalidArgumentError, match="do not fit uint8"):
        write_nifti(tmp_path / "m.nii.gz", np.array([[0, 300]]), AFFINE)
    with pytest.raises(InvalidArgumentError, match="fractions"):
        write_nifti(tmp_path / "m.nii.gz", np.array([[0.0, 0.5]]), AFFINE)
    with pytest.raises(InvalidArgumentError, match=r"\.nii or \.nii\.gz"):
        write_nifti(tmp_path / "m.png", np.zeros((2, 2)), AFFINE)
    with pytest.raises(InvalidArgumentError, match="4x4"):
        write_nifti(tmp_path / "m.nii", np.zeros((2, 2)), np.eye(3))
    assert list(tmp_path.iterdir()) == []

    probabilities = np.array([[0.25, 0.75]], np.float32)
    write_nifti(tmp_path / "p.nii", probabilities, AFFINE, dtype=np.float32)
    np.testing.assert_array_equal(read_nifti(tmp_path / "p.nii").array, probabilities)


def test_write_nifti_failure_leaves_neither_file_nor_temporary(tmp_path, monkeypatch):
    target = tmp_path / "mask.nii.gz"
    write_nifti(target, np.ones((2, 2, 2)), AFFINE)
    before = target.read_bytes()

    def failing_save(image, filename):
        Path(filename).write_bytes(b"half a file")
        raise OSError("No space left on device")

    monkeypatch.setattr(medical_io.nib, "save", failing_save)
    with pytest.raises(DataError, match="No space left") as error:
        write_nifti(target, np.zeros((2, 2, 2)), AFFINE)

    assert_names_file(error, target)
    assert [p.name for p in tmp_path.iterdir()] == ["mask.nii.gz"]
    assert target.read_bytes() == before


# --- images -------------------------------------------------------------------------------------


def test_8_and_16_bit_png_keep_raw_values(tmp_path):
    grey8 = np.array([[0, 7], [128, 255]], np.uint8)
    grey16 = np.array([[0, 300], [40000, 65535]], np.uint16)
    Image.fromarray(grey8).save(tmp_path / "a.png")
    Image.fromarray(grey16).save(tmp_path / "b.png")

    image8, image16 = read_image(tmp_path / "a.png"), read_image(tmp_path / "b.png")

    assert image8.kind == "image" and image8.spacing == (1.0, 1.0) and image8.affine is None
    np.testing.assert_array_equal(image8.array, grey8.astype(np.float32))
    assert image16.array.dtype == np.float32
    np.testing.assert_array_equal(image16.array, grey16.astype(np.float32))


def test_colour_images_become_grey(tmp_path):
    rgb = np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    Image.fromarray(np.dstack([rgb, np.full((1, 2, 1), 9, np.uint8)])).save(tmp_path / "d.png")

    expected = np.asarray(Image.fromarray(rgb).convert("L"), np.float32)
    np.testing.assert_array_equal(read_image(tmp_path / "c.png").array, expected)
    np.testing.assert_array_equal(read_image(tmp_path / "d.png").array, expected)
    assert read_image(tmp_path / "c.png").array.shape == (1, 2)


def test_text_renamed_png_is_a_data_error(tmp_path):
    path = write_bytes(tmp_path / "notes.png", b"just some text\n")

    with pytest.raises(DataError, match="as an image") as error:
        read_image(path)
    assert_names_file(error, path)


# --- dispatch ---------------------------------------------------------------------------------


def test_medical_suffix_handles_gzipped_nifti_and_case():
    assert medical_suffix("a/case.NII.GZ") == ".nii.gz"
    assert medical_suffix("scan.Dcm") == ".dcm"
    assert medical_suffix("IM0001") == ""
    assert medical_suffix("archive.tar.gz") == ".gz"
    assert {".nii.gz", ".nii", ".dcm", ".png", ".jpg"} <= MEDICAL_EXTENSIONS
    assert all(s == s.lower() for s in MEDICAL_EXTENSIONS)


def test_read_medical_file_dispatches_by_suffix_and_by_dicom_marker(tmp_path):
    ct = write_ct(tmp_path / "ct.dcm")
    no_suffix = write_bytes(tmp_path / "IM0001", ct.read_bytes())
    nifti = write_nifti_file(tmp_path / "V.NII.GZ", np.ones((2, 3, 4), np.float32))
    Image.fromarray(np.zeros((3, 2), np.uint8)).save(tmp_path / "x.jpg")

    assert read_medical_file(no_suffix).kind == "dicom"
    np.testing.assert_array_equal(read_medical_file(no_suffix).array, read_medical_file(ct).array)
    assert read_medical_file(nifti).array.shape == (2, 3, 4)
    assert read_medical_file(tmp_path / "x.jpg").kind == "image"


def test_read_medical_file_lists_the_formats_for_an_unknown_file(tmp_path):
    path = write_bytes(tmp_path / "data.bin", b"\x00\x01" * 100)

    with pytest.raises(DataError, match=r"NIfTI \(\.nii, \.nii\.gz\)") as error:
        read_medical_file(path)
    assert_names_file(error, path)


# --- MedMNIST ---------------------------------------------------------------------------------


def write_medmnist(path: Path, image_shape=(4, 4), sizes=(5, 2, 3), label_columns: int = 1, **extra) -> Path:
    rng = np.random.default_rng(2)
    arrays = {}
    for split, size in zip(("train", "val", "test"), sizes, strict=True):
        arrays[f"{split}_images"] = rng.integers(0, 256, (size, *image_shape)).astype(np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 3, (size, label_columns)).astype(np.uint8)
    arrays.update(extra)
    np.savez_compressed(path, **arrays)
    return path


def test_medmnist_train_is_train_plus_val_and_labels_are_flat_int64(tmp_path):
    path = write_medmnist(tmp_path / "organmnist.npz")
    with np.load(path) as stored:
        expected = {key: stored[key] for key in stored.files}

    images, labels = read_medmnist(path, "train")

    np.testing.assert_array_equal(images, np.concatenate([expected["train_images"], expected["val_images"]]))
    assert labels.dtype == np.int64 and labels.shape == (7,)
    np.testing.assert_array_equal(
        labels, np.concatenate([expected["train_labels"], expected["val_labels"]])[:, 0]
    )
    for split, key in (("test", "test"), ("val", "val"), ("train_only", "train")):
        images, labels = read_medmnist(path, split)
        np.testing.assert_array_equal(images, expected[f"{key}_images"])
        np.testing.assert_array_equal(labels, expected[f"{key}_labels"][:, 0])


def test_medmnist_3d_and_colour_arrays_are_kept_as_stored(tmp_path):
    volumes, _ = read_medmnist(write_medmnist(tmp_path / "v.npz", image_shape=(3, 4, 4)), "test")
    colour, _ = read_medmnist(write_medmnist(tmp_path / "c.npz", image_shape=(4, 4, 3)), "test")

    assert volumes.shape == (3, 3, 4, 4) and volumes.dtype == np.uint8
    assert colour.shape == (3, 4, 4, 3)


def test_medmnist_errors_say_what_is_wrong(tmp_path):
    multi = write_medmnist(tmp_path / "chestmnist.npz", label_columns=14)
    with pytest.raises(DataError, match="multi-label MedMNIST sets are not supported") as error:
        read_medmnist(multi, "train")
    assert_names_file(error, multi)

    partial = tmp_path / "partial.npz"
    np.savez(partial, train_images=np.zeros((1, 2, 2), np.uint8), train_labels=np.zeros((1, 1), np.uint8))
    with pytest.raises(DataError, match="it holds: train_images, train_labels"):
        read_medmnist(partial, "test")

    garbage = write_bytes(tmp_path / "garbage.npz", b"PK\x03\x04 broken zip")
    with pytest.raises(DataError, match="MedMNIST") as error:
        read_medmnist(garbage, "test")
    assert_names_file(error, garbage)

    with pytest.raises(InvalidArgumentError, match="Received: split='everything'"):
        read_medmnist(partial, "everything")


def test_monochrome1_with_a_modality_lut_inverts_over_the_lut_output_range(tmp_path):
    lut = Dataset()
    lut.add_new("LUTDescriptor", "US", [4, 0, 16])  # 4 entries, first stored value 0, 16 bits
    lut.add_new("LUTData", "US", [100, 50, 300, 200])
    lut.ModalityLUTType = "US"
    stored = np.array([[0, 1], [2, 3]], np.uint8)
    path = write_dicom(tmp_path / "lut.dcm", stored, photometric="MONOCHROME1", ModalityLUTSequence=[lut])

    image = read_dicom(path)

    # Stored values past the LUT's 4 entries map to its last one: the outputs span 50..300.
    np.testing.assert_array_equal(image.array, 50 + 300 - np.array([[100, 50], [300, 200]]))
