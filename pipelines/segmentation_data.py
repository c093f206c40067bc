"""Reading semantic-segmentation datasets from disk: images/ + masks/, Pascal VOC and CamVid-style folders.

Every layout is read into one in-memory form, `SegmentationDataset`: one `SegmentationRecord` (image
path, mask path, image size) per image with a usable mask, the class names, one RGB colour per class
and a `SegmentationDataReport` of what was found. Odd files never stop the read: they are dropped or
kept and counted, with examples, in the report::

    data = read_segmentation_dataset("camvid", split="train", class_names=CAMVID_CLASSES, ignore_index=11)
    print(data.report.summary())

Layouts, detected automatically (`detect_layout`):

- "images_masks": `images/` + `masks/` (or `annotations/`) with matching file names; the mask may have
  another extension or a `_mask`/`_label`/`_gt`/`_seg`/`_L` suffix (`a.jpg` ↔ `a.png`, `a_mask.png`).
  Split variant: `images/<split>/` + `masks/<split>/`. Sub-folders are matched by relative path.
- "voc": Pascal VOC, `JPEGImages/` + `SegmentationClass/` (palette PNGs whose indices are the class
  ids, 255 = void/border), with `ImageSets/Segmentation/<split>.txt` lists when a split is asked.
  Without a split every mask in `SegmentationClass/` is read; VOC's many images without a mask are
  detection-only images and are not counted as odd.
- "camvid": `<split>/` + `<split>annot/` folders (SegNet's CamVid: `train/`, `trainannot/`, ...).

`path` may be the dataset root (with `split`, or without to read every split) or a split folder.

Class ids are the mask pixel values: "L" and "P" PNGs hold them directly (for "P" the palette index,
not its colour); RGB colour masks are mapped to ids through the palette, colours not in it become
`ignore_index`. Class names and the palette come from, in order: the arguments, a `classes.txt` next to
the data (one name per line, the line order is the class id, optionally with a colour: `name r g b` or
`name,r,g,b`), VOC's 21 standard names and colours for the VOC layout, else `class_0 .. class_{K-1}`
with K one more than the largest id in the masks (ignore_index excluded). Palettes not given are the
standard PASCAL VOC colour map (`default_palette`), distinct for up to 256 classes.

CamVid (SegNet's 11-class version) masks hold 0..10 and 11 = Unlabelled: pass its names
(`CAMVID_CLASSES`, or a classes.txt) and `ignore_index=11`; the reader hard-codes no dataset's names.

Checks (`check=True`: every mask is decoded once; masks are small): unreadable images and masks and
masks whose size differs from their image are dropped; ids that are neither a class (`>= K`) nor
`ignore_index` are counted, with the ids, and the records kept: the training pipeline treats those
pixels as ignored. Per-class pixel counts (`SegmentationDataReport.class_pixel_counts`) are there for
class-balanced loss weights.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from PIL import Image

from tfapps.apps.errors import DataError, InvalidArgumentError, NotFoundError
from tfapps.pipelines.dataset_files import (
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
    "CAMVID_CLASSES",
    "CLASSES_FILE",
    "LAYOUTS",
    "MAX_EXAMPLES",
    "VOC_CLASSES",
    "VOC_PALETTE",
    "VOC_VOID_COLOR",
    "SegmentationDataReport",
    "SegmentationDataset",
    "SegmentationLayout",
    "SegmentationRecord",
    "default_palette",
    "detect_layout",
    "load_image_size",
    "load_mask",
    "read_segmentation_dataset",
    "split_records",
]

logger = logging.getLogger(__name__)

LAYOUTS = ("images_masks", "voc", "camvid")
SegmentationLayout = Literal["images_masks", "voc", "camvid"]
CLASSES_FILE = "classes.txt"
MAX_EXAMPLES = 5

# Pascal VOC 2012's classes, in the order of its mask indices.
VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
# SegNet's CamVid classes 0..10, for convenience; its masks use 11 for "Unlabelled" (ignore_index=11).
CAMVID_CLASSES = (
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
)

RGB = tuple[int, int, int]

_LAYOUT_HINTS = {
    "images_masks": "images/ + masks/ (or images/<split>/ + masks/<split>/) with matching file names",
    "voc": "Pascal VOC: JPEGImages/ + SegmentationClass/ (splits in ImageSets/Segmentation/<split>.txt)",
    "camvid": "CamVid-style: <split>/ + <split>annot/ folders",
}
_MASK_DIR_NAMES = ("masks", "annotations")
# Suffixes tools add to a mask's name; stripped only when the plain name finds no image.
_MASK_SUFFIXES = ("_mask", "_label", "_labels", "_gt", "_seg", "_L")
_LOSSY_EXTENSIONS = frozenset({".jpg", ".jpeg"})
# Reading headers and decoding small PNGs is file-system bound; threads hide the latency.
_READ_THREADS = 16

# (report field, what it counts), in the order `summary()` lists them.
_ISSUES = (
    ("missing_images", "split-list ids without an image file (skipped)"),
    ("images_without_masks", "images without a mask (skipped)"),
    ("masks_without_images", "masks without an image (ignored)"),
    ("duplicate_files", "files sharing a name with another image or mask (the first in sorted order used)"),
    ("unreadable_images", "image files whose header cannot be read (dropped)"),
    ("unreadable_masks", "mask files that cannot be decoded (dropped)"),
    ("size_mismatches", "masks whose size differs from their image (dropped)"),
    ("out_of_range_masks", "masks with ids >= the number of classes other than ignore_index (kept, ignored)"),
    ("unknown_color_masks", "colour masks with colours not in the palette (kept, ignored)"),
    ("lossy_masks", "JPEG masks: lossy compression invents ids at edges (kept)"),
)


def default_palette(num_classes: int) -> tuple[RGB, ...]:
    """The standard PASCAL VOC colour map: `num_classes` distinct RGB colours, black first.

    Up to 256 classes are VOC's bit-interleaved colours (index 255 is (224, 224, 192), VOC's void);
    beyond that, a bijective hash of the id keeps every colour distinct.

    Args:
        num_classes: how many colours, at least 0.

    Returns:
        A tuple of `(r, g, b)` integer triples.
    """
    if num_classes > 256:
        return tuple(((c >> 16) & 255, (c >> 8) & 255, c & 255) for c in _hashed_colors(num_classes))
    colors = []
    for index in range(num_classes):
        r = g = b = 0
        value = index
        for shift in range(7, -1, -1):
            r |= ((value >> 0) & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        colors.append((r, g, b))
    return tuple(colors)


def _hashed_colors(count: int) -> list[int]:
    # An odd multiplier is a bijection modulo 2**24: distinct ids give distinct colours.
    return [(i * 2654435761) & 0xFFFFFF for i in range(count)]


VOC_PALETTE = default_palette(len(VOC_CLASSES))
VOC_VOID_COLOR: RGB = default_palette(256)[255]


# --------------------------------------------------------------------------------- public types


@dataclasses.dataclass(frozen=True)
class SegmentationRecord:
    """One image and its class-id mask.

    Attributes:
        image_path: absolute path of the image file.
        mask_path: absolute path of the mask file (read it with `load_mask`).
        width: image width in pixels, from the image file's header.
        height: image height in pixels, from the image file's header.
    """

    image_path: str
    mask_path: str
    width: int
    height: int


@dataclasses.dataclass(frozen=True, eq=False)
class SegmentationDataReport:
    """What reading a segmentation dataset found: its size, pixels per class, and every odd case.

    Each odd-case count names what happened to the file; examples start with the file name (relative
    to the dataset folder). Compares by identity: `class_pixel_counts` is an array.

    Attributes:
        source: the dataset folder read.
        layout: "images_masks", "voc" or "camvid".
        split: the split read, or None.
        images: records kept.
        class_names: the class names, indexed by the mask ids.
        class_names_from: where the names came from: "argument", "classes.txt", "voc", "palette"
            (`class_i` for each colour of a palette argument) or "inferred" (from the masks).
        palette_from: where the palette came from: "argument", "classes.txt", "voc" or "generated".
        classes_file: the classes.txt read, or None.
        ignore_index: the id that marks pixels without a class.
        checked: whether the masks were decoded (False for `check=False` with known classes: the
            mask checks and pixel counts below were not done).
        class_pixel_counts: int64 `[K]` pixels per class over the kept masks (read-only), or None
            when the masks were not decoded.
        ignored_pixels: pixels equal to `ignore_index` (including unknown colours of colour masks).
        out_of_range_pixels: pixels whose id is neither a class nor `ignore_index`.
        out_of_range_ids: those pixels per id, largest count first.
        unknown_color_pixels: colour-mask pixels whose colour is not in the palette.
        missing_images: ids of a split list without an image file (skipped).
        images_without_masks: images without a mask (skipped).
        masks_without_images: masks without an image (ignored).
        duplicate_files: extra files with the name of an image or mask already found (ignored).
        unreadable_images: image files PIL cannot read the header of (dropped).
        unreadable_masks: mask files PIL cannot decode, or of an unsupported mode (dropped).
        size_mismatches: masks whose width/height differs from their image's (dropped).
        out_of_range_masks: masks holding out-of-range ids (kept; those pixels count as ignored).
        unknown_color_masks: colour masks with colours not in the palette (kept; those pixels are ignored).
        lossy_masks: JPEG masks (kept; JPEG artefacts change ids at class borders).
        examples: up to `MAX_EXAMPLES` descriptions, starting with the file name, per count above.
    """

    source: str
    layout: str
    split: str | None
    images: int
    class_names: tuple[str, ...]
    class_names_from: str
    palette_from: str
    classes_file: str | None
    ignore_index: int
    checked: bool
    class_pixel_counts: np.ndarray | None
    ignored_pixels: int = 0
    out_of_range_pixels: int = 0
    out_of_range_ids: dict[int, int] = dataclasses.field(default_factory=dict)
    unknown_color_pixels: int = 0
    missing_images: int = 0
    images_without_masks: int = 0
    masks_without_images: int = 0
    duplicate_files: int = 0
    unreadable_images: int = 0
    unreadable_masks: int = 0
    size_mismatches: int = 0
    out_of_range_masks: int = 0
    unknown_color_masks: int = 0
    lossy_masks: int = 0
    examples: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.class_pixel_counts is not None:
            object.__setattr__(self, "class_pixel_counts", read_only_array(self.class_pixel_counts, np.int64))

    def issues(self) -> dict[str, int]:
        """The non-zero odd-case counts by field name, in report order."""
        return {name: getattr(self, name) for name, _ in _ISSUES if getattr(self, name)}

    def summary(self) -> str:
        """A few readable lines: totals, pixels per class, then each odd case with examples."""
        split = f" (split '{self.split}')" if self.split else ""
        lines = [
            f"{self.layout} segmentation data from {self.source}{split}: {count_noun(self.images, 'image')}, "
            f"{count_noun(len(self.class_names), 'class')} (names: {self.class_names_from}, "
            f"palette: {self.palette_from}), ignore_index {self.ignore_index}."
        ]
        if self.class_pixel_counts is None:
            lines.append("Masks not decoded (check=False): no pixel counts or mask checks.")
        else:
            total = int(self.class_pixel_counts.sum()) + self.ignored_pixels + self.out_of_range_pixels
            shares = ", ".join(
                f"{name} {_percent(int(count), total)}"
                for name, count in zip(self.class_names, self.class_pixel_counts, strict=True)
            )
            lines.append(f"Pixels per class: {shares}; ignored {_percent(self.ignored_pixels, total)}.")
        ids = ", ".join(f"{i} x{n}" for i, n in list(self.out_of_range_ids.items())[:10])
        details = {
            "out_of_range_masks": f"{self.out_of_range_pixels} pixels; id x pixels: {ids}",
            "unknown_color_masks": f"{self.unknown_color_pixels} pixels",
        }
        lines += issue_lines(self.issues(), _ISSUES, self.examples, details)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy: plain dicts, lists, strings and numbers."""
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        data["class_names"] = list(self.class_names)
        data["class_pixel_counts"] = (
            None if self.class_pixel_counts is None else self.class_pixel_counts.tolist()
        )
        data["out_of_range_ids"] = dict(self.out_of_range_ids)
        data["examples"] = {name: list(examples) for name, examples in self.examples.items()}
        return data


