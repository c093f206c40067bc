"""Reading and writing single medical image files: DICOM, NIfTI, PNG/JPEG/BMP/TIFF and MedMNIST `.npz`.

Every reader returns a `MedicalImage`: a float32 array in physical units (Hounsfield units for a CT
DICOM with a rescale, raw grey values for a PNG) with the geometry that came with it::

    image = read_medical_file("scan.dcm")
    image.array.shape, image.spacing, image.window
    ((512, 512), (0.7, 0.7), (40.0, 400.0))

Arrays have no channel axis for single-channel data: 2D `[H, W]`, 3D `[D, H, W]`. NIfTI arrays keep
nibabel's voxel order (i, j, k) exactly as stored, with no transposes, so that `affine` still maps
their indices to world coordinates; a 4D NIfTI `(x, y, z, c)` keeps its last axis as channels.

Parsing is left to pydicom and nibabel; this module only turns their output into one form and
every failure into a `DataError` naming the file. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import uuid
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
from nibabel.filebasedimages import ImageFileError
from PIL import Image
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut

from tfapps.apps.errors import DataError, InvalidArgumentError

__all__ = [
    "DICOM_EXTENSIONS",
    "IMAGE_FILE_EXTENSIONS",
    "MEDICAL_EXTENSIONS",
    "MEDMNIST_SPLITS",
    "NIFTI_EXTENSIONS",
    "MedicalImage",
    "has_dicom_magic",
    "medical_suffix",
    "read_dicom",
    "read_image",
    "read_medical_file",
    "read_medmnist",
    "read_nifti",
    "read_nifti_header",
    "write_nifti",
]

DICOM_EXTENSIONS = frozenset({".dcm", ".dicom"})
NIFTI_EXTENSIONS = frozenset({".nii", ".nii.gz"})
IMAGE_FILE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
MEDICAL_EXTENSIONS = DICOM_EXTENSIONS | NIFTI_EXTENSIONS | IMAGE_FILE_EXTENSIONS
MEDMNIST_SPLITS = ("train", "train_only", "val", "test")

_SUPPORTED = (
    "DICOM (.dcm, .dicom, or no suffix with the 'DICM' marker at byte 128), NIfTI (.nii, .nii.gz), "
    "PNG/JPEG/BMP/TIFF images"
)
# ITU-R BT.601 luma weights (as Pillow's "L" conversion uses) for colour DICOMs.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# pydicom reports a broken file through whichever error its parser or pixel decoder hits first.
_DICOM_ERRORS = (
    InvalidDicomError,
    OSError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
    RuntimeError,  # includes NotImplementedError: compressed data whose decoder plugin is missing
    struct.error,
)
# nibabel: unknown/broken headers (ImageFileError), gzip and zlib damage, data shorter than the header says.
_NIFTI_ERRORS = (ImageFileError, OSError, EOFError, ValueError, zlib.error, struct.error)
# PIL reports a broken or unknown file with any of these, depending on the plugin.
_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
# numpy: not a zip or .npy (ValueError, as pickles are refused), damaged zip members (BadZipFile, zlib).
_NPZ_ERRORS = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error)


@dataclasses.dataclass(frozen=True, eq=False)
class MedicalImage:
    """One medical image or volume as float32 in physical units, with its geometry.

    Compares by identity: `array` and `affine` are arrays.

    Attributes:
        array: float32, no channel axis for single-channel data: 2D `[H, W]`, 3D `[D, H, W]`
            (NIfTI: nibabel's voxel order i, j, k as stored, not transposed); a 4D NIfTI
            `(x, y, z, c)` keeps its last axis as channels: `[D, H, W, C]`.
        affine: the 4x4 float64 voxel-to-world matrix of a NIfTI file; None for other formats.
        spacing: voxel or pixel size per spatial axis, in the order of `array`'s axes (NIfTI zooms;
            DICOM `[slice spacing,] row spacing, column spacing`; 1.0s for PNG/JPEG).
        window: `(center, width)` from a DICOM's WindowCenter/WindowWidth (the first value when
            several are given), else None.
        kind: "dicom", "nifti" or "image".
    """

    array: np.ndarray
    affine: np.ndarray | None
    spacing: tuple[float, ...]
    window: tuple[float, float] | None
    kind: str

    @property
    def spatial_dims(self) -> int:
        """2 or 3: the array's axes without the channel axis of a 4D NIfTI."""
        return min(self.array.ndim, 3)


