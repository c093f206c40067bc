"""Reading medical datasets: classification examples (class folders, MedMNIST `.npz`, CSV) and
segmentation volumes (Medical Segmentation Decathlon folders, CSV), checked before training.

Each reader returns records (paths and labels, or rows of an in-memory array) and a
`MedicalDataReport`. Odd files never stop a read: they are dropped and counted, with up to
`MAX_EXAMPLES` examples, in the report; only a dataset with nothing usable at all is an error::

    data = read_classification_dataset("mednist", split="train")
    print(data.report.summary())
    image = load_example(data, data.records[0])  # float32 [H, W] or [D, H, W]

Classification layouts (`read_classification_dataset`, detected automatically):

- "folders": one sub-folder per class holding DICOM, PNG/JPEG/BMP/TIFF or NIfTI files (searched
  recursively: a DICOM series often sits in its own folder). A split layout (`train/`, `val/`,
  `test/`, as `pipelines.reader.find_split` understands) is read from its `split` sub-folder.
  Every file is opened once as a check; NIfTI files by header only (a volume takes far longer to
  decompress than a header, and load errors still name the file later). Hidden files, README and
  licence-style text files and JSON sidecars are ignored without a report.
- "medmnist": a MedMNIST `.npz` (`read_medmnist`): "train" is MedMNIST's train + val arrays.
- "csv": a CSV with an `image,label` header, paths relative to the CSV's folder; an optional
  `split` column selects rows (without it every row is used).

Segmentation layouts (`read_segmentation_volumes`):

- "msd": the Medical Segmentation Decathlon's `imagesTr/` + `labelsTr/` (same file names, images
  possibly 4D with modalities last), `imagesTs/` + `labelsTs/` for "test" and `imagesVal/` +
  `labelsVal/` for "val", with an optional `dataset.json` for label and modality names. nnU-Net's
  one-file-per-channel naming (`case_0000.nii.gz`, `case_0001.nii.gz` for label `case.nii.gz`) is
  read too. macOS `._*` files, which the MSD tarballs contain, are ignored.
- "csv": `image,label` or `image_0,...,image_k,label` columns (one file per channel), optional
  `case_id` and `split` columns.

Volumes are checked from their headers only (shapes and affines; no voxels are decompressed), so
label values are not checked here: `load_case` rounds them to integers when it reads a case.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from tfapps.apps.errors import DataError, InvalidArgumentError, NotFoundError
from tfapps.pipelines.dataset_files import (
    IssueTally,
    checked_class_names,
    count_noun,
    describe_path,
    issue_lines,
)
from tfapps.pipelines.medical_io import (
    MEDICAL_EXTENSIONS,
    NIFTI_EXTENSIONS,
    has_dicom_magic,
    medical_suffix,
    read_medical_file,
    read_medmnist,
    read_nifti,
    read_nifti_header,
)
from tfapps.pipelines.reader import SPLIT_NAMES, find_split

__all__ = [
    "CLASSIFICATION_LAYOUTS",
    "MAX_EXAMPLES",
    "VOLUME_LAYOUTS",
    "MedicalClassificationDataset",
    "MedicalDataReport",
    "MedicalRecord",
    "VolumeDataset",
    "VolumeRecord",
    "load_case",
    "load_example",
    "read_classification_dataset",
    "read_segmentation_volumes",
]

logger = logging.getLogger(__name__)

CLASSIFICATION_LAYOUTS = ("folders", "medmnist", "csv")
VOLUME_LAYOUTS = ("msd", "csv")
MAX_EXAMPLES = 5

_CLASSIFICATION_HINT = (
    "a folder with one sub-folder per class of DICOM/PNG/JPEG/NIfTI files (optionally inside train/, val/, "
    "test/), a MedMNIST .npz file, or a CSV file with an 'image,label' header"
)
_VOLUME_HINT = (
    "a Medical Segmentation Decathlon folder (imagesTr/ + labelsTr/ of NIfTI files with the same names, "
    "optionally inside train/, val/, test/), or a CSV file with 'image,label' or "
    "'image_0,...,image_k,label' columns"
)
# MSD folder pairs per split, in the order they are tried.
_MSD_FOLDERS = {
    "train": (("imagesTr", "labelsTr"),),
    "val": (("imagesVal", "labelsVal"),),
    "test": (("imagesTs", "labelsTs"),),
}
# Files that sit beside data without being data: read-me and licence texts, checksums, DICOMDIR
# indexes, JSON sidecars (BIDS, dcm2niix). Ignored without a report.
_SIDE_FILE_NAMES = frozenset(
    {
        "readme",
        "license",
        "licence",
        "copying",
        "notice",
        "authors",
        "changelog",
        "md5sums",
        "sha1sums",
        "sha256sums",
        "checksums",
        "dicomdir",
        "thumbs",
        "desktop",
    }
)
_SIDE_FILE_SUFFIXES = frozenset({".txt", ".md", ".rst", ".html", ".pdf", ".json", ".db", ".ini"})
_NNUNET_CHANNEL = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")
_IMAGE_COLUMN = re.compile(r"^image_(\d+)$")
# Opening files is file-system and decoder bound (PIL, zlib release the GIL): threads hide latency.
_READ_THREADS = 8
# Image and label affines written by different tools differ in float rounding only.
_AFFINE_TOLERANCE = 1e-3

# (report field, what it counts), in the order `summary()` lists them.
_ISSUES = (
    ("missing_files", "files named by a CSV row that do not exist (dropped)"),
    ("unreadable_files", "files that cannot be read (dropped)"),
    ("unsupported_files", "files that are not medical images of a supported kind (dropped)"),
    ("multi_channel_files", "multi-channel files where single-channel images are expected (dropped)"),
    ("skipped_folders", "class folders not in class_names (skipped)"),
    ("empty_classes", "classes without a usable file (kept, no examples)"),
    ("bad_rows", "CSV rows with an empty image or label cell (dropped)"),
    ("unknown_labels", "labels that are not a class (dropped)"),
    ("images_without_labels", "images without a label file (skipped)"),
    ("labels_without_images", "label files without an image (skipped)"),
    ("duplicate_cases", "cases with the id of an earlier case (dropped)"),
    ("channel_count_mismatches", "cases whose number of channels differs from most cases' (dropped)"),
    ("channel_shape_mismatches", "cases whose channel files differ in shape (dropped)"),
    ("label_shape_mismatches", "cases whose label shape differs from the image's (dropped)"),
    ("affine_mismatches", "cases whose label affine differs from the image's (kept)"),
    ("unreadable_metadata", "dataset.json files that cannot be read (ignored)"),
)


# --------------------------------------------------------------------------------- public types


@dataclasses.dataclass(frozen=True)
class MedicalRecord:
    """One classification example.

    Attributes:
        path: the image file ("" for an in-memory MedMNIST row).
        label: the class id.
        index: the row in `MedicalClassificationDataset.arrays` for MedMNIST, else -1.
    """

    path: str
    label: int
    index: int = -1


@dataclasses.dataclass(frozen=True)
class VolumeRecord:
    """One segmentation case.

    Attributes:
        case_id: the case's name (the label file's name without `.nii`/`.nii.gz` unless a CSV gives one).
        image_paths: one NIfTI path per channel, in channel order; a single 4D NIfTI is one path
            holding all channels.
        label_path: the NIfTI label map.
    """

    case_id: str
    image_paths: tuple[str, ...]
    label_path: str


@dataclasses.dataclass(frozen=True)
class MedicalDataReport:
    """What reading a medical dataset found: its size and every odd case, with examples.

    Examples start with the file's path relative to the dataset folder (or the CSV's folder).

    Attributes:
        source: the folder or file read.
        layout: "folders", "medmnist", "csv" (classification) or "msd", "csv" (segmentation).
        task: "classification" or "segmentation".
        split: the split read, or None when the data has no splits (every example was read).
        records: examples (or cases) kept.
        class_counts: examples per class name (classification; empty for segmentation).
        spatial_dims: 2 or 3.
        shape: the spatial shape every kept example shares, or None when they differ.
        channels: channels per case (segmentation), or None.
        missing_files, unreadable_files, ...: the odd-case counts listed in `issues()`.
        examples: up to `MAX_EXAMPLES` descriptions per non-zero count.
    """

    source: str
    layout: str
    task: str
    split: str | None
    records: int
    class_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    spatial_dims: int | None = None
    shape: tuple[int, ...] | None = None
    channels: int | None = None
    missing_files: int = 0
    unreadable_files: int = 0
    unsupported_files: int = 0
    multi_channel_files: int = 0
    skipped_folders: int = 0
    empty_classes: int = 0
    bad_rows: int = 0
    unknown_labels: int = 0
    images_without_labels: int = 0
    labels_without_images: int = 0
    duplicate_cases: int = 0
    channel_count_mismatches: int = 0
    channel_shape_mismatches: int = 0
    label_shape_mismatches: int = 0
    affine_mismatches: int = 0
    unreadable_metadata: int = 0
    examples: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def issues(self) -> dict[str, int]:
        """The non-zero odd-case counts by field name, in report order."""
        return {name: getattr(self, name) for name, _ in _ISSUES if getattr(self, name)}

    def summary(self) -> str:
        """A few readable lines: totals, examples per class, then each odd case with examples."""
        split = f" (split '{self.split}')" if self.split else ""
        noun = "example" if self.task == "classification" else "case"
        head = f"{self.layout} {self.task} data from {self.source}{split}: {count_noun(self.records, noun)}"
        if self.task == "classification":
            head += f", {count_noun(len(self.class_counts), 'class')}"
        if self.channels is not None:
            head += f", {count_noun(self.channels, 'channel')}"
        if self.spatial_dims is not None:
            head += f", {self.spatial_dims}D"
        if self.shape is not None:
            head += f", shape {'x'.join(map(str, self.shape))}"
        lines = [head + "."]
        if self.class_counts:
            lines.append(
                "Examples per class: " + ", ".join(f"{n} {c}" for n, c in self.class_counts.items()) + "."
            )
        lines += issue_lines(self.issues(), _ISSUES, self.examples)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy: plain dicts, lists, strings and numbers."""
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        data["class_counts"] = dict(self.class_counts)
        data["shape"] = None if self.shape is None else list(self.shape)
        data["examples"] = {name: list(examples) for name, examples in self.examples.items()}
        return data