@dataclasses.dataclass(frozen=True)
class SegmentationDataset:
    """A semantic-segmentation dataset read from disk.

    Attributes:
        records: one record per image with a usable mask, sorted by file name (split-list order for
            VOC splits).
        class_names: class names, indexed by the mask ids.
        palette: one `(r, g, b)` colour per class, for colour masks and for drawing predictions.
        layout: the layout read: "images_masks", "voc" or "camvid".
        ignore_index: the mask id of pixels without a class (void, border, unlabelled).
        report: the counts and examples of odd cases, and the pixels per class.
    """

    records: tuple[SegmentationRecord, ...]
    class_names: tuple[str, ...]
    palette: tuple[RGB, ...]
    layout: str
    ignore_index: int
    report: SegmentationDataReport

    def __len__(self) -> int:
        return len(self.records)

    @property
    def num_classes(self) -> int:
        """Number of classes (`ignore_index` not included unless it is a class id)."""
        return len(self.class_names)

    @property
    def class_pixel_counts(self) -> np.ndarray | None:
        """int64 `[num_classes]` pixels per class (the report's), or None when masks were not read."""
        return self.report.class_pixel_counts


# ----------------------------------------------------------------------------- public functions


def load_image_size(path: str | Path) -> tuple[int, int]:
    """The `(width, height)` of an image, from its header (PIL reads no pixels).

    Raises:
        DataError: the file cannot be opened or is not an image PIL knows.
    """
    header = read_image_header(Path(path))
    if header.size is None:
        raise DataError(
            f"Cannot read the image header of {Path(path).name}: {header.error}. Expected an image file "
            f"({', '.join(sorted(IMAGE_EXTENSIONS))}). Received: path='{path}'"
        )
    return header.size


