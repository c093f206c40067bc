"""A generated medical classification set: CT-like DICOM slices with or without a bright lesion."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["CLASSES", "write_dicom_slice", "write_synthetic_scans"]

CLASSES = ("lesion", "normal")


def write_dicom_slice(
    path: Path,
    hounsfield: np.ndarray,
    intercept: float = -1024.0,
    slope: float = 1.0,
    window: tuple[float, float] | None = (40.0, 400.0),
    photometric: str = "MONOCHROME2",
) -> Path:
    """Write a CT slice as a DICOM file: stored unsigned 16-bit values `(HU - intercept) / slope`."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    stored = np.clip(np.round((hounsfield - intercept) / slope), 0, 65535).astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleIntercept, ds.RescaleSlope = intercept, slope
    ds.PixelSpacing = [0.8, 0.8]
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = stored.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), enforce_file_format=True)
    return path


def _slice(rng: np.random.Generator, size: int, lesion: bool) -> np.ndarray:
    """Air around a soft-tissue ellipse (~40 HU) with noise; a ~180 HU blob when `lesion`."""
    y, x = np.mgrid[:size, :size] / (size - 1) * 2 - 1
    image = np.full((size, size), -1000.0)
    body = (x / 0.85) ** 2 + (y / 0.7) ** 2 < 1
    image[body] = 40.0
    if lesion:
        cy, cx = rng.uniform(-0.35, 0.35, size=2)
        radius = rng.uniform(0.12, 0.22)
        image[(x - cx) ** 2 + (y - cy) ** 2 < radius**2] = 180.0
    return image + rng.normal(0, 15, size=image.shape)


def write_synthetic_scans(root: Path, per_class: int = 16, size: int = 32, seed: int = 0) -> Path:
    """Write `<root>/<class>/NNN.dcm` for the classes `lesion` and `normal`; return `root`."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for name in CLASSES:
        for i in range(per_class):
            write_dicom_slice(root / name / f"{i:03d}.dcm", _slice(rng, size, name == "lesion"))
    return root