# ------------------------------------------------------------------------------------ suffixes


def medical_suffix(path: str | Path) -> str:
    """The file's lower-case suffix, `.nii.gz` for gzipped NIfTI (where `Path.suffix` gives `.gz`).

    Example:
        >>> medical_suffix("case_001.NII.GZ"), medical_suffix("a/b.DCM"), medical_suffix("IM0001")
        ('.nii.gz', '.dcm', '')
    """
    name = Path(path).name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def has_dicom_magic(path: str | Path) -> bool:
    """Whether the file holds DICOM's 'DICM' marker at byte 128 (a Part 10 file); never raises."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


# ----------------------------------------------------------------------------------------- DICOM


def read_dicom(path: str | Path) -> MedicalImage:
    """Read a DICOM file's pixels in physical units.

    The Modality LUT (RescaleSlope/RescaleIntercept, or a Modality LUT Sequence) is applied with
    pydicom's `apply_modality_lut`, so a CT gives Hounsfield units; signed and unsigned stored
    values are both handled by pydicom. A multi-frame file gives `[frames, H, W]`.

    MONOCHROME1 (larger stored value = darker, common for X-ray) is inverted so that, as for
    MONOCHROME2, larger = brighter: `value' = lo + hi - value`, where `lo`/`hi` are the smallest and
    largest Modality LUT outputs over every value the stored bits can hold (BitsStored,
    PixelRepresentation). That maps the possible range onto itself, so the result stays in the same
    units and range rather than depending on the values a given image happens to hold.

    Colour DICOMs (RGB; YBR, which pydicom converts to RGB; PALETTE COLOR, through its palette)
    are converted to grey with ITU-R BT.601 luma, `0.299 R + 0.587 G + 0.114 B`, with no Modality
    LUT (it is defined for monochrome data only).

    Args:
        path: a DICOM Part 10 file (with the 128-byte preamble and 'DICM' marker).

    Returns:
        A `MedicalImage` of kind "dicom": float32 `[H, W]` or `[frames, H, W]`, spacing from
        PixelSpacing (or ImagerPixelSpacing; 1.0 when absent), with SpacingBetweenSlices or
        SliceThickness first for multi-frame files, and the window from WindowCenter/WindowWidth.

    Raises:
        DataError: the file cannot be read, is not DICOM, has no pixel data, or holds compressed
            pixel data whose decoder plugin (pylibjpeg, gdcm, ...) is not installed.
    """
    path = Path(path)
    try:
        dataset = pydicom.dcmread(path)
    except _DICOM_ERRORS as error:
        reason = (
            "not a DICOM Part 10 file (no 'DICM' marker at byte 128)"
            if isinstance(error, InvalidDicomError)
            else _describe(error)
        )
        raise _unreadable(path, "a DICOM file", reason) from error
    if (
        "PixelData" not in dataset
        and "FloatPixelData" not in dataset
        and "DoubleFloatPixelData" not in dataset
    ):
        raise _unreadable(
            path, "a DICOM image", "it has no pixel data (e.g. a DICOMDIR, report or presentation state)"
        )
    try:
        array = _dicom_values(dataset)
    except _DICOM_ERRORS as error:
        raise _unreadable(
            path, "a DICOM image", f"its pixel data cannot be decoded: {_describe(error)}"
        ) from error
    return MedicalImage(
        array=array,
        affine=None,
        spacing=_dicom_spacing(dataset, array.ndim),
        window=_dicom_window(dataset),
        kind="dicom",
    )


def _dicom_values(dataset: pydicom.Dataset) -> np.ndarray:
    pixels = dataset.pixel_array
    photometric = str(dataset.get("PhotometricInterpretation", "")).upper()
    if photometric == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, dataset)  # palette indices to RGB, then luma below
    if int(dataset.get("SamplesPerPixel", 1)) > 1 or photometric == "PALETTE COLOR":
        return (pixels[..., :3].astype(np.float32) @ _LUMA).astype(np.float32)
    values = np.asarray(apply_modality_lut(pixels, dataset), dtype=np.float32)
    if photometric == "MONOCHROME1":
        lo, hi = _modality_range(dataset)
        values = np.float32(lo + hi) - values
    return values


def _modality_range(dataset: pydicom.Dataset) -> tuple[float, float]:
    """The smallest and largest Modality LUT outputs over the stored values' possible range."""
    bits = int(dataset.get("BitsStored") or dataset.get("BitsAllocated") or 16)
    if int(dataset.get("PixelRepresentation", 0)) == 1:
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        low, high = 0, 2**bits - 1
    # A linear rescale reaches its extremes at the ends; a LUT table need not be monotonic.
    stored = np.arange(low, high + 1) if "ModalityLUTSequence" in dataset else np.array([low, high])
    outputs = np.asarray(apply_modality_lut(stored, dataset), dtype=np.float64)
    return float(outputs.min()), float(outputs.max())