def load_mask(
    path: str | Path, *, palette: Sequence[Sequence[int]] | None = None, ignore_index: int = 255
) -> np.ndarray:
    """Read a mask file as class ids `[H, W]`.

    "L" and "P" PNGs hold the ids directly (for "P" the palette index, not the colour it stands for):
    uint8. 16/32-bit integer masks ("I;16", "I"): int32. Colour masks ("RGB", "RGBA"; alpha ignored)
    are mapped through `palette` (the colour at index i is class i); colours not in it become
    `ignore_index`. The result is uint8 when the ids fit, otherwise int32.

    Args:
        path: the mask file.
        palette: one `(r, g, b)` per class; needed for colour masks only.
        ignore_index: the id given to colours that are not in the palette.

    Returns:
        A `[H, W]` uint8 or int32 array of class ids.

    Raises:
        DataError: the file cannot be decoded, or has a mode that holds no ids (e.g. "F", "CMYK").
        InvalidArgumentError: a colour mask without a palette, a malformed palette (not distinct
            `(r, g, b)` triples in 0..255) or a negative `ignore_index`.

    Example:
        >>> load_mask("VOC2012/SegmentationClass/2007_000032.png").dtype
        dtype('uint8')
    """
    ignore_index = _checked_ignore_index(ignore_index)
    lookup = None if palette is None else _ColorLookup(_checked_palette(palette, None), (), ignore_index)
    read = _read_mask(Path(path), lookup, ignore_index, keep=True)
    if read.error == _NO_PALETTE:
        raise InvalidArgumentError(
            f"The mask {Path(path).name} is a colour (RGB) mask: its colours are mapped to class ids "
            f"through a palette. Expected palette=[(r, g, b), ...], one colour per class. "
            f"Received: path='{path}', palette=None"
        )
    if read.error or read.ids is None:
        raise DataError(
            f"Cannot read the mask {Path(path).name}: {read.error}. Expected an 'L' or 'P' PNG of class "
            f"ids, or a colour mask with a palette. Received: path='{path}'"
        )
    return read.ids


def detect_layout(path: str | Path, split: str | None = None) -> str:
    """Name the segmentation layout at `path` (see the module docstring).

    Args:
        path: the dataset root or a split folder.
        split: the split that will be read, or None.

    Returns:
        One of `LAYOUTS`: "images_masks", "voc" or "camvid".

    Raises:
        NotFoundError: `path` or the split does not exist.
        InvalidArgumentError: nothing at `path` looks like a known layout.
        DataError: `path` is an empty folder.
    """
    return _find_layout(_existing_dir(path), _checked_split(split)).name