@dataclasses.dataclass
class MedicalClassificationDataset:
    """A medical image-classification dataset read from disk.

    Attributes:
        records: one record per usable example (class-folder and CSV order; MedMNIST row order).
        class_names: class names, indexed by the labels.
        spatial_dims: 2 or 3.
        shape: the spatial shape all examples share, or None when they differ (resize them).
        layout: "folders", "medmnist" or "csv".
        report: the counts and examples of odd cases.
        arrays: the MedMNIST images (uint8, as stored), indexed by `MedicalRecord.index`; None for
            file layouts.
    """

    records: list[MedicalRecord]
    class_names: tuple[str, ...]
    spatial_dims: int
    shape: tuple[int, ...] | None
    layout: str
    report: MedicalDataReport
    arrays: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.records)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def labels(self) -> np.ndarray:
        """int64 `[N]` class ids of the records."""
        return np.array([record.label for record in self.records], dtype=np.int64)


@dataclasses.dataclass
class VolumeDataset:
    """A 3D segmentation dataset of NIfTI volumes read from disk.

    Attributes:
        records: one record per usable case, sorted by case id (MSD) or in CSV order.
        channels: image channels per case (modalities).
        label_names: label names indexed by label value, from an MSD `dataset.json`, else None.
        layout: "msd" or "csv".
        report: the counts and examples of odd cases.
        channel_names: channel (modality) names from `dataset.json`, else None.
    """

    records: list[VolumeRecord]
    channels: int
    label_names: tuple[str, ...] | None
    layout: str
    report: MedicalDataReport
    channel_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.records)


