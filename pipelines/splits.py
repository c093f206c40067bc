"""Split names and deterministic hold-out splits of records.

`SPLIT_NAMES` and `canonical_split` give the names a reader accepts for its `split` argument (and
the folder names of split layouts); `split_records` and `train_and_validation` hold out a seeded
validation share of image records when no validation set is given. TensorFlow-free, so the
readers that use it import fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from tfapps.apps.errors import InvalidArgumentError

__all__ = ["SPLIT_NAMES", "canonical_split", "split_records", "train_and_validation"]

# Folder names of each split in split layouts (`train/`, `val/`, `test/` and their aliases).
SPLIT_NAMES = {
    "train": ("train", "training"),
    "val": ("val", "validation", "valid", "dev"),
    "test": ("test", "testing"),
}

Record = TypeVar("Record", bound=Any)


def canonical_split(split: str) -> str:
    """The canonical split name ("train", "val", "test" or "predict") for a name or alias.

    Case and surrounding whitespace are ignored; the aliases are those of `SPLIT_NAMES`
    ("validation", "valid", "dev", "training", "testing"). "predict" is the readers' mode for
    inputs without labels or targets.

    Args:
        split: the `split` argument a reader was given.

    Raises:
        InvalidArgumentError: `split` is not a string naming a split or an alias of one.

    Example:
        >>> canonical_split(" Dev "), canonical_split("predict")
        ('val', 'predict')
    """
    if isinstance(split, str):
        name = split.strip().lower()
        if name == "predict":
            return name
        for canonical, aliases in SPLIT_NAMES.items():
            if name in aliases:
                return canonical
    accepted = ", ".join([*(alias for aliases in SPLIT_NAMES.values() for alias in aliases), "predict"])
    raise InvalidArgumentError(f"Unknown split. Expected one of {accepted}. Received: split={split!r}")


def _image_path(record: Any) -> str:
    return record.image_path


def split_records(
    records: Sequence[Record], fraction: float, seed: int = 0, key: Callable[[Record], str] = _image_path
) -> tuple[tuple[Record, ...], tuple[Record, ...]]:
    """Split records deterministically into `(kept, held_out)`.

    The held-out part is `round(fraction * len(records))` records (at least one, and at least one
    kept), chosen by `seed` among the records sorted by `key` (their image path by default), so
    the result does not depend on the order the files were listed in. Both parts keep the input
    order.

    Args:
        records: the records to split (at least two).
        fraction: the share to hold out, strictly between 0 and 1.
        seed: the random seed; the same seed and records give the same split.
        key: a record's sort key, unique per record (default: its `image_path`).

    Returns:
        `(kept, held_out)` tuples of records.

    Raises:
        InvalidArgumentError: `fraction` outside (0, 1) or fewer than two records.
    """
    if not 0 < fraction < 1:
        raise InvalidArgumentError(
            f"The held-out fraction must be strictly between 0 and 1. Received: fraction={fraction}"
        )
    if len(records) < 2:
        raise InvalidArgumentError(
            f"Splitting needs at least two records. Received: len(records)={len(records)}"
        )
    held_out_count = min(max(round(fraction * len(records)), 1), len(records) - 1)
    by_path = sorted(range(len(records)), key=lambda i: key(records[i]))
    shuffled = np.random.default_rng(seed).permutation(by_path)
    held_out = set(shuffled[:held_out_count].tolist())
    kept = tuple(r for i, r in enumerate(records) if i not in held_out)
    return kept, tuple(r for i, r in enumerate(records) if i in held_out)


def train_and_validation(
    records: Sequence[Record],
    validation: Sequence[Record] | None,
    fraction: float,
    seed: int = 0,
    key: Callable[[Record], str] = _image_path,
) -> tuple[list[Record], list[Record]]:
    """The training and validation records: `validation` when given (a separate dataset),
    otherwise a seeded `fraction` of `records` held out (`split_records`), otherwise none.

    Args:
        records: the training dataset's records.
        validation: the records of a separate validation dataset, or None.
        fraction: the share of `records` to hold out when there is no separate dataset; 0 holds
            out nothing.
        seed: the split's seed.
        key: a record's sort key for `split_records`.
    """
    if validation is not None:
        return list(records), list(validation)
    if fraction > 0 and len(records) > 1:
        kept, held_out = split_records(records, fraction, seed, key)
        return list(kept), list(held_out)
    return list(records), []