def _dicom_spacing(dataset: pydicom.Dataset, ndim: int) -> tuple[float, ...]:
    source = dataset
    if _first_present(dataset, ("PixelSpacing", "ImagerPixelSpacing")) is None:
        # Enhanced multi-frame files keep their spacing in the shared functional groups.
        groups = dataset.get("SharedFunctionalGroupsSequence")
        measures = groups[0].get("PixelMeasuresSequence") if groups else None
        source = measures[0] if measures else dataset
    spacing = _pair(_first_present(source, ("PixelSpacing", "ImagerPixelSpacing")))
    if ndim == 3:
        return (_positive(_first_present(source, ("SpacingBetweenSlices", "SliceThickness")), 0), *spacing)
    return spacing


def _dicom_window(dataset: pydicom.Dataset) -> tuple[float, float] | None:
    center, width = dataset.get("WindowCenter"), dataset.get("WindowWidth")
    if center is None or width is None:
        return None
    try:
        return float(_first_value(center)), float(_first_value(width))
    except (TypeError, ValueError, IndexError):
        return None  # a malformed window is a display hint lost, not an unreadable image


def _first_present(dataset: Any, keywords: Sequence[str]) -> Any:
    return next((dataset.get(k) for k in keywords if dataset.get(k) not in (None, "")), None)


def _first_value(value: Any) -> Any:
    return value[0] if isinstance(value, Sequence) and not isinstance(value, str) else value


def _pair(value: Any) -> tuple[float, float]:
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) >= 2:
        return _positive(value, 0), _positive(value, 1)
    return 1.0, 1.0


def _positive(value: Any, index: int) -> float:
    try:
        number = float(value[index] if isinstance(value, Sequence) and not isinstance(value, str) else value)
    except (TypeError, ValueError, IndexError):
        return 1.0
    return number if np.isfinite(number) and number > 0 else 1.0


# ----------------------------------------------------------------------------------------- NIfTI


def read_nifti(path: str | Path) -> MedicalImage:
    """Read a NIfTI file (.nii or .nii.gz) with nibabel, scaled to float32.

    Args:
        path: the NIfTI file.

    Returns:
        A `MedicalImage` of kind "nifti": `array` is `get_fdata(dtype=np.float32)` in nibabel's
        voxel order (scl_slope/scl_inter applied), `[D, H, W]` for 3D or `[D, H, W, C]` for a 4D
        file (singleton axes past the fourth, as in `(x, y, z, 1, c)` vector images, are dropped);
        `affine` the 4x4 voxel-to-world matrix; `spacing` the header zooms of the spatial axes.

    Raises:
        DataError: the file cannot be read (not NIfTI, corrupt, truncated) or has more than four
            non-singleton axes.
    """
    path = Path(path)
    image = _load_nifti_header(path)
    try:
        array = np.asarray(image.get_fdata(dtype=np.float32))
    except (*_NIFTI_ERRORS, MemoryError) as error:
        raise _unreadable(path, "a NIfTI file", f"its data cannot be read: {_describe(error)}") from error
    if array.ndim > 4:
        array = array.reshape(array.shape[:3] + tuple(n for n in array.shape[3:] if n != 1))
    if array.ndim > 4 or array.ndim < 2:
        raise _unreadable(
            path, "a 2D, 3D or 4D (x, y, z, channels) NIfTI image", f"its data has shape {array.shape}"
        )
    zooms = image.header.get_zooms()[: min(array.ndim, 3)]
    return MedicalImage(
        array=array,
        affine=np.array(image.affine, dtype=np.float64),
        spacing=tuple(float(z) for z in zooms),
        window=None,
        kind="nifti",
    )


