"""Reading object-detection datasets from disk: COCO JSON, Pascal VOC XML, YOLO txt and TF OD API CSV.

Every format is read into one in-memory form, `DetectionDataset`: one `DetectionRecord` per image,
with boxes as float32 pixel `[ymin, xmin, ymax, xmax]` (the order TensorFlow's image ops and the
served model use) and int32 indices into `DetectionDataset.class_names`. Odd annotations never stop
the read: they are fixed or dropped and counted, with examples, in a `DetectionDataReport`::

    data = read_detection_dataset("raccoon/data", split="train")
    print(data.report.summary())

Conventions shared by every reader:

- The image file's own size, read from its header by PIL (no full decode), is the truth: it is what
  the model sees. An annotated size that disagrees is counted in `size_mismatches` and the boxes are
  kept as written (then checked against the file's size).
- Boxes are checked in this order and each dropped box is counted once: repeated boxes of an image,
  unknown classes, zero/negative/non-finite size, entirely outside the image. Boxes partly outside
  the image are clipped to it and counted.
- Pascal VOC coordinates are 1-based pixel indices. They are used as written, as continuous pixel
  coordinates, like TF's `create_pascal_tf_record`: the one-pixel shift is below annotation noise
  and keeps `xmax == width` inside the image. CSV values are also used as written.
- Malformed annotation files (bad JSON/XML/CSV/YAML, missing fields, non-numeric values) raise
  `DataError` naming the file and, where the parser knows it, the line.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, NamedTuple
from xml.etree import ElementTree

import numpy as np
import yaml

from tfapps.apps.errors import DataError, InvalidArgumentError, NotFoundError
from tfapps.pipelines.dataset_files import (
    HeaderRead,
    IssueTally,
    checked_class_names,
    count_noun,
    describe_path,
    first_dir,
    first_file,
    issue_lines,
    read_image_header,
    read_only_array,
    split_aliases,
)
from tfapps.pipelines.reader import IMAGE_EXTENSIONS
from tfapps.pipelines.splits import split_records

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "MAX_EXAMPLES",
    "DetectionDataReport",
    "DetectionDataset",
    "DetectionFormat",
    "DetectionRecord",
    "detect_format",
    "read_detection_dataset",
    "split_records",
]

logger = logging.getLogger(__name__)

# In the order `detect_format` tries them: the more specific layouts first.
FORMATS = ("coco", "yolo", "voc", "csv")
DetectionFormat = Literal["auto", "coco", "yolo", "voc", "csv"]
CSV_COLUMNS = ("filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax")
MAX_EXAMPLES = 5

_LAYOUT_HINTS = {
    "coco": "COCO: annotations.json (or _annotations.coco.json) in the folder, or a .json file",
    "yolo": "YOLO: images/ and labels/ folders (names in data.yaml), or a data.yaml file",
    "voc": "Pascal VOC: Annotations/ + JPEGImages/, annotations/ + images/, or .xml files beside the images",
    "csv": f"CSV: a .csv file (or a folder of them) with the header {','.join(CSV_COLUMNS)}",
}
_COCO_FILE_NAMES = ("annotations.json", "_annotations.coco.json")
_YOLO_YAML_NAMES = ("data.yaml", "data.yml")
_VOC_FOLDERS = (("Annotations", "JPEGImages"), ("annotations", "images"))
# Clamping a coordinate by less than this is float rounding (e.g. YOLO's 0.7 + 0.3), not clipping.
_CLIP_TOLERANCE_PX = 1e-3
# Reading an image header is a small file read; threads hide the file-system latency.
_HEADER_READ_THREADS = 16

# (report field, what it counts), in the order `summary()` lists them.
_ISSUES = (
    ("missing_images", "images listed but not found on disk (skipped)"),
    ("unreadable_images", "image files whose header cannot be read (skipped)"),
    ("duplicate_images", "images listed more than once (their boxes merged)"),
    ("unmatched_entries", "annotation entries that refer to no image or file (ignored)"),
    ("size_mismatches", "images whose annotated size differs from the file (file size used)"),
    ("images_without_boxes", "images without boxes (kept)"),
    ("duplicate_boxes", "repeated boxes or rows (dropped)"),
    ("unknown_class_boxes", "boxes of unknown classes (dropped)"),
    ("empty_boxes", "boxes with zero, negative or non-finite size (dropped)"),
    ("outside_boxes", "boxes entirely outside the image (dropped)"),
    ("clipped_boxes", "boxes partly outside the image (clipped to it)"),
)


# --------------------------------------------------------------------------------- public types


@dataclasses.dataclass(frozen=True, eq=False)
class DetectionRecord:
    """One image and its boxes, in pixels.

    The arrays are made read-only. Records compare by identity: field-wise equality of arrays is
    ambiguous.

    Attributes:
        image_path: absolute path of the image file.
        width: image width in pixels, from the file.
        height: image height in pixels, from the file.
        boxes: float32 `[N, 4]` pixel `[ymin, xmin, ymax, xmax]`, inside the image.
        classes: int32 `[N]` indices into `DetectionDataset.class_names`.
        difficult: bool `[N]` Pascal VOC "difficult" flags; None for formats without them.

    Raises:
        InvalidArgumentError: arrays of the wrong shape or of different lengths.
    """

    image_path: str
    width: int
    height: int
    boxes: np.ndarray
    classes: np.ndarray
    difficult: np.ndarray | None = None

    def __post_init__(self):
        boxes = read_only_array(self.boxes, np.float32)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        classes = read_only_array(self.classes, np.int32)
        difficult = None if self.difficult is None else read_only_array(self.difficult, np.bool_)
        lengths = [len(classes)] + ([] if difficult is None else [len(difficult)])
        if boxes.ndim != 2 or boxes.shape[1] != 4 or classes.ndim != 1 or set(lengths) != {len(boxes)}:
            raise InvalidArgumentError(
                f"A detection record needs boxes of shape [N, 4] and classes (and difficult) of shape [N]. "
                f"Received: boxes.shape={boxes.shape}, classes.shape={classes.shape}, "
                f"difficult.shape={None if difficult is None else difficult.shape}, image_path='{self.image_path}'"
            )
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "difficult", difficult)

    @property
    def num_boxes(self) -> int:
        """Number of boxes."""
        return len(self.boxes)


@dataclasses.dataclass(frozen=True)
class DetectionDataReport:
    """What reading a detection dataset found: its size, and every odd case with a few examples.

    Each odd-case count names what happened to the image or box; a dropped box is counted once,
    under the first check it fails (see the module docstring).

    Attributes:
        source: the annotation file or folder read.
        format: "coco", "yolo", "voc" or "csv".
        split: the split read, or None.
        images: images kept.
        boxes: boxes kept.
        boxes_per_class: kept boxes per class name, in class order (zero included).
        missing_images: images listed in the annotations but not on disk (skipped).
        unreadable_images: image files PIL cannot read the header of (skipped).
        duplicate_images: extra listings of an image already listed (boxes merged into it).
        unmatched_entries: COCO annotations with an unknown image id, VOC split ids without XML.
        size_mismatches: images whose annotated width/height differs from the file's (file wins).
        images_without_boxes: kept images with no box left (background images).
        duplicate_boxes: boxes repeated within an image, e.g. duplicate CSV rows (dropped).
        unknown_class_boxes: boxes whose class is not a known class (dropped).
        empty_boxes: boxes with zero, negative or non-finite width or height (dropped).
        outside_boxes: boxes that do not overlap the image at all (dropped).
        clipped_boxes: boxes partly outside the image, clipped to it (kept).
        unknown_classes: dropped boxes per unknown class name.
        examples: up to `MAX_EXAMPLES` descriptions, starting with the file name, per count above.
    """

    source: str
    format: str
    split: str | None
    images: int
    boxes: int
    boxes_per_class: dict[str, int]
    missing_images: int = 0
    unreadable_images: int = 0
    duplicate_images: int = 0
    unmatched_entries: int = 0
    size_mismatches: int = 0
    images_without_boxes: int = 0
    duplicate_boxes: int = 0
    unknown_class_boxes: int = 0
    empty_boxes: int = 0
    outside_boxes: int = 0
    clipped_boxes: int = 0
    unknown_classes: dict[str, int] = dataclasses.field(default_factory=dict)
    examples: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def issues(self) -> dict[str, int]:
        """The non-zero odd-case counts by field name, in report order."""
        return {name: getattr(self, name) for name, _ in _ISSUES if getattr(self, name)}

    def summary(self) -> str:
        """A few readable lines: totals, boxes per class, then each odd case with examples."""
        split = f" (split '{self.split}')" if self.split else ""
        lines = [
            f"{self.format.upper()} detection data from {self.source}{split}: "
            f"{count_noun(self.images, 'image')}, {count_noun(self.boxes, 'box')}, "
            f"{count_noun(len(self.boxes_per_class), 'class')}."
        ]
        if self.boxes_per_class:
            counts = ", ".join(f"{name} {count}" for name, count in self.boxes_per_class.items())
            lines.append(f"Boxes per class: {counts}.")
        unknown = ", ".join(f"'{label}' x{count}" for label, count in self.unknown_classes.items())
        lines += issue_lines(self.issues(), _ISSUES, self.examples, {"unknown_class_boxes": unknown})
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy: plain dicts, lists, strings and numbers."""
        data = dataclasses.asdict(self)
        data["examples"] = {name: list(examples) for name, examples in self.examples.items()}
        return data


