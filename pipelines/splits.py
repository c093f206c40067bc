"""Deterministic hold-out splits of image records (a validation split when none is given)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from tfapps.apps.errors import InvalidArgumentError

__all__ = ["split_records", "train_and_validation"]

Record = TypeVar("Record", bound=Any)


def split_records(
    records: Sequence[Record], fraction: float, seed: int = 0
) -> tuple[tuple[Record, ...], tuple[Record, ...]]:
    """Split records with an `image_path` deterministically into `(kept, held_out)`.

    The held-out part is `round(fraction * len(records))` records (at least one, and at least one
    kept), chosen by `seed` among the records sorted by image path, so the result does not depend
    on the order the files were listed in. Both parts keep the input order.

    Args:
        records: the records to split (at least two), each with an `image_path`.
        fraction: the share to hold out, strictly between 0 and 1.
        seed: the random seed; the same seed and records give the same split.

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
    by_path = sorted(range(len(records)), key=lambda i: records[i].image_path)
    shuffled = np.random.default_rng(seed).permutation(by_path)
    held_out = set(shuffled[:held_out_count].tolist())
    kept = tuple(r for i, r in enumerate(records) if i not in held_out)
    return kept, tuple(r for i, r in enumerate(records) if i in held_out)


def train_and_validation(
    records: Sequence[Record], validation: Sequence[Record] | None, fraction: float, seed: int = 0
) -> tuple[list[Record], list[Record]]:
    """The training and validation records: `validation` when given (a separate dataset),
    otherwise a seeded `fraction` of `records` held out (`split_records`), otherwise none.

    Args:
        records: the training dataset's records.
        validation: the records of a separate validation dataset, or None.
        fraction: the share of `records` to hold out when there is no separate dataset; 0 holds
            out nothing.
        seed: the split's seed.
    """
    if validation is not None:
        return list(records), list(validation)
    if fraction > 0 and len(records) > 1:
        kept, held_out = split_records(records, fraction, seed)
        return list(kept), list(held_out)
    return list(records), []