def read_segmentation_dataset(
    path: str | Path,
    *,
    split: str | None = None,
    class_names: Sequence[str] | None = None,
    palette: Sequence[Sequence[int]] | None = None,
    ignore_index: int = 255,
    check: bool = True,
) -> SegmentationDataset:
    """Read a semantic-segmentation dataset (images/ + masks/, Pascal VOC or CamVid) and check it.

    Args:
        path: the dataset root or a split folder (`--data PATH`).
        split: a split name ("train", "val", "test" or an alias such as "valid"): CamVid's `<split>/`
            + `<split>annot/`, VOC's `ImageSets/Segmentation/<split>.txt`, `images/<split>/` +
            `masks/<split>/`, or a `<path>/<split>/` folder holding a layout. None reads everything.
        class_names: the class names, in mask-id order. Default: classes.txt, VOC's names for the
            VOC layout, else `class_0 .. class_{K-1}` from the largest id in the masks.
        palette: one `(r, g, b)` per class (colour masks are mapped through it). Default: the
            colours of classes.txt when it lists as many classes, VOC's palette for VOC's names,
            else `default_palette`.
        ignore_index: the mask id of pixels without a class (255 for VOC; 11 for SegNet's CamVid).
            It may also be a class id, whose pixels are then ignored.
        check: decode every mask to check its size and ids and count pixels per class. With False
            only image headers are read (masks still are when K must be inferred from them).

    Returns:
        The `SegmentationDataset`. Pixels with an out-of-range id (`>= K`, not `ignore_index`) are
        counted in the report and the records kept: the training pipeline treats them as ignored.

    Raises:
        NotFoundError: `path` or the split does not exist.
        InvalidArgumentError: a bad argument, or no recognisable layout at `path`.
        DataError: an empty folder, a malformed classes.txt, colour masks without a known palette,
            or no usable image/mask pair at all.

    Example:
        >>> data = read_segmentation_dataset("VOC2012", split="train")
        >>> data.class_names[:2], data.records[0].mask_path.endswith(".png")
        (('background', 'aeroplane'), True)
    """
    root = _existing_dir(path)
    split = _checked_split(split)
    ignore_index = _checked_ignore_index(ignore_index)
    names_argument = checked_class_names(class_names)
    palette_argument = None if palette is None else _checked_palette(palette, names_argument)
    layout = _find_layout(root, split)
    tally = _Tally(root)
    pairs = _LISTERS[layout.name](layout, tally)
    classes = _known_classes(layout, names_argument, palette_argument)
    decode = check or classes.names is None
    records, reads = _read_files(pairs, classes, ignore_index, decode, tally)
    if classes.names is None:
        # Without a usable pair, the error says why (below) rather than that no id was found.
        classes = _inferred_classes(reads.values(), ignore_index, root) if records else _NO_CLASSES
    report = tally.report(
        records, reads, classes, layout=layout.name, split=split, ignore_index=ignore_index, checked=decode
    )
    if not records:
        raise _no_records_error(report, pairs)
    dataset = SegmentationDataset(
        records=tuple(records),
        class_names=classes.names,
        palette=classes.palette,
        layout=layout.name,
        ignore_index=ignore_index,
        report=report,
    )
    logger.info("%s", report.summary())
    return dataset


