"""Reading labelled files from disk: class folders and `path,label` CSVs, checked before training.

Every image is decoded once by TensorFlow's own decoder before training starts, so a corrupt or
unsupported file is reported by name up front (or skipped and counted) instead of stopping an
epoch half-way.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfapps.apps.errors import DataError
from tfapps.pipelines.splits import SPLIT_NAMES

__all__ = [
    "IMAGE_EXTENSIONS",
    "SPLIT_NAMES",
    "LabelledFiles",
    "find_split",
    "list_labelled_images",
    "scan_images",
]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif"})


@dataclasses.dataclass
class LabelledFiles:
    """Files with integer labels.

    Attributes:
        paths: file paths.
        labels: class index of each path.
        class_names: class names, indexed by label.
        skipped: `(path, reason)` of files left out because they could not be decoded.
        channels: the most channels any image has (1 for an all-grayscale set, else 3).
    """

    paths: list[str]
    labels: list[int]
    class_names: tuple[str, ...]
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    channels: int = 3

    def counts(self) -> dict[str, int]:
        """Number of files per class name (zero for classes with none)."""
        counter = Counter(self.labels)
        return {name: counter.get(i, 0) for i, name in enumerate(self.class_names)}


def find_split(path: str | Path, split: str) -> Path | None:
    """Return `<path>/<split>` when `path` is a split layout (`train/`, `val/`, `test/` of class folders)."""
    root = Path(path)
    if not root.is_dir():
        return None
    # Hidden folders (.ipynb_checkpoints, .git) are neither splits nor classes, as in `_from_folder`.
    children = {p.name.lower(): p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    known = {name for names in SPLIT_NAMES.values() for name in names}
    if not children or not set(children) <= known:
        return None
    for name in SPLIT_NAMES[split]:
        if name in children:
            return children[name]
    return None


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _from_folder(root: Path) -> tuple[list[str], list[str]]:
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(
            f"An image-classification folder needs one sub-folder per class (e.g. cats/, dogs/). "
            f"Found no sub-folders. Received: path='{root}'"
        )
    paths, names = [], []
    empty = []
    for class_dir in class_dirs:
        files = sorted(p for p in class_dir.rglob("*") if p.is_file() and _is_image(p))
        if not files:
            empty.append(class_dir.name)
        paths += [str(p) for p in files]
        names += [class_dir.name] * len(files)
    if empty:
        raise DataError(
            f"Class folder(s) with no images ({', '.join(sorted(IMAGE_EXTENSIONS))}): {', '.join(empty)}. "
            f"Remove them or add images. Received: path='{root}'"
        )
    return paths, names


def _from_csv(csv_path: Path) -> tuple[list[str], list[str]]:
    paths, names = [], []
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"path", "label"} <= {f.strip() for f in reader.fieldnames}:
            raise DataError(
                f"An image CSV needs a header with 'path' and 'label' columns. "
                f"Received: columns={reader.fieldnames}, path='{csv_path}'"
            )
        for line, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            if not row.get("path") or not row.get("label"):
                raise DataError(f"Empty path or label on line {line}. Received: path='{csv_path}', row={row}")
            file = (csv_path.parent / row["path"]).resolve()
            if not file.is_file():
                raise DataError(
                    f"Image listed on line {line} does not exist. Received: path='{file}' in '{csv_path}'"
                )
            paths.append(str(file))
            names.append(row["label"])
    if not paths:
        raise DataError(f"The CSV lists no images. Received: path='{csv_path}'")
    return paths, names


def scan_images(paths: list[str], parallelism: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Decode every file once with TensorFlow; return `(ok, channels)` arrays aligned with `paths`.

    Files TensorFlow cannot decode (corrupt, truncated, empty, unsupported variants) get
    `ok=False`. Uses tf.data's parallel map, so it costs about one pass of the input pipeline.
    """
    if not paths:
        return np.zeros(0, bool), np.zeros(0, np.int64)

    def probe(index, path):
        image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
        return index, tf.shape(image)[-1]

    dataset = (
        tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), paths))
        .map(probe, num_parallel_calls=parallelism, deterministic=False)
        .ignore_errors()
        .batch(4096)
    )
    ok = np.zeros(len(paths), bool)
    channels = np.zeros(len(paths), np.int64)
    for indices, chans in dataset.as_numpy_iterator():
        ok[indices] = True
        channels[indices] = chans
    return ok, channels


def list_labelled_images(
    path: str | Path,
    class_names: tuple[str, ...] = (),
    skip_corrupt: bool = False,
) -> LabelledFiles:
    """List and check a labelled image set: a folder of class folders or a `path,label` CSV.

    Args:
        path: the folder or CSV.
        class_names: fixed class order (e.g. from training, when reading validation or test
            data); empty means the sorted class names found.
        skip_corrupt: leave out files that cannot be decoded instead of failing.

    Returns:
        The checked `LabelledFiles`.

    Raises:
        DataError: missing path, no images, an empty class folder, fewer than two classes, labels
            unknown to `class_names`, or undecodable files when `skip_corrupt` is false.
    """
    root = Path(path)
    if not str(path):
        raise DataError("No data path given: pass --data PATH (or set data.train). Received: path=''")
    if root.is_file() and root.suffix.lower() == ".csv":
        paths, names = _from_csv(root)
    elif root.is_dir():
        paths, names = _from_folder(root)
    else:
        raise DataError(
            f"Image data must be a folder of class folders or a .csv with path,label columns; "
            f"this path does not exist or is neither. Received: path='{root}'"
        )
    found = tuple(sorted(set(names)))
    if not class_names:
        class_names = found
        if len(class_names) < 2:
            raise DataError(
                f"Classification needs at least two classes; found {len(class_names)} ({', '.join(class_names)}). "
                f"Received: path='{root}'"
            )
    unknown = sorted(set(found) - set(class_names))
    if unknown:
        raise DataError(
            f"Labels not seen in training: {', '.join(unknown[:10])}. Expected labels among: "
            f"{', '.join(class_names)}. Received: path='{root}'"
        )
    index = {name: i for i, name in enumerate(class_names)}
    labels = [index[name] for name in names]

    ok, channels = scan_images(paths)
    bad = [p for p, good in zip(paths, ok, strict=True) if not good]
    if bad and not skip_corrupt:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise DataError(
            f"{len(bad)} image file(s) cannot be decoded (corrupt, truncated or an unsupported variant): {shown}. "
            f"Fix or remove them, or set data.skip_corrupt=true to skip them. Received: path='{root}'"
        )
    skipped = [(p, "cannot be decoded") for p in bad]
    if skipped:
        logger.warning(
            "Skipping %d undecodable image(s) under %s, e.g. %s", len(skipped), root, skipped[0][0]
        )
    keep = np.flatnonzero(ok)
    files = LabelledFiles(
        paths=[paths[i] for i in keep],
        labels=[labels[i] for i in keep],
        class_names=tuple(class_names),
        skipped=skipped,
        # Gray (+alpha) everywhere means a grayscale set; one colour image makes it RGB.
        channels=1 if np.isin(channels[keep], (1, 2)).all() else 3,
    )
    if not files.paths:
        raise DataError(f"No decodable images left after skipping corrupt files. Received: path='{root}'")
    return files