# ----------------------------------------------------------------------------- public functions


def read_classification_dataset(
    path: str | Path, split: str = "train", class_names: Sequence[str] | None = None
) -> MedicalClassificationDataset:
    """Read a medical image-classification dataset and check every example once.

    Args:
        path: a class-folder dataset (optionally a split layout), a MedMNIST `.npz` or a CSV file.
        split: "train", "val" or "test" (or an alias: "validation", "valid", "training", ...). It
            picks the split folder of a split layout, MedMNIST's arrays ("train" = train + val)
            and a CSV's `split` column rows; a dataset without splits is read whole for any split
            (`report.split` is then None: hold out validation data yourself).
        class_names: the class names in label order. Class folders not in it are skipped and
            reported; CSV labels may then be names or integer ids. Default: sorted folder names,
            sorted CSV labels (or `class_i` when they are all integers), `class_0 .. class_{K-1}`
            for MedMNIST.

    Returns:
        The `MedicalClassificationDataset`.

    Raises:
        NotFoundError: `path`, the split, or a folder for a given class does not exist.
        InvalidArgumentError: a bad argument, or a file that is neither `.npz` nor `.csv`.
        DataError: nothing usable at all, 2D and 3D examples mixed, a malformed CSV header, or
            MedMNIST labels beyond `class_names`.

    Example:
        >>> data = read_classification_dataset("adrenalmnist3d.npz", split="test")
        >>> len(data), data.spatial_dims, data.shape
        (298, 3, (28, 28, 28))
    """
    split = _checked_split(split)
    names = checked_class_names(class_names)
    root = _existing_path(path, "classification data", _CLASSIFICATION_HINT)
    if root.is_file():
        suffix = root.suffix.lower()
        if suffix == ".npz":
            dataset = _medmnist_dataset(root, split, names)
        elif suffix == ".csv":
            dataset = _csv_classification(root, split, names)
        else:
            raise InvalidArgumentError(
                f"The classification data path is a '{suffix}' file. Expected {_CLASSIFICATION_HINT}. "
                f"Received: path='{path}'"
            )
    else:
        folder, applied = _split_folder(root, split, "classification data", _CLASSIFICATION_HINT)
        dataset = _folder_classification(folder, applied, names)
    logger.info("%s", dataset.report.summary())
    return dataset


def load_example(dataset: MedicalClassificationDataset, record: MedicalRecord) -> np.ndarray:
    """Read one classification example as float32.

    Args:
        dataset: the dataset the record came from.
        record: a record of it.

    Returns:
        float32 `[H, W]` or `[D, H, W]` in the file's units (`read_medical_file`); MedMNIST rows are
        their uint8 values as float32 (colour MedMNIST sets give `[H, W, 3]`). A 4D NIfTI with one
        channel loses that axis.

    Raises:
        InvalidArgumentError: a MedMNIST record whose index is not a row of `dataset.arrays`, or a
            record with neither a path nor an index.
        DataError: the file cannot be read, or holds several channels.
    """
    if record.index >= 0 and dataset.arrays is not None:
        if record.index >= len(dataset.arrays):
            raise InvalidArgumentError(
                f"The record's index is not a row of the dataset's arrays ({len(dataset.arrays)} rows). "
                f"Received: index={record.index}"
            )
        return dataset.arrays[record.index].astype(np.float32)
    if not record.path:
        raise InvalidArgumentError(
            f"The record has no file path and the dataset no arrays to index. Expected a file record or a "
            f"MedMNIST record of this dataset. Received: record={record!r}"
        )
    array = read_medical_file(record.path).array
    if array.ndim == 4:
        if array.shape[-1] != 1:
            raise DataError(
                f"{Path(record.path).name} holds {array.shape[-1]} channels. Expected a single-channel image "
                f"or volume. Received: path='{record.path}', shape={array.shape}"
            )
        array = array[..., 0]
    return array


def read_segmentation_volumes(path: str | Path, split: str = "train") -> VolumeDataset:
    """Read a 3D segmentation dataset of NIfTI volumes and check every case's headers.

    Args:
        path: a Medical Segmentation Decathlon folder (or a split layout of them) or a CSV file.
        split: "train" (`imagesTr/` + `labelsTr/`), "test" (`imagesTs/` + `labelsTs/`) or "val"
            (`imagesVal/` + `labelsVal/`), or an alias; for a CSV, the `split` column's rows
            (every row without the column).

    Returns:
        The `VolumeDataset`.

    Raises:
        NotFoundError: `path`, or the split's folders, do not exist.
        InvalidArgumentError: a bad split, or a file that is not a CSV.
        DataError: no usable case at all, or a malformed CSV header.

    Example:
        >>> data = read_segmentation_volumes("Task01_BrainTumour")
        >>> data.channels, data.label_names
        (4, ('background', 'edema', 'non-enhancing tumor', 'enhancing tumour'))
    """
    split = _checked_split(split)
    root = _existing_path(path, "segmentation data", _VOLUME_HINT)
    if root.is_file():
        if root.suffix.lower() != ".csv":
            raise InvalidArgumentError(
                f"The segmentation data path is a '{root.suffix.lower()}' file. Expected {_VOLUME_HINT}. "
                f"Received: path='{path}'"
            )
        dataset = _csv_volumes(root, split)
    else:
        dataset = _msd_volumes(root, split)
    logger.info("%s", dataset.report.summary())
    return dataset