# ------------------------------------------------------------------------------ layout detection


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Where a layout's files are. `folders` are (image folder, mask folder) pairs; `class_dirs`
    are where a classes.txt may be, nearest first."""

    name: str
    folders: tuple[tuple[Path, Path], ...]
    class_dirs: tuple[Path, ...]
    split_list: Path | None = None  # VOC's ImageSets/Segmentation/<split>.txt


def _find_layout(root: Path, split: str | None) -> _Layout:
    if split is None:
        layout = _layout_without_split(root)
        if layout is not None:
            return layout
        raise _no_layout_error(root, split)
    aliases = split_aliases(split)
    layout = _layout_with_split(root, split, aliases)
    if layout is not None:
        return layout
    folder = first_dir(root, aliases)
    if folder is not None:
        inner = _layout_without_split(folder)
        if inner is not None:
            return dataclasses.replace(inner, class_dirs=_unique(*inner.class_dirs, root))
    # A split folder given together with its own split name: read it.
    if root.name.lower() in {alias.lower() for alias in aliases}:
        layout = _layout_without_split(root)
        if layout is not None:
            return layout
    if _layout_without_split(root) is not None or _camvid_pairs(root):
        raise _split_not_found(split, root)
    raise _no_layout_error(root, split)


def _layout_with_split(root: Path, split: str, aliases: tuple[str, ...]) -> _Layout | None:
    for alias in aliases:
        if (root / alias).is_dir() and (root / f"{alias}annot").is_dir():
            return _Layout("camvid", ((root / alias, root / f"{alias}annot"),), (root,))
    if _is_voc(root):
        split_dir = root / "ImageSets" / "Segmentation"
        list_file = (
            first_file(split_dir, [f"{alias}.txt" for alias in aliases]) if split_dir.is_dir() else None
        )
        if list_file is None:
            available = sorted(p.stem for p in split_dir.glob("*.txt")) if split_dir.is_dir() else []
            raise _split_not_found(
                split, root, f"ImageSets/Segmentation/<split>.txt among: {', '.join(available) or 'none'}"
            )
        return _Layout("voc", ((root / "JPEGImages", root / "SegmentationClass"),), (root,), list_file)
    mask_dir = first_dir(root, _MASK_DIR_NAMES)
    if (root / "images").is_dir() and mask_dir is not None:
        image_split = first_dir(root / "images", aliases)
        mask_split = first_dir(mask_dir, aliases)
        if image_split is not None and mask_split is not None:
            return _Layout("images_masks", ((image_split, mask_split),), (root,))
        if image_split is not None:
            raise _split_not_found(split, root, f"a {mask_dir.name}/{split}/ folder beside images/{split}/")
    return None


def _layout_without_split(root: Path) -> _Layout | None:
    if _is_voc(root):
        return _Layout("voc", ((root / "JPEGImages", root / "SegmentationClass"),), (root,))
    mask_dir = first_dir(root, _MASK_DIR_NAMES)
    if (root / "images").is_dir() and mask_dir is not None:
        return _Layout("images_masks", ((root / "images", mask_dir),), (root,))
    annot = root.parent / f"{root.name}annot"
    if annot.is_dir():
        return _Layout("camvid", ((root, annot),), (root, root.parent))
    pairs = _camvid_pairs(root)
    if pairs:
        return _Layout("camvid", pairs, (root,))
    return None


def _is_voc(root: Path) -> bool:
    return (root / "JPEGImages").is_dir() and (root / "SegmentationClass").is_dir()


def _camvid_pairs(root: Path) -> tuple[tuple[Path, Path], ...]:
    return tuple(
        (folder, root / f"{folder.name}annot")
        for folder in sorted(root.iterdir())
        if folder.is_dir() and not folder.name.startswith(".") and (root / f"{folder.name}annot").is_dir()
    )


def _no_layout_error(root: Path, split: str | None) -> Exception:
    described = describe_path(root)
    if described == "an empty folder":
        return DataError(
            f"The segmentation data folder is empty. Expected one of: {'; '.join(_LAYOUT_HINTS.values())}. "
            f"Received: path='{root}'"
        )
    return InvalidArgumentError(
        f"Cannot tell the segmentation data layout: found {described}. Expected one of: "
        f"{'; '.join(_LAYOUT_HINTS.values())}. Received: path='{root}', split={split!r}"
    )


def _split_not_found(split: str, root: Path, expected: str | None = None) -> NotFoundError:
    expected = expected or (
        f"{split}/ + {split}annot/ (CamVid), ImageSets/Segmentation/{split}.txt (VOC), "
        f"images/{split}/ + masks/{split}/, or a {split}/ folder holding one of these"
    )
    return NotFoundError(
        f"No '{split}' split in the segmentation data. Expected {expected}. "
        f"Received: path='{root}', split='{split}'"
    )


# ---------------------------------------------------------------------------- listing the pairs


class _Pair(NamedTuple):
    name: str  # the image's path relative to the dataset folder, for the report
    image: Path
    mask: Path


def _list_images_masks(layout: _Layout, tally: _Tally) -> list[_Pair]:
    ((image_dir, mask_dir),) = layout.folders
    images = _index_files(image_dir, tally)
    masks = _index_files(mask_dir, tally, prefer_png=True)
    return _match(images, _unsuffixed(masks, images), tally)


def _list_camvid(layout: _Layout, tally: _Tally) -> list[_Pair]:
    pairs: list[_Pair] = []
    for image_dir, mask_dir in layout.folders:
        images = _index_files(image_dir, tally, prefix=image_dir.name)
        masks = _index_files(mask_dir, tally, prefix=image_dir.name, prefer_png=True)
        pairs += _match(images, masks, tally)
    return pairs


def _list_voc(layout: _Layout, tally: _Tally) -> list[_Pair]:
    ((image_dir, mask_dir),) = layout.folders
    images = _index_files(image_dir, tally, recursive=False, note_duplicates=False)
    masks = _index_files(mask_dir, tally, recursive=False, prefer_png=True)
    if layout.split_list is None:
        # Most VOC images have boxes only: an image without a mask is no odd case here.
        return _match({key: images[key] for key in masks if key in images}, masks, tally)
    pairs = []
    for image_id in _read_split_ids(layout.split_list):
        image, mask = images.get(image_id), masks.get(image_id)
        if image is None:
            tally.note(
                "missing_images", f"{layout.split_list.name}: id '{image_id}' has no image in JPEGImages/"
            )
        elif mask is None:
            tally.note("images_without_masks", tally.name(image))
        else:
            pairs.append(_Pair(tally.name(image), image, mask))
    return pairs


def _index_files(
    folder: Path,
    tally: _Tally,
    *,
    prefix: str = "",
    recursive: bool = True,
    prefer_png: bool = False,
    note_duplicates: bool = True,
) -> dict[str, Path]:
    """Image files by key: the path relative to `folder` without its extension (after `prefix/`)."""
    files = folder.rglob("*") if recursive else folder.iterdir()
    found = [
        p
        for p in files
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.is_file()
    ]
    # PNG first for masks: a lossless copy beside a JPEG one is the one to use.
    found.sort(key=lambda p: (p.with_suffix(""), prefer_png and p.suffix.lower() != ".png", p.name))
    index: dict[str, Path] = {}
    for path in found:
        key = "/".join(filter(None, (prefix, path.relative_to(folder).with_suffix("").as_posix())))
        if key in index:
            if note_duplicates:
                tally.note(
                    "duplicate_files", f"{tally.name(path)} (same name as {index[key].name}, not used)"
                )
            continue
        index[key] = path
    return index


def _unsuffixed(masks: dict[str, Path], images: dict[str, Path]) -> dict[str, Path]:
    """Mask keys with a tool's suffix (`a_mask`) renamed to their image's key when that is free."""
    renamed: dict[str, Path] = {}
    for key, path in masks.items():
        if key not in images:
            stems = (key.removesuffix(suffix) for suffix in _MASK_SUFFIXES if key.endswith(suffix))
            key = next((s for s in stems if s in images and s not in masks and s not in renamed), key)
        renamed[key] = path
    return renamed


def _match(images: dict[str, Path], masks: dict[str, Path], tally: _Tally) -> list[_Pair]:
    pairs = []
    for key in sorted(images):
        if key in masks:
            pairs.append(_Pair(tally.name(images[key]), images[key], masks[key]))
        else:
            tally.note("images_without_masks", tally.name(images[key]))
    for key in sorted(set(masks) - set(images)):
        tally.note("masks_without_images", tally.name(masks[key]))
    return pairs


def _read_split_ids(list_file: Path) -> list[str]:
    return [line.split()[0] for line in _read_text(list_file).splitlines() if line.strip()]


_LISTERS = {"images_masks": _list_images_masks, "voc": _list_voc, "camvid": _list_camvid}


# ------------------------------------------------------------------------- class names, palette


@dataclasses.dataclass(frozen=True)
class _Classes:
    names: tuple[str, ...] | None  # None: inferred from the masks
    palette: tuple[RGB, ...]
    names_from: str
    palette_from: str
    classes_file: Path | None = None

    def lookup(self, ignore_index: int) -> _ColorLookup | None:
        """Colour → id for colour masks; None when the palette was generated (it means nothing)."""
        if self.palette_from == "generated":
            return None
        void = (VOC_VOID_COLOR,) if self.palette_from == "voc" else ()
        return _ColorLookup(self.palette, void, ignore_index)


_NO_CLASSES = _Classes((), (), "inferred", "generated")


def _known_classes(
    layout: _Layout, names: tuple[str, ...] | None, palette: tuple[RGB, ...] | None
) -> _Classes:
    classes_file = _first_file_in(layout.class_dirs, CLASSES_FILE)
    file_names, file_palette = _read_classes_file(classes_file) if classes_file else (None, None)
    names_from = "argument"
    if names is None and palette is not None and file_names is None and layout.name != "voc":
        names, names_from = tuple(f"class_{i}" for i in range(len(palette))), "palette"
    if names is None and file_names is not None:
        names, names_from = file_names, CLASSES_FILE
    if names is None and layout.name == "voc":
        names, names_from = VOC_CLASSES, "voc"
    if names is None:
        return _Classes(None, (), "inferred", "generated", classes_file)
    if palette is not None:
        if len(palette) != len(names):
            raise InvalidArgumentError(
                f"The palette needs one colour per class: {len(names)} classes (from {names_from}), "
                f"{len(palette)} colours. Received: palette={list(palette)!r}, class_names={list(names)!r}"
            )
        return _Classes(names, palette, names_from, "argument", classes_file)
    if file_palette is not None and len(file_palette) == len(names):
        return _Classes(names, file_palette, names_from, CLASSES_FILE, classes_file)
    if names == VOC_CLASSES:
        return _Classes(names, VOC_PALETTE, names_from, "voc", classes_file)
    return _Classes(names, default_palette(len(names)), names_from, "generated", classes_file)


def _inferred_classes(reads: Iterable[_MaskRead], ignore_index: int, root: Path) -> _Classes:
    ids = [int(i) for read in reads if read.values is not None for i in read.values if i != ignore_index]
    if not ids:
        raise DataError(
            f"Cannot infer the classes: the masks hold no id other than ignore_index. Expected class ids "
            f"0..K-1 in the masks, or class_names / a {CLASSES_FILE}. Received: path='{root}', "
            f"ignore_index={ignore_index}"
        )
    count = max(ids) + 1
    return _Classes(
        tuple(f"class_{i}" for i in range(count)), default_palette(count), "inferred", "generated"
    )


def _read_classes_file(path: Path) -> tuple[tuple[str, ...], tuple[RGB, ...] | None]:
    """Names (line order is the id) and, when every line has one, colours of a classes.txt."""
    entries: list[tuple[int, str, RGB | None]] = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        text = line.strip()
        if text and not text.startswith("#"):
            entries.append((number, *_parse_class_line(text, path, number)))
    if not entries:
        raise _classes_file_error(path, None, "", "it lists no class")
    colored = [color is not None for _, _, color in entries]
    if any(colored) and not all(colored):
        number, text = next((n, name) for n, name, color in entries if color is None)
        raise _classes_file_error(path, number, text, "some lines have a colour and this one has none")
    names = [name for _, name, _ in entries]
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        number = next(n for n, name, _ in entries if name == repeated[0])
        raise _classes_file_error(path, number, repeated[0], f"repeated class name(s): {', '.join(repeated)}")
    palette = tuple(color for _, _, color in entries if color is not None) if all(colored) else None
    if palette is not None and len(set(palette)) != len(palette):
        color, _ = Counter(palette).most_common(1)[0]
        number, text = next((n, name) for n, name, c in entries if c == color)
        raise _classes_file_error(path, number, text, f"the colour {color} is given to several classes")
    return tuple(names), palette


def _parse_class_line(text: str, path: Path, number: int) -> tuple[str, RGB | None]:
    if "," in text:
        parts = [part.strip() for part in text.split(",")]
        if len(parts) != 4 or not parts[0]:
            raise _classes_file_error(path, number, text, f"{len(parts)} comma-separated fields")
        return parts[0], _parse_color(parts[1:], path, number, text)
    tokens = text.split()
    # Three trailing numbers are a colour; a name may have spaces ("traffic light 250 170 30").
    if len(tokens) >= 4 and all(_is_number(token) for token in tokens[-3:]):
        return " ".join(tokens[:-3]), _parse_color(tokens[-3:], path, number, text)
    return text, None


def _parse_color(values: Sequence[str], path: Path, number: int, text: str) -> RGB:
    try:
        color = tuple(int(value) for value in values)
    except ValueError:
        raise _classes_file_error(path, number, text, "a colour value is not an integer") from None
    if not all(0 <= value <= 255 for value in color):
        raise _classes_file_error(path, number, text, "a colour value is outside 0..255")
    return color  # type: ignore[return-value]


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _classes_file_error(path: Path, number: int | None, text: str, problem: str) -> DataError:
    where = f", line {number}" if number is not None else ""
    return DataError(
        f"Malformed {path.name}{where}: {problem}. Expected one class name per line, in class-id order, "
        f"optionally each with its colour as 'name r g b' or 'name,r,g,b' (integers 0..255). "
        f"Received: path='{path}'" + (f", line={text!r}" if number is not None else "")
    )


# ---------------------------------------------------------------------------------- mask decoding


_NO_PALETTE = "a colour mask, and no palette to map its colours to class ids"


class _ColorLookup:
    """Maps RGB pixels to class ids by binary search over the palette's packed colours."""

    def __init__(self, palette: Sequence[RGB], void_colors: Sequence[RGB], ignore_index: int):
        packed = {_pack(color): index for index, color in enumerate(palette)}
        void = {_pack(color): ignore_index for color in void_colors if _pack(color) not in packed}
        table = sorted({**packed, **void}.items())
        self.codes = np.array([code for code, _ in table], np.int64)
        self.ids = np.array([index for _, index in table], np.int64)
        self.ignore_index = ignore_index
        self.dtype = np.uint8 if max(len(palette) - 1, ignore_index) <= 255 else np.int32

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, int]:
        """`[H, W, 3]` uint8 → (`[H, W]` ids, pixels of unknown colours)."""
        codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
        # The palette is never empty: it has one colour per class.
        position = np.minimum(np.searchsorted(self.codes, codes), len(self.codes) - 1)
        known = self.codes[position] == codes
        ids = np.where(known, self.ids[position], self.ignore_index)
        return ids.astype(self.dtype), int(codes.size - np.count_nonzero(known))