@dataclasses.dataclass(frozen=True)
class DetectionDataset:
    """A detection dataset read from disk.

    Attributes:
        records: one record per readable image, in annotation order (sorted paths for folders).
        class_names: class names, indexed by `DetectionRecord.classes`.
        format: the format read: "coco", "yolo", "voc" or "csv".
        report: the counts and examples of odd cases found while reading.
    """

    records: tuple[DetectionRecord, ...]
    class_names: tuple[str, ...]
    format: str
    report: DetectionDataReport

    def __len__(self) -> int:
        return len(self.records)


# ----------------------------------------------------------------------------- public functions


def detect_format(path: str | Path) -> str:
    """Name the detection annotation format at `path`.

    Tries, in order: COCO (`annotations.json` or a `.json` file), YOLO (`images/` + `labels/`, or a
    `data.yaml`), Pascal VOC (`Annotations/` + `JPEGImages/`, `annotations/` + `images/`, or XML files
    in the folder) and CSV (`.csv` files with the TF Object Detection API header).

    Args:
        path: a dataset folder or an annotation file.

    Returns:
        One of `FORMATS`: "coco", "yolo", "voc" or "csv".

    Raises:
        NotFoundError: `path` does not exist.
        InvalidArgumentError: nothing at `path` looks like a known format.

    Example:
        >>> detect_format("raccoon/data/train_labels.csv")
        'csv'
    """
    root = _existing_path(path)
    for name in FORMATS:
        if _LOCATORS[name](root) is not None:
            return name
    expected = "; ".join(_LAYOUT_HINTS[name] for name in FORMATS)
    raise InvalidArgumentError(
        f"Cannot tell the detection data format: found {describe_path(root)}. Expected one of: {expected}. "
        f"Received: path='{path}'"
    )