def load_case(record: VolumeRecord) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read one segmentation case fully.

    Args:
        record: the case.

    Returns:
        `(image, label, affine)`: float32 `[D, H, W, C]` (channel files stacked in order), int32
        `[D, H, W]` (values rounded: labels are often stored as float), and the first image file's
        4x4 affine. Axes are nibabel's voxel order, as stored.

    Raises:
        DataError: a file cannot be read, channel files or the label differ in spatial shape, or
            the label holds NaN or infinite values.
    """
    channels = []
    affine = None
    for image_path in record.image_paths:
        image = read_nifti(image_path)
        affine = image.affine if affine is None else affine
        channels.append(image.array if image.array.ndim == 4 else image.array[..., None])
    shapes = {channel.shape[:3] for channel in channels}
    if len(shapes) != 1 or any(channel.ndim != 4 for channel in channels):
        raise DataError(
            f"The channel files of case {record.case_id} differ in shape "
            f"({', '.join(str(c.shape) for c in channels)}). Expected 3D volumes of one shape. "
            f"Received: image_paths={list(record.image_paths)!r}"
        )
    image_array = channels[0] if len(channels) == 1 else np.concatenate(channels, axis=-1)
    label = read_nifti(record.label_path).array
    label = label.reshape(label.shape[:3] + tuple(n for n in label.shape[3:] if n != 1))
    if label.shape != image_array.shape[:3]:
        raise DataError(
            f"The label of case {record.case_id} has shape {label.shape}, its image {image_array.shape[:3]}. "
            "Expected a single-channel label of the image's spatial shape. Received: "
            f"label_path='{record.label_path}'"
        )
    if not np.isfinite(label).all():
        raise DataError(
            f"The label of case {record.case_id} holds NaN or infinite values. Expected integer label "
            f"values. Received: label_path='{record.label_path}'"
        )
    return image_array, np.rint(label).astype(np.int32), np.asarray(affine, dtype=np.float64)


# --------------------------------------------------------------------------------------- tally


class _Tally(IssueTally):
    """Counts and examples of odd cases, gathered while listing and reading files."""

    def __init__(self, root: Path):
        super().__init__(MAX_EXAMPLES)
        self.root = root

    def name(self, path: str | Path) -> str:
        """The path relative to the dataset folder, where it is inside it."""
        path = Path(path)
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)

    def report(
        self, *, layout: str, task: str, split: str | None, records: int, **fields: Any
    ) -> MedicalDataReport:
        return MedicalDataReport(
            source=str(self.root),
            layout=layout,
            task=task,
            split=split,
            records=records,
            examples={name: tuple(self.examples[name]) for name, _ in _ISSUES if self.examples[name]},
            **{name: self.counts[name] for name, _ in _ISSUES},
            **fields,
        )


# ------------------------------------------------------------------------ classification: files


class _Probe(NamedTuple):
    """A file opened as a check: its array `shape`, or the `error` that stopped it."""

    shape: tuple[int, ...] | None
    error: str


def _probe(path: Path) -> _Probe:
    """The file's array shape (NIfTI: from the header alone); never raises."""
    try:
        if medical_suffix(path) in NIFTI_EXTENSIONS:
            return _Probe(read_nifti_header(path)[0], "")
        return _Probe(read_medical_file(path).array.shape, "")
    except DataError as error:
        return _Probe(None, _reason(error))


def _checked_examples(
    candidates: Sequence[tuple[Path, int]], tally: _Tally
) -> tuple[list[MedicalRecord], dict[int, Path], set[tuple[int, ...]]]:
    """Records of the readable single-channel candidates, an example path per dimensionality, and
    the spatial shapes seen."""
    probes = _parallel(lambda candidate: _probe(candidate[0]), candidates)
    records, by_dims, shapes = [], {}, set()
    for (path, label), probe in zip(candidates, probes, strict=True):
        if probe.shape is None:
            tally.note("unreadable_files", f"{tally.name(path)}: {probe.error}")
            continue
        shape = probe.shape[:3] + tuple(n for n in probe.shape[3:] if n != 1)
        if len(shape) != 2 and len(shape) != 3:
            issue = "multi_channel_files" if len(shape) > 3 else "unsupported_files"
            tally.note(issue, f"{tally.name(path)}: shape {probe.shape}")
            continue
        by_dims.setdefault(len(shape), path)
        shapes.add(shape)
        records.append(MedicalRecord(str(path), label))
    return records, by_dims, shapes


def _file_dataset(
    records: list[MedicalRecord],
    by_dims: dict[int, Path],
    shapes: set[tuple[int, ...]],
    names: tuple[str, ...],
    *,
    layout: str,
    split: str | None,
    tally: _Tally,
    listed: str,
) -> MedicalClassificationDataset:
    """The dataset of the checked records; `listed` says what was read, for the error when none is usable."""
    if not records:
        raise _nothing_usable_error(tally, listed)
    if len(by_dims) > 1:
        raise DataError(
            f"The classification data mixes 2D and 3D images, e.g. {tally.name(by_dims[2])} (2D) and "
            f"{tally.name(by_dims[3])} (3D). Expected all 2D images or all 3D volumes. "
            f"Received: path='{tally.root}'"
        )
    counts = Counter(record.label for record in records)
    for label, name in enumerate(names):
        if not counts[label]:
            tally.note("empty_classes", name)
    spatial_dims = next(iter(by_dims))
    shape = next(iter(shapes)) if len(shapes) == 1 else None
    report = tally.report(
        layout=layout,
        task="classification",
        split=split,
        records=len(records),
        class_counts={name: counts[label] for label, name in enumerate(names)},
        spatial_dims=spatial_dims,
        shape=shape,
    )
    return MedicalClassificationDataset(records, names, spatial_dims, shape, layout, report)