class _MaskRead(NamedTuple):
    size: tuple[int, int] | None  # (width, height)
    error: str  # "" when decoded
    values: np.ndarray | None = None  # distinct ids in the mask
    counts: np.ndarray | None = None  # pixels per value
    unknown_color_pixels: int = 0
    ids: np.ndarray | None = None  # the decoded mask itself, only when asked to keep it


def _read_mask(
    path: Path, lookup: _ColorLookup | None, ignore_index: int, *, keep: bool = False
) -> _MaskRead:
    try:
        with Image.open(path) as image:
            image.load()
            size, mode = image.size, image.mode
            if mode in ("RGB", "RGBA") and lookup is None:
                return _MaskRead(size, _NO_PALETTE)
            ids, unknown = _mask_ids(image, lookup)
    # PIL reports a broken or unknown file with any of these, depending on the plugin.
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        return _MaskRead(None, f"{type(error).__name__}: {error}")
    if ids is None:
        return _MaskRead(size, f"mode '{mode}' holds no class ids (expected L, P, I, I;16 or a colour mask)")
    if keep:
        return _MaskRead(size, "", ids=ids, unknown_color_pixels=unknown)
    if ids.dtype == np.uint8:
        counts = np.bincount(ids.ravel(), minlength=256)
        values = np.flatnonzero(counts)
        counts = counts[values]
    else:
        values, counts = np.unique(ids, return_counts=True)
    return _MaskRead(size, "", values.astype(np.int64), counts.astype(np.int64), unknown)