def read_nifti_header(path: str | Path) -> tuple[tuple[int, ...], np.ndarray]:
    """The data shape and 4x4 affine of a NIfTI file, from its header alone (no voxels decompressed).

    A cheap check that a file opens; a file whose data is truncated still passes (`read_nifti`
    reports it).

    Raises:
        DataError: the file is missing, not NIfTI, or its header is corrupt.
    """
    image = _load_nifti_header(Path(path))
    return tuple(int(n) for n in image.shape), np.array(image.affine, dtype=np.float64)


def _load_nifti_header(path: Path) -> Any:
    """nibabel's image object (header read, data not yet), or DataError."""
    try:
        return nib.load(path)
    except (*_NIFTI_ERRORS, FileNotFoundError) as error:
        raise _unreadable(path, "a NIfTI file", _describe(error)) from error


def write_nifti(path: str | Path, array: np.ndarray, affine: np.ndarray, dtype: Any = np.uint8) -> Path:
    """Write an array as NIfTI (`.nii`, or gzipped for `.nii.gz`) with the given affine.

    Pass the affine of the image a mask was predicted from, and the mask opens aligned with it in a
    viewer: it is written as both the sform and the qform. The file is written to a temporary name
    in the same folder and then renamed over `path`, so a failure never leaves half a file.

    Args:
        path: the file to write; its suffix must be `.nii` or `.nii.gz`. Parent folders are created.
        array: the voxels, in the voxel order `affine` refers to (as `read_nifti` returns them).
        affine: the 4x4 voxel-to-world matrix.
        dtype: the on-disk data type. For integer types (the default uint8 suits class-id masks)
            the values must be whole numbers in the type's range.

    Returns:
        The path written.

    Raises:
        InvalidArgumentError: another suffix, an affine that is not a finite 4x4 matrix, an array
            with fewer than 2 axes, or values an integer `dtype` cannot hold exactly.
        DataError: the file cannot be written.

    Example:
        >>> image = read_nifti("case.nii.gz")
        >>> write_nifti("out/case_mask.nii.gz", mask, image.affine)
        PosixPath('out/case_mask.nii.gz')
    """
    path = Path(path)
    suffix = medical_suffix(path)
    if suffix not in NIFTI_EXTENSIONS:
        raise InvalidArgumentError(
            f"A NIfTI file name must end with .nii or .nii.gz. Received: path='{path}'"
        )
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise InvalidArgumentError(
            f"affine must be a finite 4x4 voxel-to-world matrix. Received: affine shape={matrix.shape}"
        )
    data = _checked_voxels(np.asarray(array), np.dtype(dtype))
    image = nib.Nifti1Image(data, matrix)
    image.set_data_dtype(data.dtype)
    # Viewers differ in which of the two they use; the same matrix in both aligns everywhere.
    image.set_sform(matrix, code="scanner")
    image.set_qform(matrix, code="scanner")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(
            f"Cannot create the folder for {path.name}: {_describe(error)}. Received: path='{path}'"
        ) from error
    # nibabel picks gzip from the name, so the temporary name keeps the suffix; a fresh name (not
    # mkstemp) lets the file get the usual permissions.
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp{suffix}"
    try:
        nib.save(image, temporary)
        os.replace(temporary, path)
    except (OSError, ValueError, ImageFileError) as error:
        temporary.unlink(missing_ok=True)
        raise DataError(
            f"Cannot write the NIfTI file {path.name}: {_describe(error)}. Received: path='{path}'"
        ) from error
    return path