def read_detection_dataset(
    path: str | Path,
    *,
    format: DetectionFormat = "auto",
    image_dir: str | Path | None = None,
    class_names: Sequence[str] | None = None,
    split: str | None = None,
) -> DetectionDataset:
    """Read a detection dataset (COCO, YOLO, Pascal VOC or CSV) into records and a data report.

    Args:
        path: the dataset folder or annotation file (`--data PATH`).
        format: "auto" (see `detect_format`) or one of `FORMATS`.
        image_dir: where the images are, tried before the format's usual places (beside the
            annotations, `images/`, and for CSV `../images`). Not used by YOLO, whose layout says.
        class_names: the class order to use (e.g. the training classes when reading validation
            data). Boxes of other classes are dropped and counted as unknown. By default: COCO's
            categories in id order, YOLO's `names`, otherwise the sorted names in the annotations.
        split: a split name ("train", "val", "test" or an alias such as "valid"): a `<path>/<split>/`
            folder; otherwise VOC's `ImageSets/Main/<split>.txt`, YOLO's `data.yaml` entry or
            `images/<split>/`, or a `<split>.csv` / `<split>_labels.csv` in a CSV folder.

    Returns:
        The `DetectionDataset`; its `report` counts what was clipped, dropped or skipped.

    Raises:
        NotFoundError: `path`, `image_dir`, the split or a required file does not exist.
        InvalidArgumentError: a bad argument, or the format or layout cannot be recognised.
        DataError: a malformed annotation file (named, with the line where known), or no readable
            image at all.

    Example:
        >>> data = read_detection_dataset("raccoon/data/train_labels.csv")
        >>> data.class_names, data.records[0].boxes.shape
        (('raccoon',), (1, 4))
    """
    root = _existing_path(path)
    options = _ReadOptions(
        image_dir=_existing_image_dir(image_dir),
        class_names=checked_class_names(class_names),
        split=split,
    )
    split_folder = _split_folder(root, split)
    if split_folder is not None:
        root, options = split_folder, dataclasses.replace(options, split=None)
    if format == "auto":
        format = detect_format(root)
    elif format not in FORMATS:
        raise InvalidArgumentError(
            f"Unknown detection data format. Expected 'auto' or one of {', '.join(FORMATS)}. "
            f"Received: format='{format}'"
        )
    annotations = _READERS[format](root, options)
    dataset = _build_dataset(annotations, options, format=format, source=root, split=split)
    logger.info("%s", dataset.report.summary())
    return dataset


# ------------------------------------------------------------ the format-independent middle form


@dataclasses.dataclass(frozen=True)
class _ReadOptions:
    image_dir: Path | None
    class_names: tuple[str, ...] | None
    split: str | None


@dataclasses.dataclass(frozen=True)
class _RawBox:
    """A box as the annotation gives it, in pixel corners (fractions of the image when normalised)."""

    label: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    difficult: bool = False

    def describe(self, image_name: str) -> str:
        return (
            f"{image_name}: '{self.label}' at ymin={self.ymin:g}, xmin={self.xmin:g}, "
            f"ymax={self.ymax:g}, xmax={self.xmax:g}"
        )


@dataclasses.dataclass(frozen=True)
class _RawImage:
    """One image entry of an annotation file, before any check against the disk.

    `candidates` are the paths the image may have, best first; `size` is the annotated
    `(width, height)`; `normalized` marks YOLO boxes, given as fractions of the image size.
    """

    name: str
    candidates: tuple[Path, ...]
    size: tuple[int, int] | None
    boxes: tuple[_RawBox, ...]
    normalized: bool = False


@dataclasses.dataclass(frozen=True)
class _Annotations:
    """What a format reader returns: image entries, the format's own class list, loose ends."""

    images: list[_RawImage]
    class_names: tuple[str, ...] | None  # None: the sorted labels seen
    unmatched: list[str] = dataclasses.field(default_factory=list)
    with_difficult: bool = False


class _BoxFit(NamedTuple):
    issue: str | None  # a report field, or None for a box kept as written
    corners: tuple[float, float, float, float] | None  # ymin, xmin, ymax, xmax inside the image


class _Tally(IssueTally):
    """Counts and examples of odd cases, gathered while building records."""

    def __init__(self):
        super().__init__(MAX_EXAMPLES)
        self.unknown_classes: Counter[str] = Counter()

    def note_unknown_class(self, label: str, example: str) -> None:
        self.unknown_classes[label] += 1
        self.note("unknown_class_boxes", example)

    def report(
        self,
        records: Sequence[DetectionRecord],
        class_names: Sequence[str],
        *,
        source: Path,
        format: str,
        split: str | None,
    ) -> DetectionDataReport:
        per_class = np.bincount(
            np.concatenate([r.classes for r in records] or [np.zeros(0, np.int32)]),
            minlength=len(class_names),
        )
        return DetectionDataReport(
            source=str(source),
            format=format,
            split=split,
            images=len(records),
            boxes=int(per_class.sum()),
            boxes_per_class={name: int(n) for name, n in zip(class_names, per_class, strict=True)},
            unknown_classes=dict(self.unknown_classes.most_common()),
            examples={name: tuple(self.examples[name]) for name, _ in _ISSUES if self.examples[name]},
            **{name: self.counts[name] for name, _ in _ISSUES},
        )


# ------------------------------------------------------------------ checking and building records


def _build_dataset(
    annotations: _Annotations, options: _ReadOptions, *, format: str, source: Path, split: str | None
) -> DetectionDataset:
    class_names = options.class_names
    if class_names is None:
        class_names = annotations.class_names
    if class_names is None:
        class_names = _sorted_labels(annotations.images)
    class_index = {name: i for i, name in enumerate(class_names)}
    tally = _Tally()
    for entry in annotations.unmatched:
        tally.note("unmatched_entries", entry)
    located = _locate_images(annotations.images, tally)
    headers = _read_image_headers(list(located))
    records = []
    for path, entries in located.items():
        header = headers[path]
        if header.size is None:
            tally.note("unreadable_images", f"{entries[0].name}: {header.error}")
            continue
        _note_size_mismatch(entries, header.size, tally)
        records.append(
            _make_record(path, header.size, entries, class_index, annotations.with_difficult, tally)
        )
    report = tally.report(records, class_names, source=source, format=format, split=split)
    if not records:
        raise _no_images_error(report, options)
    return DetectionDataset(
        records=tuple(records), class_names=tuple(class_names), format=format, report=report
    )


def _sorted_labels(images: Iterable[_RawImage]) -> tuple[str, ...]:
    return tuple(sorted({box.label for image in images for box in image.boxes}))