def _folder_classification(
    root: Path, split: str | None, names: tuple[str, ...] | None
) -> MedicalClassificationDataset:
    class_dirs = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")}
    if not class_dirs:
        raise DataError(
            f"The classification folder has no class sub-folders; found {describe_path(root)}. "
            f"Expected {_CLASSIFICATION_HINT}. Received: path='{root}'"
        )
    tally = _Tally(root)
    if names is None:
        names = tuple(class_dirs)
    else:
        missing = [name for name in names if name not in class_dirs]
        if missing:
            raise NotFoundError(
                f"No folder for class{'es' if len(missing) > 1 else ''} {', '.join(missing)} in the "
                "classification "
                f"folder, which holds: {', '.join(class_dirs)}. Expected one sub-folder per class name. "
                f"Received: path='{root}', class_names={list(names)!r}"
            )
        for folder in class_dirs:
            if folder not in names:
                tally.note("skipped_folders", f"{folder}/")
    candidates = []
    for label, name in enumerate(names):
        for file in _walk(class_dirs[name]):
            kind = _file_kind(file)
            if kind == "image":
                candidates.append((file, label))
            elif kind == "unsupported":
                tally.note("unsupported_files", tally.name(file))
    records, by_dims, shapes = _checked_examples(candidates, tally)
    listed = f"{count_noun(len(candidates), 'file')} in the class folders"
    return _file_dataset(
        records, by_dims, shapes, names, layout="folders", split=split, tally=tally, listed=listed
    )


def _walk(folder: Path) -> list[Path]:
    """The non-hidden files under `folder`, recursively, sorted; hidden folders are not entered."""
    files = []
    for current, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files += [Path(current, name) for name in sorted(names) if not name.startswith(".")]
    return files


def _file_kind(path: Path) -> str:
    """What a file is: "image" (a supported suffix, or DICOM by content), "side" (a read-me or
    sidecar, ignored silently) or "unsupported"."""
    suffix = medical_suffix(path)
    if suffix in MEDICAL_EXTENSIONS:
        return "image"
    stem = path.name.lower().split(".")[0]
    if suffix in _SIDE_FILE_SUFFIXES or stem in _SIDE_FILE_NAMES:
        return "side"
    return "image" if has_dicom_magic(path) else "unsupported"


def _nothing_usable_error(tally: _Tally, listed: str) -> DataError:
    examples = [e for name, _ in _ISSUES for e in tally.examples.get(name, ())][:MAX_EXAMPLES]
    found = f" e.g. {'; '.join(examples)}." if examples else ""
    issues = ", ".join(f"{name} {count}" for name, count in tally.counts.items() if count)
    return DataError(
        f"No usable example in the medical data: {listed} ({issues or 'no odd case'}).{found} "
        f"Expected {_CLASSIFICATION_HINT}, holding readable medical images. Received: path='{tally.root}'"
    )


# --------------------------------------------------------------------- classification: MedMNIST


def _medmnist_dataset(path: Path, split: str, names: tuple[str, ...] | None) -> MedicalClassificationDataset:
    images, labels = read_medmnist(path, split)
    if not len(labels):
        raise DataError(
            f"The MedMNIST file {path.name} has no {split} rows. Expected at least one image. "
            f"Received: path='{path}', split='{split}'"
        )
    if labels.min() < 0:
        raise DataError(
            f"The MedMNIST file {path.name} has negative labels (smallest {labels.min()}). Expected class "
            f"ids 0, 1, ... Received: path='{path}', split='{split}'"
        )
    num_classes = int(labels.max()) + 1
    if names is None:
        names = tuple(f"class_{i}" for i in range(num_classes))
    elif len(names) < num_classes:
        raise DataError(
            f"The MedMNIST labels go up to {num_classes - 1}, but {len(names)} class names were given. "
            f"Expected at least {num_classes} names, one per label id. Received: path='{path}', "
            f"class_names={list(names)!r}"
        )
    colour = images.ndim == 4 and images.shape[-1] == 3
    spatial_dims = 2 if images.ndim == 3 or colour else 3
    shape = tuple(images.shape[1:3] if colour else images.shape[1:])
    records = [MedicalRecord("", int(label), index) for index, label in enumerate(labels.tolist())]
    counts = np.bincount(labels, minlength=len(names))
    tally = _Tally(path)
    for label, name in enumerate(names):
        if not counts[label]:
            tally.note("empty_classes", name)
    report = tally.report(
        layout="medmnist",
        task="classification",
        split=split,
        records=len(records),
        class_counts={name: int(counts[label]) for label, name in enumerate(names)},
        spatial_dims=spatial_dims,
        shape=shape,
    )
    return MedicalClassificationDataset(records, names, spatial_dims, shape, "medmnist", report, images)


# -------------------------------------------------------------------------- classification: CSV


def _csv_classification(
    path: Path, split: str, names: tuple[str, ...] | None
) -> MedicalClassificationDataset:
    table = _read_csv(path, split, "image,label", ("image", "label"))
    tally = _Tally(path.parent)
    rows = []
    for line, row in table.rows:
        image, label = row.get("image", ""), row.get("label", "")
        if image and label:
            rows.append((line, _row_path(path, image), label))
        else:
            tally.note("bad_rows", f"{path.name} line {line}: image={image!r}, label={label!r}")
    # Classes come from every labelled row, so a missing file does not renumber them.
    names, ids = _csv_labels([label for _, _, label in rows], names)
    candidates = []
    for (line, file, label), label_id in zip(rows, ids, strict=True):
        if label_id is None:
            tally.note("unknown_labels", f"{path.name} line {line}: {label!r}")
        elif not file.is_file():
            tally.note("missing_files", f"{tally.name(file)} ({path.name} line {line})")
        else:
            candidates.append((file, label_id))
    records, by_dims, shapes = _checked_examples(candidates, tally)
    listed = f"{count_noun(len(table.rows), 'row')} in {path.name}"
    return _file_dataset(
        records, by_dims, shapes, names, layout="csv", split=table.split, tally=tally, listed=listed
    )