def _checked_voxels(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if array.ndim < 2:
        raise InvalidArgumentError(
            f"A NIfTI image needs at least 2 axes. Received: array shape={array.shape}"
        )
    if array.dtype == bool or not np.issubdtype(dtype, np.integer):
        return array.astype(dtype)
    values = array.astype(np.float64) if not np.issubdtype(array.dtype, np.integer) else array
    if values.size and not np.isfinite(values).all():
        raise InvalidArgumentError(
            f"An integer NIfTI ({dtype}) cannot hold NaN or infinite values. Received: dtype={dtype}"
        )
    if values.size and not np.issubdtype(values.dtype, np.integer) and not (values == np.rint(values)).all():
        raise InvalidArgumentError(
            f"An integer NIfTI ({dtype}) cannot hold fractions; pass dtype=np.float32 to keep them. "
            f"Received: dtype={dtype}, array dtype={array.dtype}"
        )
    info = np.iinfo(dtype)
    low, high = (values.min(), values.max()) if values.size else (0, 0)
    if low < info.min or high > info.max:
        raise InvalidArgumentError(
            f"Values {low}..{high} do not fit {dtype} ({info.min}..{info.max}); pass a wider dtype. "
            f"Received: dtype={dtype}"
        )
    return array.astype(dtype)


# ---------------------------------------------------------------------------------------- images


def read_image(path: str | Path) -> MedicalImage:
    """Read a PNG, JPEG, BMP or TIFF image as grey values through Pillow.

    8-bit ("L") and 16-bit ("I;16", "I;16B", "I") greyscale keep their raw values at full
    precision (0..255, 0..65535) as float32; "F" images are kept as they are. Colour and other
    modes (RGB, RGBA, palette, ...) are converted to grey with Pillow's "L" conversion (ITU-R
    601-2 luma, alpha dropped). Multi-page TIFFs give their first page.

    Args:
        path: the image file.

    Returns:
        A `MedicalImage` of kind "image": float32 `[H, W]`, spacing `(1.0, 1.0)`, no window.

    Raises:
        DataError: the file cannot be opened or decoded (not an image, truncated, too large).
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode not in ("L", "I", "F") and not image.mode.startswith("I;16"):
                image = image.convert("L")
            array = np.asarray(image).astype(np.float32)
    except _IMAGE_ERRORS as error:
        raise _unreadable(path, "an image (PNG, JPEG, BMP, TIFF)", _describe(error)) from error
    return MedicalImage(array=array, affine=None, spacing=(1.0, 1.0), window=None, kind="image")


# -------------------------------------------------------------------------------------- dispatch


def read_medical_file(path: str | Path) -> MedicalImage:
    """Read any supported medical image file, chosen by suffix, else by content.

    `.dcm`/`.dicom` are read as DICOM, `.nii`/`.nii.gz` as NIfTI, PNG/JPEG/BMP/TIFF suffixes as
    images; a file with another or no suffix (DICOM series are often `IM0001`) is read as DICOM
    when it has the 'DICM' marker at byte 128.

    Args:
        path: the file.

    Returns:
        The `MedicalImage` (see `read_dicom`, `read_nifti`, `read_image`).

    Raises:
        DataError: the format is not recognised, or the file cannot be read.
    """
    path = Path(path)
    suffix = medical_suffix(path)
    if suffix in DICOM_EXTENSIONS:
        return read_dicom(path)
    if suffix in NIFTI_EXTENSIONS:
        return read_nifti(path)
    if suffix in IMAGE_FILE_EXTENSIONS:
        return read_image(path)
    if has_dicom_magic(path):
        return read_dicom(path)
    if not path.is_file():
        raise DataError(
            f"The medical image file {path.name} does not exist or is not a file. Received: path='{path}'"
        )
    raise DataError(
        f"Cannot tell the format of {path.name}: suffix '{suffix}' is not a medical image format and the "
        f"file has no DICOM marker. Expected {_SUPPORTED}. Received: path='{path}'"
    )


# -------------------------------------------------------------------------------------- MedMNIST


def read_medmnist(path: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one split of a MedMNIST `.npz` file.

    MedMNIST files hold uint8 `<split>_images` and `<split>_labels` `[N, 1]` for train, val and
    test. Images are returned as stored: `[N, H, W]` for 2D greyscale sets, `[N, H, W, 3]` for 2D
    colour sets (PathMNIST, DermaMNIST, ...: kept in colour, since stain or skin colour carries the
    class) and `[N, D, H, W]` for 3D sets (the `*MNIST3D` files). A 4-axis array whose last axis is
    3 is read as colour.

    Args:
        path: the `.npz` file.
        split: "train" for the train AND val arrays concatenated (MedMNIST's own val split is then
            used for training; the task holds out its validation fraction from it), "train_only"
            for the train arrays alone, "val" for the val arrays, "test" for the test arrays.

    Returns:
        `(images, labels)`: the images (uint8 as stored) and int64 labels `[N]`.

    Raises:
        InvalidArgumentError: an unknown split.
        DataError: the file cannot be read, lacks a needed key (the keys present are listed), has
            multi-label labels (more than one column: not supported), or images and labels disagree.

    Example:
        >>> images, labels = read_medmnist("adrenalmnist3d.npz", "test")
        >>> images.shape, labels.shape
        ((298, 28, 28, 28), (298,))
    """
    path = Path(path)
    if split not in MEDMNIST_SPLITS:
        raise InvalidArgumentError(
            f"Unknown MedMNIST split. Expected one of {', '.join(MEDMNIST_SPLITS)}. Received: split={split!r}"
        )
    parts = {"train": ("train", "val"), "train_only": ("train",), "val": ("val",), "test": ("test",)}[split]
    needed = [f"{part}_{what}" for part in parts for what in ("images", "labels")]
    arrays, keys = _npz_arrays(path, needed)
    missing = [key for key in needed if key not in arrays]
    if missing:
        raise DataError(
            f"The MedMNIST file {path.name} lacks {', '.join(missing)} for split '{split}'; it holds: "
            f"{', '.join(keys) or 'nothing'}. Expected the keys train_images, train_labels, val_images, "
            f"val_labels, test_images, test_labels. Received: path='{path}', split='{split}'"
        )
    pairs = [(arrays[f"{part}_images"], arrays[f"{part}_labels"]) for part in parts]
    checked = [
        _medmnist_part(path, part, images, labels)
        for part, (images, labels) in zip(parts, pairs, strict=True)
    ]
    shapes = {images.shape[1:] for images, _ in checked}
    if len(shapes) > 1:
        raise DataError(
            f"The MedMNIST file {path.name} has {', '.join(parts)} images of different shapes "
            f"({', '.join(str(s) for s in sorted(shapes))}). Expected one image shape. "
            f"Received: path='{path}', split='{split}'"
        )
    if len(checked) == 1:
        return checked[0]
    return np.concatenate([i for i, _ in checked]), np.concatenate([lab for _, lab in checked])


def _npz_arrays(path: Path, needed: Sequence[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    """The `needed` arrays the archive holds, and all its keys."""
    try:
        # Our own handle: np.load leaks the one it opens when the zip turns out broken.
        with open(path, "rb") as handle:
            archive = np.load(handle, allow_pickle=False)
            if isinstance(archive, np.lib.npyio.NpzFile):
                with archive:
                    keys = sorted(archive.files)
                    return {key: archive[key] for key in needed if key in keys}, keys
    except _NPZ_ERRORS as error:
        raise _unreadable(path, "a MedMNIST .npz file", _describe(error)) from error
    raise _unreadable(path, "a MedMNIST .npz file", "it is a single .npy array, not an .npz archive")


def _medmnist_part(
    path: Path, part: str, images: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    if labels.ndim == 2 and labels.shape[1] > 1:
        raise DataError(
            f"The MedMNIST file {path.name} is multi-label ({part}_labels has {labels.shape[1]} columns, as "
            f"ChestMNIST's): multi-label MedMNIST sets are not supported. Expected one class id per image, "
            f"labels [N, 1]. Received: path='{path}', {part}_labels shape={labels.shape}"
        )
    if labels.ndim > 2 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"The MedMNIST file {path.name} has {part}_labels of shape {labels.shape} and dtype "
            f"{labels.dtype}. "
            f"Expected integer class ids [N, 1]. Received: path='{path}'"
        )
    if images.ndim not in (3, 4) or images.shape[0] != labels.shape[0]:
        raise DataError(
            f"The MedMNIST file {path.name} has {part}_images of shape {images.shape} for "
            f"{labels.shape[0]} labels. Expected [N, H, W], [N, H, W, 3] or [N, D, H, W] with one label per "
            f"image. Received: path='{path}'"
        )
    return images, labels.reshape(-1).astype(np.int64)


# ---------------------------------------------------------------------------------------- errors


def _unreadable(path: Path, expected: str, reason: str) -> DataError:
    return DataError(f"Cannot read {path.name} as {expected}: {reason}. Received: path='{path}'")


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