def _locate_images(images: Iterable[_RawImage], tally: _Tally) -> dict[Path, list[_RawImage]]:
    """Group image entries by the file they name on disk; count the missing and the repeated."""
    located: dict[Path, list[_RawImage]] = {}
    for image in images:
        path = next((p for p in image.candidates if p.is_file()), None)
        if path is None:
            tally.note("missing_images", image.name)
            continue
        # Normalised so `a/../b.jpg` and `b.jpg` are one image.
        path = Path(os.path.normpath(path))
        if path in located:
            tally.note("duplicate_images", image.name)
        located.setdefault(path, []).append(image)
    return located


def _read_image_headers(paths: list[Path]) -> dict[Path, HeaderRead]:
    with ThreadPoolExecutor(max_workers=_HEADER_READ_THREADS) as pool:
        return dict(zip(paths, pool.map(read_image_header, paths), strict=True))


def _note_size_mismatch(entries: Sequence[_RawImage], size: tuple[int, int], tally: _Tally) -> None:
    # Tools write 0 (or nothing) when they do not know the size: that is no disagreement.
    for entry in entries:
        if entry.size and all(entry.size) and entry.size != size:
            tally.note(
                "size_mismatches",
                f"{entry.name}: annotated {entry.size[0]}x{entry.size[1]}, file {size[0]}x{size[1]}",
            )
            return


def _make_record(
    path: Path,
    size: tuple[int, int],
    entries: Sequence[_RawImage],
    class_index: dict[str, int],
    with_difficult: bool,
    tally: _Tally,
) -> DetectionRecord:
    width, height = size
    corners, classes, difficult = [], [], []
    seen: set[_RawBox] = set()
    for entry in entries:
        for raw_box in entry.boxes:
            if raw_box in seen:
                tally.note("duplicate_boxes", raw_box.describe(entry.name))
                continue
            seen.add(raw_box)
            box = _to_pixels(raw_box, width, height) if entry.normalized else raw_box
            if box.label not in class_index:
                tally.note_unknown_class(box.label, box.describe(entry.name))
                continue
            fit = _fit_to_image(box, width, height)
            if fit.issue is not None:
                tally.note(fit.issue, box.describe(entry.name))
            if fit.corners is not None:
                corners.append(fit.corners)
                classes.append(class_index[box.label])
                difficult.append(box.difficult)
    if not corners:
        tally.note("images_without_boxes", entries[0].name)
    return DetectionRecord(
        image_path=str(path),
        width=width,
        height=height,
        boxes=np.asarray(corners, np.float32).reshape(-1, 4),
        classes=np.asarray(classes, np.int32),
        difficult=np.asarray(difficult, bool) if with_difficult else None,
    )


def _to_pixels(box: _RawBox, width: int, height: int) -> _RawBox:
    return dataclasses.replace(
        box, xmin=box.xmin * width, xmax=box.xmax * width, ymin=box.ymin * height, ymax=box.ymax * height
    )


def _fit_to_image(box: _RawBox, width: int, height: int) -> _BoxFit:
    """Drop empty and outside boxes, clip the rest to the image."""
    written = (box.ymin, box.xmin, box.ymax, box.xmax)
    if not all(math.isfinite(v) for v in written) or box.xmax <= box.xmin or box.ymax <= box.ymin:
        return _BoxFit("empty_boxes", None)
    if box.xmin >= width or box.ymin >= height or box.xmax <= 0 or box.ymax <= 0:
        return _BoxFit("outside_boxes", None)
    clipped = (max(box.ymin, 0.0), max(box.xmin, 0.0), min(box.ymax, height), min(box.xmax, width))
    moved = max(abs(a - b) for a, b in zip(written, clipped, strict=True))
    return _BoxFit("clipped_boxes" if moved > _CLIP_TOLERANCE_PX else None, clipped)


def _no_images_error(report: DetectionDataReport, options: _ReadOptions) -> DataError:
    if not report.missing_images and not report.unreadable_images:
        return DataError(
            f"The detection data lists no images. Expected at least one annotated or background image. "
            f"Received: path='{report.source}', split={report.split!r}"
        )
    examples = report.examples.get("missing_images", ()) + report.examples.get("unreadable_images", ())
    found = f" Not found or unreadable, e.g.: {', '.join(examples)}." if examples else ""
    return DataError(
        f"No readable image in the detection data ({report.missing_images} listed images missing, "
        f"{report.unreadable_images} unreadable).{found} Expected the images beside the annotations, in "
        f"an images/ folder, or in image_dir. Received: path='{report.source}', image_dir="
        f"{None if options.image_dir is None else repr(str(options.image_dir))}, split={report.split!r}"
    )


# ---------------------------------------------------------------------------------------- COCO


def _find_coco_json(root: Path) -> Path | None:
    if root.is_file():
        return root if root.suffix.lower() == ".json" else None
    return first_file(root, _COCO_FILE_NAMES)