def _csv_labels(
    labels: Sequence[str], names: tuple[str, ...] | None
) -> tuple[tuple[str, ...], list[int | None]]:
    """The class names and each label's id (None for a label that is not a class)."""
    if names is not None:
        index = {name: i for i, name in enumerate(names)}
        ids = [index.get(label, _int_or_none(label)) for label in labels]
        return names, [i if i is not None and 0 <= i < len(names) else None for i in ids]
    numbers = [_int_or_none(label) for label in labels]
    if labels and all(n is not None and n >= 0 for n in numbers):
        count = max(n for n in numbers if n is not None) + 1
        return tuple(f"class_{i}" for i in range(count)), list(numbers)
    names = tuple(sorted(set(labels)))
    index = {name: i for i, name in enumerate(names)}
    return names, [index[label] for label in labels]


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------- CSV files


class _Table(NamedTuple):
    """A CSV's rows of the split (`(line number, stripped cells by lower-case column)`), its
    columns and the split applied (None without a `split` column)."""

    rows: list[tuple[int, dict[str, str]]]
    columns: tuple[str, ...]
    split: str | None


def _read_csv(path: Path, split: str, header: str, required: Iterable[str]) -> _Table:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = tuple((f or "").strip().lower() for f in reader.fieldnames or ())
            missing = [c for c in required if c not in columns]
            if missing:
                raise DataError(
                    f"The CSV {path.name} lacks the column{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(missing)}. "
                    f"Expected a header with {header} (and optionally split). Received: path='{path}', "
                    f"columns={list(columns)!r}"
                )
            reader.fieldnames = list(columns)
            rows = [
                (reader.line_num, {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)})
                for row in reader
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(
            f"Cannot read the CSV {path.name}: {type(error).__name__}: {error}. Expected a UTF-8 CSV file "
            f"with a header with {header}. Received: path='{path}'"
        ) from error
    if "split" not in columns:
        return _Table(rows, columns, None)
    aliases = {alias.lower(): canonical for canonical, names in SPLIT_NAMES.items() for alias in names}
    kept = [(line, row) for line, row in rows if aliases.get(row["split"].lower(), row["split"]) == split]
    if rows and not kept:
        present = sorted({row["split"] for _, row in rows})
        raise NotFoundError(
            f"The CSV {path.name} has no rows of split '{split}'; its split column holds: "
            f"{', '.join(present)}. "
            f"Expected rows whose split is '{split}' (or an alias). Received: path='{path}', split='{split}'"
        )
    return _Table(kept, columns, split)


def _row_path(csv_path: Path, cell: str) -> Path:
    file = Path(cell).expanduser()
    return file if file.is_absolute() else csv_path.parent / file


# ------------------------------------------------------------------------- segmentation volumes


class _Header(NamedTuple):
    """A NIfTI header read: spatial `shape` and `channels`, `affine`; or the `error` that stopped it."""

    shape: tuple[int, ...] | None
    channels: int
    affine: np.ndarray | None
    error: str


def _volume_header(path: Path) -> _Header:
    try:
        shape, affine = read_nifti_header(path)
    except DataError as error:
        return _Header(None, 0, None, _reason(error))
    extra = [n for n in shape[3:] if n != 1]
    if len(shape) < 3 or len(extra) > 1:
        return _Header(None, 0, None, f"shape {shape}: expected a 3D volume or a 4D (x, y, z, channels) one")
    return _Header(shape[:3], extra[0] if extra else 1, affine, "")


class _CaseCheck(NamedTuple):
    """A case's channel count (0 when it is dropped) and the `(issue, example)` notes about it."""

    channels: int
    notes: tuple[tuple[str, str], ...]


def _checked_cases(cases: Sequence[VolumeRecord], tally: _Tally) -> tuple[list[VolumeRecord], int]:
    """The cases whose headers agree, and their channel count (the most common one)."""
    # Checked in threads, noted here: the tally is not thread-safe and its examples keep case order.
    checks = _parallel(lambda case: _check_case(case, tally), cases)
    for check in checks:
        for issue, example in check.notes:
            tally.note(issue, example)
    good = [(case, check.channels) for case, check in zip(cases, checks, strict=True) if check.channels]
    if not good:
        return [], 0
    channels = Counter(c for _, c in good).most_common(1)[0][0]
    kept = []
    for case, count in good:
        if count == channels:
            kept.append(case)
        else:
            tally.note("channel_count_mismatches", f"{case.case_id}: {count} channels, most cases {channels}")
    return kept, channels


def _check_case(case: VolumeRecord, tally: _Tally) -> _CaseCheck:
    """Whether the case's headers agree: readable 3D/4D files, channel files of one shape, a
    single-channel label of the image's shape (a differing affine is noted, the case kept)."""
    headers = [_volume_header(Path(p)) for p in case.image_paths]
    label = _volume_header(Path(case.label_path))
    for file, header in zip((*case.image_paths, case.label_path), (*headers, label), strict=True):
        if header.shape is None:
            return _CaseCheck(0, (("unreadable_files", f"{tally.name(file)}: {header.error}"),))
    shapes = [(h.shape, h.channels) for h in headers]
    if len(headers) > 1 and (len(set(shapes)) > 1 or any(c != 1 for _, c in shapes)):
        described = ", ".join(
            f"{Path(p).name} {_shape_text(s, c)}" for p, (s, c) in zip(case.image_paths, shapes, strict=True)
        )
        return _CaseCheck(0, (("channel_shape_mismatches", f"{case.case_id}: {described}"),))
    if label.shape != headers[0].shape or label.channels != 1:
        example = (
            f"{case.case_id}: label {_shape_text(label.shape, label.channels)}, "
            f"image {_shape_text(headers[0].shape, 1)}"
        )
        return _CaseCheck(0, (("label_shape_mismatches", example),))
    notes = ()
    if not np.allclose(label.affine, headers[0].affine, atol=_AFFINE_TOLERANCE):
        notes = (("affine_mismatches", f"{case.case_id}: {tally.name(case.label_path)}"),)
    return _CaseCheck(sum(h.channels for h in headers), notes)


