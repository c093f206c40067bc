"""Split names shared by the readers, and train/validation record splits shared by the detection and
segmentation tasks."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from tfapps.apps.errors import InvalidArgumentError
from tfapps.pipelines.splits import canonical_split, train_and_validation


class _Record(NamedTuple):
    image_path: str


RECORDS = [_Record(f"/d/{i:02d}.png") for i in range(20)]


def test_a_separate_validation_set_is_used_as_given() -> None:
    train, val = train_and_validation(RECORDS, [_Record("/v/0.png")], 0.3, seed=1)
    assert train == RECORDS and val == [_Record("/v/0.png")]


def test_without_one_a_seeded_fraction_is_held_out() -> None:
    train, val = train_and_validation(RECORDS, None, 0.25, seed=3)
    assert len(val) == 5 and sorted(train + val) == sorted(RECORDS) and not set(train) & set(val)
    assert train_and_validation(list(reversed(RECORDS)), None, 0.25, seed=3)[1] == list(reversed(val))
    assert train_and_validation(RECORDS, None, 0.25, seed=4)[1] != val


def test_no_fraction_or_a_single_record_holds_out_nothing() -> None:
    assert train_and_validation(RECORDS, None, 0.0) == (RECORDS, [])
    assert train_and_validation(RECORDS[:1], None, 0.5) == (RECORDS[:1], [])


@pytest.mark.parametrize(
    ("split", "canonical"),
    [
        ("train", "train"),
        ("Training", "train"),
        (" dev ", "val"),
        ("VALID", "val"),
        ("testing", "test"),
        ("predict", "predict"),
    ],
)
def test_canonical_split_maps_aliases_ignoring_case_and_spaces(split, canonical) -> None:
    assert canonical_split(split) == canonical


@pytest.mark.parametrize("split", ["holdout", "", None, 1])
def test_canonical_split_rejects_other_names_listing_the_accepted_ones(split) -> None:
    with pytest.raises(
        InvalidArgumentError,
        match=rf"Expected one of train, training, val, .*, predict\. Received: split={split!r}",
    ):
        canonical_split(split)