def _read_coco(root: Path, options: _ReadOptions) -> _Annotations:
    json_path = _located(_find_coco_json(root), "coco", root)
    if options.split is not None:
        # Split sub-folders were entered before; COCO has no split list of its own.
        if root.is_file():
            _reject_split(options.split, root, "pass the split's folder or its annotations file")
        raise _split_not_found(options.split, root, "one annotations.json per split folder")
    data = _load_json(json_path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise _coco_error(json_path, "the top level is not an object with an 'images' list")
    categories = _coco_categories(data, json_path)
    image_dirs = _image_dirs(options.image_dir, json_path.parent, json_path.parent / "images")
    images = {
        _coco_field(entry, "id", json_path, f"images[{i}]"): _coco_image(entry, json_path, i, image_dirs)
        for i, entry in enumerate(data["images"])
    }
    boxes, unmatched = _coco_boxes(data.get("annotations") or [], json_path, images, categories)
    raw_images = [dataclasses.replace(image, boxes=tuple(boxes[key])) for key, image in images.items()]
    return _Annotations(raw_images, tuple(dict.fromkeys(categories.values())), unmatched)


def _coco_categories(data: dict, json_path: Path) -> dict[Any, str]:
    """Category id → name, in id order: the order of the contiguous class indices."""
    categories = data.get("categories")
    if not isinstance(categories, list):
        raise _coco_error(json_path, "there is no 'categories' list")
    by_id = {
        _coco_field(c, "id", json_path, f"categories[{i}]"): str(
            _coco_field(c, "name", json_path, f"categories[{i}]")
        )
        for i, c in enumerate(categories)
    }
    return dict(sorted(by_id.items(), key=lambda item: _id_order(item[0])))


def _id_order(key: Any) -> tuple[int, float, str]:
    # COCO ids are ints; tolerate strings without letting `sorted` compare int with str.
    return (0, key, "") if isinstance(key, int | float) else (1, 0, str(key))


def _coco_image(entry: Any, json_path: Path, index: int, image_dirs: Sequence[Path]) -> _RawImage:
    file_name = str(_coco_field(entry, "file_name", json_path, f"images[{index}]"))
    width, height = entry.get("width"), entry.get("height")
    size = (
        (int(width), int(height))
        if isinstance(width, int | float) and isinstance(height, int | float)
        else None
    )
    return _RawImage(file_name, _candidates(image_dirs, [file_name]), size, ())


def _coco_boxes(
    annotations: Any, json_path: Path, images: dict[Any, _RawImage], categories: dict[Any, str]
) -> tuple[dict[Any, list[_RawBox]], list[str]]:
    if not isinstance(annotations, list):
        raise _coco_error(json_path, "'annotations' is not a list")
    boxes: dict[Any, list[_RawBox]] = {key: [] for key in images}
    unmatched = []
    for i, ann in enumerate(annotations):
        where = f"annotations[{i}]"
        image_id = _coco_field(ann, "image_id", json_path, where)
        category_id = _coco_field(ann, "category_id", json_path, where)
        bbox = _coco_field(ann, "bbox", json_path, where)
        if image_id not in images:
            unmatched.append(
                f"{json_path.name}: {where} (id {ann.get('id')}) has unknown image_id {image_id!r}"
            )
            continue
        x, y, w, h = _coco_bbox(bbox, json_path, where)
        label = categories.get(category_id, f"category_id={category_id}")
        boxes[image_id].append(_RawBox(label, xmin=x, ymin=y, xmax=x + w, ymax=y + h))
    return boxes, unmatched


def _coco_bbox(bbox: Any, json_path: Path, where: str) -> tuple[float, float, float, float]:
    numeric = isinstance(bbox, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in bbox
    )
    if not numeric or len(bbox) != 4:
        raise _coco_error(json_path, f"{where} has bbox {bbox!r}, not [x, y, w, h]")
    x, y, w, h = (float(v) for v in bbox)
    return x, y, w, h


def _coco_field(entry: Any, key: str, json_path: Path, where: str) -> Any:
    if not isinstance(entry, dict) or key not in entry:
        raise _coco_error(json_path, f"{where} has no '{key}'")
    return entry[key]


def _coco_error(json_path: Path, problem: str) -> DataError:
    return DataError(
        f"Malformed COCO file {json_path.name}: {problem}. Expected an object with 'images' (id, "
        f"file_name, width, height), 'annotations' (image_id, category_id, bbox=[x, y, w, h]) and "
        f"'categories' (id, name). Received: path='{json_path}'"
    )


# ---------------------------------------------------------------------------------- Pascal VOC


@dataclasses.dataclass(frozen=True)
class _VocLayout:
    annotation_dir: Path
    image_dir: Path
    split_dir: Path | None  # the devkit's ImageSets/Main


def _find_voc_layout(root: Path) -> _VocLayout | None:
    if not root.is_dir():
        return None
    for annotation_name, image_name in _VOC_FOLDERS:
        annotation_dir = root / annotation_name
        if annotation_dir.is_dir() and _has_xml(annotation_dir):
            image_dir = root / image_name if (root / image_name).is_dir() else annotation_dir
            split_dir = root / "ImageSets" / "Main"
            return _VocLayout(annotation_dir, image_dir, split_dir if split_dir.is_dir() else None)
    return _VocLayout(root, root, None) if _has_xml(root) else None


def _has_xml(folder: Path) -> bool:
    return any(_is_xml(p) for p in folder.iterdir())


def _is_xml(path: Path) -> bool:
    return path.suffix.lower() == ".xml" and not path.name.startswith(".") and path.is_file()


def _read_voc(root: Path, options: _ReadOptions) -> _Annotations:
    layout = _located(_find_voc_layout(root), "voc", root)
    xml_paths, unmatched = _voc_xml_paths(layout, options.split, root)
    image_dirs = _image_dirs(options.image_dir, layout.image_dir, layout.annotation_dir)
    images = [_parse_voc_xml(xml_path, image_dirs) for xml_path in xml_paths]
    return _Annotations(images, None, unmatched, with_difficult=True)


def _voc_xml_paths(layout: _VocLayout, split: str | None, root: Path) -> tuple[list[Path], list[str]]:
    """The XML files to read: all of them, or those the devkit's split list names."""
    if split is None:
        return sorted(p for p in layout.annotation_dir.iterdir() if _is_xml(p)), []
    if layout.split_dir is None:
        raise _split_not_found(split, root, "a split folder, or ImageSets/Main/<split>.txt (VOC devkit)")
    list_file = first_file(layout.split_dir, [f"{alias}.txt" for alias in split_aliases(split)])
    if list_file is None:
        available = sorted(p.stem for p in layout.split_dir.glob("*.txt") if "_" not in p.stem)
        raise _split_not_found(split, root, f"ImageSets/Main/<split>.txt among: {', '.join(available)}")
    paths, unmatched = [], []
    for image_id in _read_split_ids(list_file):
        xml_path = layout.annotation_dir / f"{image_id}.xml"
        if xml_path.is_file():
            paths.append(xml_path)
        else:
            unmatched.append(f"{list_file.name}: id '{image_id}' has no {xml_path.name}")
    return paths, unmatched


def _read_split_ids(list_file: Path) -> list[str]:
    # Lines are "<id>"; per-class lists add a flag ("<id> -1"): the first token is the id.
    return [line.split()[0] for line in _read_text(list_file).splitlines() if line.strip()]


def _parse_voc_xml(xml_path: Path, image_dirs: Sequence[Path]) -> _RawImage:
    root = _load_xml(xml_path)
    if root.tag != "annotation":
        raise _voc_error(xml_path, f"the root element is <{root.tag}>, not <annotation>")
    filename = (root.findtext("filename") or "").strip()
    # Tools disagree on <filename> (no extension, a stale name): fall back to the XML's stem.
    names = [filename, Path(filename).name] if filename else []
    names += [xml_path.stem + ext for ext in _extensions_any_case()]
    boxes = tuple(_voc_box(obj, xml_path, i) for i, obj in enumerate(root.findall("object"), start=1))
    return _RawImage(
        filename or xml_path.stem, _candidates(image_dirs, names), _voc_size(root, xml_path), boxes
    )


def _voc_size(root: ElementTree.Element, xml_path: Path) -> tuple[int, int] | None:
    size = root.find("size")
    if size is None:
        return None
    width, height = size.findtext("width"), size.findtext("height")
    if width is None or height is None:
        return None
    return int(_voc_number(width, xml_path, "<size><width>")), int(
        _voc_number(height, xml_path, "<size><height>")
    )


def _voc_box(obj: ElementTree.Element, xml_path: Path, number: int) -> _RawBox:
    label = (obj.findtext("name") or "").strip()
    if not label:
        raise _voc_error(xml_path, f"<object> number {number} has no <name>")
    bndbox = obj.find("bndbox")
    if bndbox is None:
        raise _voc_error(xml_path, f"<object> number {number} ('{label}') has no <bndbox>")
    corners = {
        key: _voc_number(bndbox.findtext(key), xml_path, f"<object> number {number} <{key}>")
        for key in ("xmin", "ymin", "xmax", "ymax")
    }
    difficult = (obj.findtext("difficult") or "0").strip().lower() in ("1", "true", "yes")
    return _RawBox(label, **corners, difficult=difficult)


def _voc_number(text: str | None, xml_path: Path, where: str) -> float:
    try:
        return float((text or "").strip())
    except ValueError:
        raise _voc_error(xml_path, f"{where} is not a number: {text!r}") from None


def _voc_error(xml_path: Path, problem: str) -> DataError:
    return DataError(
        f"Malformed Pascal VOC file {xml_path.name}: {problem}. Expected <annotation> with <filename>, "
        f"<size> (<width>, <height>) and <object>s with <name> and <bndbox> (<xmin>, <ymin>, <xmax>, "
        f"<ymax>). Received: path='{xml_path}'"
    )


# ---------------------------------------------------------------------------------------- YOLO


@dataclasses.dataclass(frozen=True)
class _YoloLayout:
    root: Path  # holds images/ and labels/
    yaml_path: Path | None


def _find_yolo_layout(root: Path) -> _YoloLayout | None:
    if root.is_file():
        return _YoloLayout(root.parent, root) if root.suffix.lower() in (".yaml", ".yml") else None
    yaml_path = first_file(root, _YOLO_YAML_NAMES)
    if (root / "images").is_dir() and (root / "labels").is_dir():
        # A split folder (<dataset>/train/images) keeps data.yaml one level up.
        return _YoloLayout(root, yaml_path or first_file(root.parent, _YOLO_YAML_NAMES))
    return _YoloLayout(root, yaml_path) if yaml_path else None


def _read_yolo(root: Path, options: _ReadOptions) -> _Annotations:
    layout = _located(_find_yolo_layout(root), "yolo", root)
    if options.image_dir is not None:
        raise InvalidArgumentError(
            f"YOLO data finds its images through its layout (images/ beside labels/, data.yaml entries); "
            f"image_dir is not used. Received: image_dir='{options.image_dir}', path='{root}'"
        )
    config = _load_yaml(layout.yaml_path) if layout.yaml_path else {}
    id_to_name = _yolo_names(config, layout, options.class_names)
    images = [_yolo_image(path, id_to_name) for path in _yolo_image_paths(layout, config, options.split)]
    return _Annotations(images, tuple(id_to_name[key] for key in sorted(id_to_name)))


def _yolo_names(config: dict, layout: _YoloLayout, class_names: tuple[str, ...] | None) -> dict[int, str]:
    """Class id → name: data.yaml's `names` (a list or an {id: name} mapping), else `class_names`."""
    names = config.get("names")
    if names is None and class_names is not None:
        return dict(enumerate(class_names))
    if isinstance(names, list):
        return {i: str(name) for i, name in enumerate(names)}
    if isinstance(names, dict) and all(_is_int_like(key) for key in names):
        return {int(key): str(name) for key, name in names.items()}
    if names is None:
        raise NotFoundError(
            f"YOLO labels hold class ids only; their names come from 'names' in data.yaml or from "
            f"class_names. Found no data.yaml with 'names'. Received: path='{layout.root}', "
            f"data_yaml={None if layout.yaml_path is None else repr(str(layout.yaml_path))}"
        )
    raise _malformed(
        layout.yaml_path, "YOLO data.yaml", f"'names' is not a list or an id-to-name mapping: {names!r}"
    )


def _is_int_like(value: Any) -> bool:
    return isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())