def _shape_text(shape: tuple[int, ...] | None, channels: int) -> str:
    text = "x".join(map(str, shape or ()))
    return text if channels == 1 else f"{text} with {channels} channels"


def _volume_dataset(
    cases: list[VolumeRecord],
    tally: _Tally,
    *,
    layout: str,
    split: str | None,
    label_names: tuple[str, ...] | None = None,
    channel_names: tuple[str, ...] | None = None,
) -> VolumeDataset:
    unique = []
    seen = set()
    for case in cases:
        if case.case_id in seen:
            tally.note("duplicate_cases", f"{case.case_id}: {tally.name(case.label_path)}")
            continue
        seen.add(case.case_id)
        unique.append(case)
    kept, channels = _checked_cases(unique, tally)
    if not kept:
        examples = [e for name, _ in _ISSUES for e in tally.examples.get(name, ())][:MAX_EXAMPLES]
        found = f" e.g. {'; '.join(examples)}." if examples else ""
        issues = ", ".join(f"{name} {count}" for name, count in tally.counts.items() if count)
        raise DataError(
            f"No usable case in the segmentation data: {count_noun(len(cases), 'case')} listed "
            f"({issues or 'none found'}).{found} Expected {_VOLUME_HINT}, with readable volumes whose "
            "label has the "
            f"image's shape. Received: path='{tally.root}', split={split!r}"
        )
    if channel_names is not None and len(channel_names) != channels:
        channel_names = None  # names for another channel count describe another dataset
    report = tally.report(
        layout=layout, task="segmentation", split=split, records=len(kept), spatial_dims=3, channels=channels
    )
    return VolumeDataset(kept, channels, label_names, layout, report, channel_names)


# ------------------------------------------------------------------------------ segmentation: MSD


def _msd_volumes(root: Path, split: str) -> VolumeDataset:
    base, images_dir, labels_dir = _msd_folders(root, split)
    tally = _Tally(base)
    label_names, channel_names = _dataset_json(base, root, tally)
    images = _nifti_files(images_dir, tally)
    labels = _nifti_files(labels_dir, tally)
    cases, used = [], set()
    for label_name, label_path in sorted(labels.items()):
        case_id = _case_id(label_name)
        channels = _case_images(case_id, label_name, images)
        if not channels:
            tally.note("labels_without_images", tally.name(label_path))
            continue
        used.update(channels)
        cases.append(VolumeRecord(case_id, tuple(str(images[name]) for name in channels), str(label_path)))
    for name in sorted(set(images) - used):
        tally.note("images_without_labels", tally.name(images[name]))
    return _volume_dataset(
        cases, tally, layout="msd", split=split, label_names=label_names, channel_names=channel_names
    )


def _msd_folders(root: Path, split: str) -> tuple[Path, Path, Path]:
    """The dataset folder and the images/labels folders of the split."""
    base = root
    if not _is_msd(root):
        inner = find_split(root, split)
        if inner is None and _is_split_layout(root):
            raise _split_not_found(root, split, "segmentation data", _VOLUME_HINT)
        if inner is None or not _is_msd(inner):
            raise InvalidArgumentError(
                f"No segmentation layout found: {describe_path(root)}. Expected {_VOLUME_HINT}. "
                f"Received: path='{root}', split='{split}'"
            )
        base = inner
    # A per-split folder may hold its data under any MSD pair; the split's own is preferred.
    pairs = _MSD_FOLDERS[split] if base is root else _MSD_FOLDERS[split] + sum(_MSD_FOLDERS.values(), ())
    for images, labels in pairs:
        if (base / images).is_dir() and (base / labels).is_dir():
            return base, base / images, base / labels
    looked = " or ".join(f"{images}/ + {labels}/" for images, labels in _MSD_FOLDERS[split])
    raise NotFoundError(
        f"The segmentation data has no '{split}' split: looked for {looked}; found {describe_path(base)}. "
        "Expected imagesTr/ + labelsTr/ for 'train', imagesVal/ + labelsVal/ for 'val', imagesTs/ + "
        "labelsTs/ for 'test' (test labels are not public for the MSD tasks). "
        f"Received: path='{base}', split='{split}'"
    )


def _is_msd(folder: Path) -> bool:
    return any((folder / images).is_dir() for pairs in _MSD_FOLDERS.values() for images, _ in pairs)


def _nifti_files(folder: Path, tally: _Tally) -> dict[str, Path]:
    """NIfTI files by name; hidden and macOS `._*` files skipped, others reported."""
    files = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if medical_suffix(path) in NIFTI_EXTENSIONS:
            files[path.name] = path
        elif _file_kind(path) != "side":
            tally.note("unsupported_files", tally.name(path))
    return files


def _case_id(file_name: str) -> str:
    suffix = medical_suffix(file_name)
    return file_name[: -len(suffix)] if suffix else file_name


def _case_images(case_id: str, label_name: str, images: dict[str, Path]) -> list[str]:
    """The image file names of a case, in channel order: the label's own name, else nnU-Net's
    `<case>_0000`, `<case>_0001`, ..."""
    if label_name in images:
        return [label_name]
    channels = []
    for name in images:
        match = _NNUNET_CHANNEL.match(_case_id(name))
        if match and match["case"] == case_id:
            channels.append((int(match["channel"]), name))
    return [name for _, name in sorted(channels)]