def _mask_ids(image: Image.Image, lookup: _ColorLookup | None) -> tuple[np.ndarray | None, int]:
    mode = image.mode
    if mode in ("L", "P"):
        return np.asarray(image, dtype=np.uint8), 0
    if mode in ("LA", "PA"):
        # The alpha channel is no class: keep the grey level or palette index.
        return np.asarray(image, dtype=np.uint8)[..., 0].copy(), 0
    if mode == "1":
        return np.asarray(image, dtype=np.uint8), 0
    if mode == "I" or mode.startswith("I;16"):
        return np.asarray(image).astype(np.int32), 0
    if mode in ("RGB", "RGBA") and lookup is not None:
        return lookup(np.asarray(image.convert("RGB")))
    return None, 0


# -------------------------------------------------------------------- reading and checking files


def _read_files(
    pairs: Sequence[_Pair], classes: _Classes, ignore_index: int, decode: bool, tally: _Tally
) -> tuple[list[SegmentationRecord], dict[_Pair, _MaskRead]]:
    """Records of the readable pairs (of matching size, when decoding), and each kept mask's ids."""
    lookup = classes.lookup(ignore_index)
    with ThreadPoolExecutor(max_workers=_READ_THREADS) as pool:
        headers = list(pool.map(lambda pair: read_image_header(pair.image), pairs))
        masks = list(
            pool.map(lambda pair: _read_mask(pair.mask, lookup, ignore_index), pairs) if decode else []
        )
    colored = [pair for pair, read in zip(pairs, masks, strict=False) if read.error == _NO_PALETTE]
    if colored:
        raise _colour_masks_error(colored, classes, tally)
    records, reads = [], {}
    for index, (pair, header) in enumerate(zip(pairs, headers, strict=True)):
        if pair.mask.suffix.lower() in _LOSSY_EXTENSIONS:
            tally.note("lossy_masks", tally.name(pair.mask))
        if header.size is None:
            tally.note("unreadable_images", f"{pair.name}: {header.error}")
            continue
        if decode:
            mask = masks[index]
            if mask.error:
                tally.note("unreadable_masks", f"{tally.name(pair.mask)}: {mask.error}")
                continue
            if mask.size != header.size:
                tally.note(
                    "size_mismatches",
                    f"{tally.name(pair.mask)}: mask {_size(mask.size)}, image {_size(header.size)}",
                )
                continue
            reads[pair] = mask
        width, height = header.size
        records.append(SegmentationRecord(str(pair.image), str(pair.mask), width, height))
    return records, reads


def _colour_masks_error(colored: Sequence[_Pair], classes: _Classes, tally: _Tally) -> DataError:
    examples = ", ".join(tally.name(pair.mask) for pair in colored[:MAX_EXAMPLES])
    source = "inferred from the masks" if classes.names is None else f"from {classes.names_from}"
    return DataError(
        f"{count_noun(len(colored), 'mask')} are colour (RGB) masks, e.g. {examples}, but no palette says which "
        f"colour is which class (class names {source}, palette generated). Expected 'L' or 'P' masks of "
        f"class ids, or the colours: palette=[(r, g, b), ...] or a {CLASSES_FILE} with 'name r g b' lines. "
        f"Received: path='{tally.root}', masks={len(colored)}"
    )


class _Tally(IssueTally):
    """Counts and examples of odd cases, gathered while listing and reading files."""

    def __init__(self, root: Path):
        super().__init__(MAX_EXAMPLES)
        self.root = root

    def name(self, path: Path) -> str:
        """The file's path relative to the dataset folder (or its parent, for a CamVid split)."""
        for base in (self.root, self.root.parent):
            if path.is_relative_to(base):
                return path.relative_to(base).as_posix()
        return path.name

    def report(
        self,
        records: Sequence[SegmentationRecord],
        reads: dict[_Pair, _MaskRead],
        classes: _Classes,
        *,
        layout: str,
        split: str | None,
        ignore_index: int,
        checked: bool,
    ) -> SegmentationDataReport:
        names = classes.names or ()  # always known here: inferred before the report
        num_classes = len(names)
        per_class = np.zeros(num_classes, np.int64)
        ignored = out_of_range = unknown_color = 0
        out_of_range_ids: Counter[int] = Counter()
        for pair, read in reads.items():
            if read.values is None or read.counts is None:
                continue
            is_ignore = read.values == ignore_index
            is_class = (read.values < num_classes) & ~is_ignore
            np.add.at(per_class, read.values[is_class], read.counts[is_class])
            ignored += int(read.counts[is_ignore].sum())
            outside = ~is_class & ~is_ignore
            if outside.any():
                pixels = dict(zip(read.values[outside].tolist(), read.counts[outside].tolist(), strict=True))
                out_of_range_ids.update(pixels)
                out_of_range += sum(pixels.values())
                shown = ", ".join(str(i) for i in list(pixels)[:5])
                self.note("out_of_range_masks", f"{self.name(pair.mask)}: ids {shown}")
            if read.unknown_color_pixels:
                unknown_color += read.unknown_color_pixels
                self.note(
                    "unknown_color_masks", f"{self.name(pair.mask)}: {read.unknown_color_pixels} pixels"
                )
        return SegmentationDataReport(
            source=str(self.root),
            layout=layout,
            split=split,
            images=len(records),
            class_names=names,
            class_names_from=classes.names_from,
            palette_from=classes.palette_from,
            classes_file=None if classes.classes_file is None else str(classes.classes_file),
            ignore_index=ignore_index,
            checked=checked,
            class_pixel_counts=per_class if checked else None,
            ignored_pixels=ignored,
            out_of_range_pixels=out_of_range,
            out_of_range_ids=dict(out_of_range_ids.most_common()),
            unknown_color_pixels=unknown_color,
            examples={name: tuple(self.examples[name]) for name, _ in _ISSUES if self.examples[name]},
            **{name: self.counts[name] for name, _ in _ISSUES},
        )