def _yolo_image_paths(layout: _YoloLayout, config: dict, split: str | None) -> list[Path]:
    if split is None:
        return _list_images(_existing_dir(layout.root / "images", "YOLO images folder"))
    entry = next((config[alias] for alias in split_aliases(split) if config.get(alias)), None)
    if entry is not None:
        return _yolo_entry_images(entry, _yolo_base(layout, config), layout.yaml_path)
    folder = first_dir(layout.root / "images", split_aliases(split))
    if folder is None:
        raise _split_not_found(split, layout.root, "a data.yaml entry, images/<split>/ or a split folder")
    return _list_images(folder)


def _yolo_base(layout: _YoloLayout, config: dict) -> Path:
    """The folder data.yaml's split entries are relative to: its `path` when that exists."""
    yaml_dir = layout.yaml_path.parent if layout.yaml_path else layout.root
    if isinstance(config.get("path"), str) and (yaml_dir / config["path"]).is_dir():
        return yaml_dir / config["path"]
    return yaml_dir


def _yolo_entry_images(entry: Any, base: Path, yaml_path: Path | None) -> list[Path]:
    """Images named by a data.yaml split entry: folders of images or .txt lists, one or a list."""
    paths = []
    for item in entry if isinstance(entry, list) else [entry]:
        target = base / str(item)
        if target.is_dir():
            paths += _list_images(target)
        elif target.is_file() and target.suffix.lower() == ".txt":
            lines = _read_text(target).splitlines()
            paths += [target.parent / line.strip() for line in lines if line.strip()]
        else:
            raise NotFoundError(
                f"A data.yaml split entry names neither an image folder nor a .txt list of images. "
                f"Received: entry='{item}', resolved='{target}', data_yaml='{yaml_path}'"
            )
    return paths


