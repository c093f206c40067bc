"""Train/validation record splits shared by the detection and segmentation tasks."""

from __future__ import annotations

from typing import NamedTuple

from tfapps.pipelines.splits import train_and_validation


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