def _no_records_error(report: SegmentationDataReport, pairs: Sequence[_Pair]) -> DataError:
    if not pairs:
        listed = {name: getattr(report, name) for name in ("images_without_masks", "masks_without_images")}
        examples = [e for name in listed for e in report.examples.get(name, ())]
        found = f" Unmatched files, e.g.: {'; '.join(examples)}." if examples else ""
        return DataError(
            f"The segmentation data has no image with a mask ({listed['images_without_masks']} images "
            f"without a mask, {listed['masks_without_images']} masks without an image).{found} Expected "
            f"each image to have a mask of the same name. Received: path='{report.source}', "
            f"layout='{report.layout}', split={report.split!r}"
        )
    dropped = ("unreadable_images", "unreadable_masks", "size_mismatches")
    examples = [e for name in dropped for e in report.examples.get(name, ())][:MAX_EXAMPLES]
    return DataError(
        f"No usable image/mask pair in the segmentation data: of {len(pairs)} pairs, "
        f"{report.unreadable_images} images and {report.unreadable_masks} masks are unreadable and "
        f"{report.size_mismatches} masks differ in size from their image; e.g. {'; '.join(examples)}. "
        f"Expected readable images with masks of the same size. Received: path='{report.source}', "
        f"layout='{report.layout}', split={report.split!r}"
    )


# ------------------------------------------------------------------------------- small helpers


def _existing_dir(path: str | Path) -> Path:
    if not str(path):
        raise InvalidArgumentError("No segmentation data path given: pass --data PATH. Received: path=''")
    # abspath, not resolve(): normalises `..` but keeps the symlinked names a user typed.
    root = Path(os.path.abspath(Path(path).expanduser()))
    if not root.exists():
        raise NotFoundError(
            f"The segmentation data path does not exist. Expected a dataset folder. Received: path='{path}'"
        )
    if not root.is_dir():
        raise InvalidArgumentError(
            f"The segmentation data path is a file. Expected a dataset folder "
            f"({'; '.join(_LAYOUT_HINTS.values())}). Received: path='{path}'"
        )
    return root


def _checked_split(split: str | None) -> str | None:
    if split is not None and (not isinstance(split, str) or not split.strip() or "/" in split):
        raise InvalidArgumentError(
            f"split must be a split name such as 'train', 'val' or 'test', or None. Received: split={split!r}"
        )
    return split


def _checked_ignore_index(ignore_index: int) -> int:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int | np.integer) or ignore_index < 0:
        raise InvalidArgumentError(
            f"ignore_index must be a non-negative integer mask id (255 for VOC, 11 for SegNet's CamVid). "
            f"Received: ignore_index={ignore_index!r}"
        )
    return int(ignore_index)


def _checked_palette(palette: Sequence[Sequence[int]], names: tuple[str, ...] | None) -> tuple[RGB, ...]:
    def is_rgb(color: Any) -> bool:
        return (
            isinstance(color, Sequence | np.ndarray)
            and not isinstance(color, str)
            and len(color) == 3
            and all(
                isinstance(v, int | np.integer) and not isinstance(v, bool) and 0 <= v <= 255 for v in color
            )
        )

    colors = (
        list(palette) if isinstance(palette, Sequence | np.ndarray) and not isinstance(palette, str) else []
    )
    if not colors or not all(is_rgb(color) for color in colors):
        raise InvalidArgumentError(
            f"palette must be a non-empty sequence of (r, g, b) integer triples in 0..255, one per class. "
            f"Received: palette={palette!r}"
        )
    checked = tuple((int(c[0]), int(c[1]), int(c[2])) for c in colors)
    repeated = sorted(color for color, count in Counter(checked).items() if count > 1)
    if repeated:
        raise InvalidArgumentError(
            f"palette colours must be distinct (a colour mask maps each colour to one class); repeated: "
            f"{', '.join(map(str, repeated))}. Received: palette={palette!r}"
        )
    if names is not None and len(checked) != len(names):
        raise InvalidArgumentError(
            f"The palette needs one colour per class: {len(names)} class names, {len(checked)} colours. "
            f"Received: palette={palette!r}, class_names={list(names)!r}"
        )
    return checked


def _first_file_in(folders: Iterable[Path], name: str) -> Path | None:
    return next((folder / name for folder in folders if (folder / name).is_file()), None)


def _unique(*folders: Path) -> tuple[Path, ...]:
    return tuple(dict.fromkeys(folders))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(
            f"Cannot read the text file {path.name}: not UTF-8 text ({error.reason} at byte {error.start}). "
            f"Received: path='{path}'"
        ) from error


def _pack(color: RGB) -> int:
    return (color[0] << 16) | (color[1] << 8) | color[2]


def _size(size: tuple[int, int] | None) -> str:
    return "unknown" if size is None else f"{size[0]}x{size[1]}"


def _percent(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}%" if total else "0%"