def _yolo_image(image_path: Path, id_to_name: dict[int, str]) -> _RawImage:
    label_path = _yolo_label_path(image_path)
    boxes = _parse_yolo_labels(label_path, id_to_name) if label_path.is_file() else ()
    return _RawImage(image_path.name, (image_path,), None, boxes, normalized=True)


def _yolo_label_path(image_path: Path) -> Path:
    """`.../images/<sub>/x.jpg` → `.../labels/<sub>/x.txt` (the last `images` part), else beside."""
    parts = list(image_path.parts)
    if "images" in parts[:-1]:
        last = len(parts) - 2 - parts[-2::-1].index("images")
        parts[last] = "labels"
    return Path(*parts).with_suffix(".txt")


def _parse_yolo_labels(label_path: Path, id_to_name: dict[int, str]) -> tuple[_RawBox, ...]:
    boxes = []
    for line_number, line in enumerate(_read_text(label_path).splitlines(), start=1):
        values = line.split()
        if not values:
            continue
        if len(values) != 5:
            raise _yolo_line_error(label_path, line_number, line, f"{len(values)} values")
        try:
            class_id = int(float(values[0]))
            cx, cy, w, h = (float(v) for v in values[1:])
        except ValueError:
            raise _yolo_line_error(label_path, line_number, line, "a value that is not a number") from None
        label = id_to_name.get(class_id, f"class_id={class_id}")
        boxes.append(_RawBox(label, xmin=cx - w / 2, ymin=cy - h / 2, xmax=cx + w / 2, ymax=cy + h / 2))
    return tuple(boxes)


def _yolo_line_error(label_path: Path, line_number: int, line: str, problem: str) -> DataError:
    return DataError(
        f"Malformed YOLO label file {label_path.name}, line {line_number}: {problem}. Expected "
        f"'class cx cy w h' (an integer class id and four numbers normalised to [0, 1]). "
        f"Received: path='{label_path}', line={line.strip()!r}"
    )


# ----------------------------------------------------------------------------------------- CSV


def _find_csv_files(root: Path) -> tuple[Path, ...] | None:
    if root.is_file():
        return (root,) if root.suffix.lower() == ".csv" else None
    found = tuple(p for p in sorted(root.iterdir()) if p.suffix.lower() == ".csv" and _has_csv_header(p))
    return found or None


