"""Tests for the bookkeeping of bench/serving.py's side-by-side ratio: the batching goal is judged
on it, so the rounds must rotate fairly and the ratios must pair the right rounds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

# bench/ is scripts, not a package: load the module from its file.
_spec = importlib.util.spec_from_file_location(
    "bench_serving", Path(__file__).resolve().parents[2] / "bench" / "serving.py"
)
bench_serving = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_serving)


def test_round_ratios_pair_each_round_with_the_same_round():
    rates = {"batching": [300.0, 330.0, 360.0], "naive": [100.0, 100.0, 120.0], "other": [150.0, 110.0, 90.0]}
    ratios = bench_serving.round_ratios(rates, "batching")
    assert set(ratios) == {"naive", "other"}
    assert ratios["naive"] == {"median": 3.0, "min": 3.0, "max": 3.3}
    assert ratios["other"] == {"median": 3.0, "min": 2.0, "max": 4.0}


def test_round_ratios_refuse_rounds_that_do_not_pair_up():
    with pytest.raises(ValueError):
        bench_serving.round_ratios({"batching": [300.0, 330.0], "naive": [100.0]}, "batching")


def test_alternating_rounds_warm_up_rotate_the_order_and_count_every_error(monkeypatch):
    calls = []

    def fake_load(protocol, port, model, image, clients, seconds):
        calls.append(port)
        return {"latencies": [0.001] * port, "errors": ["boom"] * (port == 2)}

    monkeypatch.setattr(bench_serving, "run_load", fake_load)
    targets = {"a": ("rest", 1), "b": ("naive", 2), "c": ("naive", 3)}
    result = bench_serving.alternating_rounds(targets, b"png", clients=32, seconds=0.01, rounds=4)
    warmup = [1, 2, 3]
    assert calls == [*warmup, 1, 2, 3, 2, 3, 1, 3, 1, 2, 1, 2, 3]
    assert {name: len(rates) for name, rates in result["requests_per_s"].items()} == {"a": 4, "b": 4, "c": 4}
    assert all(rate > 0 for rates in result["requests_per_s"].values() for rate in rates)
    assert result["errors"] == {"a": 0, "b": 4, "c": 0}  # the warm-up's error is not counted
    assert result["clients"] == 32