def _dataset_json(
    base: Path, root: Path, tally: _Tally
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """Label and channel names from the nearest dataset.json (MSD or nnU-Net v2 style), if any."""
    path = next(
        (folder / "dataset.json" for folder in (base, root) if (folder / "dataset.json").is_file()), None
    )
    if path is None:
        return None, None
    try:
        meta = json.loads(path.read_text(encoding="utf-8-sig"))
        return _names_by_id(meta.get("labels")), _names_by_id(meta.get("modality", meta.get("channel_names")))
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, TypeError) as error:
        tally.note("unreadable_metadata", f"{tally.name(path)}: {type(error).__name__}: {error}")
        return None, None


def _names_by_id(mapping: Any) -> tuple[str, ...] | None:
    """`{"0": "background", "1": "edema"}` (MSD) or `{"background": 0, "edema": 1}` (nnU-Net v2) as
    names in id order; ids without a name are `class_<id>`. None for anything else."""
    if not isinstance(mapping, dict) or not mapping:
        return None
    if all(isinstance(key, str) and key.strip().isdigit() for key in mapping):
        by_id = {int(key): str(value) for key, value in mapping.items()}
    elif all(isinstance(value, int) and not isinstance(value, bool) for value in mapping.values()):
        by_id = {value: str(key) for key, value in mapping.items()}
    else:
        return None  # e.g. nnU-Net region labels: {"whole tumor": [1, 2, 3]}
    return tuple(by_id.get(i, f"class_{i}") for i in range(max(by_id) + 1))


# ------------------------------------------------------------------------------ segmentation: CSV


def _csv_volumes(path: Path, split: str) -> VolumeDataset:
    table = _read_csv(path, split, "image,label or image_0,...,image_k,label", ("label",))
    image_columns = _image_columns(path, table.columns)
    tally = _Tally(path.parent)
    rows = []
    for line, row in table.rows:
        cells = [row.get(column, "") for column in image_columns]
        label = row.get("label", "")
        if not all(cells) or not label:
            tally.note("bad_rows", f"{path.name} line {line}: an empty image or label cell")
            continue
        files = [_row_path(path, cell) for cell in (*cells, label)]
        missing = [file for file in files if not file.is_file()]
        if missing:
            tally.note("missing_files", f"{tally.name(missing[0])} ({path.name} line {line})")
            continue
        rows.append((row.get("case_id", ""), files))
    unnamed = [files[-1] for case_id, files in rows if not case_id]
    stems = Counter(_case_id(label.name) for label in unnamed)
    folders = Counter(label.parent.name for label in unnamed)
    cases = []
    for case_id, files in rows:
        label = files[-1]
        if not case_id:
            # Datasets with one folder per case often name every label alike (BraTS's
            # OTMultiClass.nii.gz): the label's folder names the case, else its relative path.
            case_id = _case_id(label.name)
            if stems[case_id] > 1:
                case_id = (
                    label.parent.name if folders[label.parent.name] == 1 else _case_id(tally.name(label))
                )
        cases.append(VolumeRecord(case_id, tuple(str(f) for f in files[:-1]), str(label)))
    return _volume_dataset(cases, tally, layout="csv", split=table.split)


def _image_columns(path: Path, columns: Sequence[str]) -> list[str]:
    numbered = sorted((int(m.group(1)), c) for c in columns if (m := _IMAGE_COLUMN.match(c)))
    if numbered and [i for i, _ in numbered] == list(range(len(numbered))) and "image" not in columns:
        return [c for _, c in numbered]
    if not numbered and "image" in columns:
        return ["image"]
    raise DataError(
        f"The CSV {path.name} has no usable image columns. Expected either one 'image' column or "
        f"'image_0', 'image_1', ... numbered from 0 without gaps (one per channel), and 'label'. "
        f"Received: path='{path}', columns={list(columns)!r}"
    )


# ------------------------------------------------------------------------------- small helpers


def _checked_split(split: str) -> str:
    """The canonical split name ("train", "val" or "test") for a name or alias."""
    if isinstance(split, str):
        for canonical, aliases in SPLIT_NAMES.items():
            if split.strip().lower() in aliases:
                return canonical
    accepted = ", ".join(alias for aliases in SPLIT_NAMES.values() for alias in aliases)
    raise InvalidArgumentError(f"Unknown split. Expected one of {accepted}. Received: split={split!r}")


def _existing_path(path: str | Path, what: str, hint: str) -> Path:
    if not str(path):
        raise InvalidArgumentError(f"No {what} path given. Expected {hint}. Received: path=''")
    # abspath, not resolve(): normalises `..` but keeps the symlinked names a user typed.
    root = Path(os.path.abspath(Path(path).expanduser()))
    if not root.exists():
        raise NotFoundError(f"The {what} path does not exist. Expected {hint}. Received: path='{path}'")
    return root


def _is_split_layout(root: Path) -> bool:
    """Whether every non-hidden sub-folder is a split name (the rule of `find_split`)."""
    known = {name for names in SPLIT_NAMES.values() for name in names}
    children = {p.name.lower() for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    return bool(children) and children <= known


def _split_folder(root: Path, split: str, what: str, hint: str) -> tuple[Path, str | None]:
    """The folder to read and the split applied: `root/<split>` for a split layout, else `root` whole."""
    if not _is_split_layout(root):
        return root, None
    folder = find_split(root, split)
    if folder is None:
        raise _split_not_found(root, split, what, hint)
    return folder, split


def _split_not_found(root: Path, split: str, what: str, hint: str) -> NotFoundError:
    present = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return NotFoundError(
        f"The {what} has no '{split}' split folder (tried {', '.join(SPLIT_NAMES[split])}); it holds "
        f"{', '.join(f'{name}/' for name in present)}. Expected {hint}. Received: path='{root}', "
        f"split='{split}'"
    )


def _reason(error: DataError) -> str:
    """A reader's message without its `Received:` tail (the report names the file already)."""
    return str(error).rsplit(" Received:", 1)[0].rstrip(".")


def _parallel(function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    if len(items) < 2:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(_READ_THREADS, len(items))) as pool:
        return list(pool.map(function, items))