def _has_csv_header(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8-sig") as handle:
            header = handle.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return set(CSV_COLUMNS) <= {column.strip().lower() for column in header.split(",")}


def _read_csv(root: Path, options: _ReadOptions) -> _Annotations:
    csv_path = _pick_csv(_located(_find_csv_files(root), "csv", root), root, options.split)
    folder = csv_path.parent
    image_dirs = _image_dirs(options.image_dir, folder, folder / "images", folder.parent / "images")
    images: dict[str, _RawImage] = {}
    for line_number, row in _csv_rows(csv_path):
        image = _csv_image(row, csv_path, line_number, image_dirs)
        if image.name in images:
            # Rows of one image are its boxes; the image is listed once.
            earlier = images[image.name]
            image = dataclasses.replace(earlier, boxes=earlier.boxes + image.boxes)
        images[image.name] = image
    return _Annotations(list(images.values()), None)


def _pick_csv(csv_files: tuple[Path, ...], root: Path, split: str | None) -> Path:
    if root.is_file():
        _reject_split(split, root, "pass the folder holding the split's CSV, or the split's CSV itself")
        return root
    if split is not None:
        wanted = {
            f"{alias}{suffix}" for alias in split_aliases(split) for suffix in ("", "_labels", "_annotations")
        }
        chosen = next((p for p in csv_files if p.stem.lower() in wanted), None)
        if chosen is None:
            listed = ", ".join(p.name for p in csv_files)
            raise _split_not_found(split, root, f"<split>.csv or <split>_labels.csv among: {listed}")
        return chosen
    if len(csv_files) > 1:
        raise InvalidArgumentError(
            f"The folder holds several detection CSVs: {', '.join(p.name for p in csv_files)}. Expected one: "
            f"pass the file itself, or a split (split='train' picks train.csv or train_labels.csv). "
            f"Received: path='{root}'"
        )
    return csv_files[0]


def _csv_rows(csv_path: Path) -> list[tuple[int, dict[str, str]]]:
    """`(line number, row)` pairs with lower-case column names and stripped values."""
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        try:
            columns = [(name or "").strip().lower() for name in reader.fieldnames or []]
            if not set(CSV_COLUMNS) <= set(columns):
                raise _csv_error(csv_path, 1, f"the header is {','.join(columns) or 'empty'}")
            return [
                (
                    reader.line_num,
                    {key.strip().lower(): (value or "").strip() for key, value in row.items() if key},
                )
                for row in reader
            ]
        except (csv.Error, UnicodeDecodeError) as error:
            raise _csv_error(csv_path, reader.line_num, str(error)) from error


def _csv_image(
    row: dict[str, str], csv_path: Path, line_number: int, image_dirs: Sequence[Path]
) -> _RawImage:
    filename = row["filename"]
    if not filename:
        raise _csv_error(csv_path, line_number, "the filename is empty")
    width, height = (_csv_number(row, key, csv_path, line_number) for key in ("width", "height"))
    size = (int(width), int(height)) if math.isfinite(width) and math.isfinite(height) else None
    return _RawImage(
        filename, _candidates(image_dirs, [filename]), size, _csv_boxes(row, csv_path, line_number)
    )


def _csv_boxes(row: dict[str, str], csv_path: Path, line_number: int) -> tuple[_RawBox, ...]:
    # A row with no class and no coordinates lists an image without boxes.
    if not any(row[key] for key in ("class", "xmin", "ymin", "xmax", "ymax")):
        return ()
    if not row["class"]:
        raise _csv_error(csv_path, line_number, "the class is empty")
    corners = {key: _csv_number(row, key, csv_path, line_number) for key in ("xmin", "ymin", "xmax", "ymax")}
    return (_RawBox(row["class"], **corners),)


def _csv_number(row: dict[str, str], key: str, csv_path: Path, line_number: int) -> float:
    """A numeric cell; an empty width/height (unknown size) reads as NaN."""
    if not row[key] and key in ("width", "height"):
        return math.nan
    try:
        return float(row[key])
    except ValueError:
        raise _csv_error(csv_path, line_number, f"'{key}' is not a number: {row[key]!r}") from None


def _csv_error(csv_path: Path, line_number: int, problem: str) -> DataError:
    return DataError(
        f"Malformed detection CSV {csv_path.name}, line {line_number}: {problem}. Expected the header "
        f"{','.join(CSV_COLUMNS)} and one row per box with numeric sizes and pixel coordinates. "
        f"Received: path='{csv_path}'"
    )


# ------------------------------------------------------------------------------- small helpers


_LOCATORS: dict[str, Callable[[Path], Any]] = {
    "coco": _find_coco_json,
    "yolo": _find_yolo_layout,
    "voc": _find_voc_layout,
    "csv": _find_csv_files,
}
_READERS: dict[str, Callable[[Path, _ReadOptions], _Annotations]] = {
    "coco": _read_coco,
    "yolo": _read_yolo,
    "voc": _read_voc,
    "csv": _read_csv,
}


def _existing_path(path: str | Path) -> Path:
    if not str(path):
        raise InvalidArgumentError("No detection data path given: pass --data PATH. Received: path=''")
    # abspath, not resolve(): normalises `..` but keeps the symlinked names a user typed.
    root = Path(os.path.abspath(Path(path).expanduser()))
    if not root.exists():
        raise NotFoundError(
            f"The detection data path does not exist. Expected a dataset folder or an annotation file "
            f"(.json, .yaml, .csv). Received: path='{path}'"
        )
    return root


def _existing_image_dir(image_dir: str | Path | None) -> Path | None:
    if image_dir is None:
        return None
    folder = Path(os.path.abspath(Path(image_dir).expanduser()))
    if not folder.is_dir():
        raise NotFoundError(f"The image folder does not exist. Received: image_dir='{image_dir}'")
    return folder


def _existing_dir(folder: Path, what: str) -> Path:
    if not folder.is_dir():
        raise NotFoundError(f"The {what} does not exist. Received: path='{folder}'")
    return folder


def _located(layout: Any, format: str, root: Path) -> Any:
    """The format's layout at `root`, or a clear error when `format` was named but does not fit."""
    if layout is None:
        raise InvalidArgumentError(
            f"The path does not hold {format.upper()} detection data: found {describe_path(root)}. "
            f"Expected {_LAYOUT_HINTS[format]}. Received: path='{root}', format='{format}'"
        )
    return layout


def _split_folder(root: Path, split: str | None) -> Path | None:
    if split is None or not root.is_dir():
        return None
    return first_dir(root, split_aliases(split))


def _split_not_found(split: str, root: Path, expected: str) -> NotFoundError:
    return NotFoundError(
        f"No '{split}' split in the detection data. Expected a <path>/{split}/ folder or {expected}. "
        f"Received: path='{root}', split='{split}'"
    )


def _reject_split(split: str | None, root: Path, hint: str) -> None:
    if split is not None:
        raise InvalidArgumentError(
            f"A split cannot be chosen inside this annotation file: {hint}. Received: path='{root}', split='{split}'"
        )


def _image_dirs(*folders: Path | None) -> tuple[Path, ...]:
    return tuple(dict.fromkeys(folder for folder in folders if folder is not None))


def _candidates(folders: Sequence[Path], names: Sequence[str]) -> tuple[Path, ...]:
    # Name-major: the exact file name in any folder beats a guessed extension.
    return tuple(dict.fromkeys(folder / name for name in names for folder in folders))


def _extensions_any_case() -> list[str]:
    return [variant for ext in sorted(IMAGE_EXTENSIONS) for variant in (ext, ext.upper())]


def _list_images(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise _malformed(path, "text", f"not UTF-8 text ({error.reason} at byte {error.start})") from error


def _load_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise _malformed(path, "JSON", f"{error.msg} at line {error.lineno}, column {error.colno}") from error


def _load_xml(path: Path) -> ElementTree.Element:
    # ElementTree does not fetch external entities, and the expat it ships with (>= 2.4.1) refuses
    # entity-expansion bombs, so annotation files from the internet are safe to parse.
    try:
        return ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise _malformed(path, "XML", str(error)) from error


def _load_yaml(path: Path) -> dict:
    try:
        config = yaml.safe_load(_read_text(path))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise _malformed(path, "YAML", f"{problem}{where}") from error
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise _malformed(path, "YOLO data.yaml", f"the top level is a {type(config).__name__}, not a mapping")
    return config


def _malformed(path: Path | None, what: str, problem: str) -> DataError:
    return DataError(
        f"Cannot read the {what} file {getattr(path, 'name', path)}: {problem}. Received: path='{path}'"
    )
