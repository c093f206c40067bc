"""Tests for bench/serving.py's bookkeeping. The batching goal is judged on the side-by-side ratio,
so the rounds must rotate fairly and the ratios must pair the right rounds; and every rate divides
by the measuring window `load` reports, which must hold the calls only."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest
from conftest import load_bench_script, png

from tfapps.serving.server import ModelServer

bench_serving = load_bench_script("bench_serving", "serving.py")
grpc_h2_load = load_bench_script("grpc_h2_load", "grpc_h2_load.py")


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
        return {"latencies": [0.001] * port, "errors": ["boom"] * (port == 2), "seconds": 0.5}

    monkeypatch.setattr(bench_serving, "run_load", fake_load)
    targets = {"a": ("rest", 1), "b": ("naive", 2), "c": ("naive", 3)}
    result = bench_serving.alternating_rounds(targets, b"png", clients=32, seconds=0.01, rounds=4)
    warmup = [1, 2, 3]
    assert calls == [*warmup, 1, 2, 3, 2, 3, 1, 3, 1, 2, 1, 2, 3]
    assert {name: len(rates) for name, rates in result["requests_per_s"].items()} == {"a": 4, "b": 4, "c": 4}
    # requests/s over the window each load reports (0.5 s here).
    assert result["requests_per_s"] == {"a": [2.0] * 4, "b": [4.0] * 4, "c": [6.0] * 4}
    assert result["errors"] == {"a": 0, "b": 4, "c": 0}  # the warm-up's error is not counted
    assert result["clients"] == 32


def test_the_measuring_window_leaves_out_the_grpc_set_up(model_server: ModelServer, monkeypatch):
    """The rates divide by the window `load` reports: it must hold the calls only, not encoding
    the request (the first one imports TensorFlow) or opening the connection. Set-up that took
    longer than the whole window used to leave no time for any call."""
    real_open, real_request = grpc_h2_load.GrpcH2Connection.open, bench_serving.grpc_request

    async def slow_open(host, port):
        await asyncio.sleep(0.5)
        return await real_open(host, port)

    def slow_request(model, image):
        time.sleep(0.5)
        return real_request(model, image)

    monkeypatch.setattr(grpc_h2_load.GrpcH2Connection, "open", staticmethod(slow_open))
    monkeypatch.setattr(bench_serving, "grpc_request", slow_request)
    monkeypatch.setitem(sys.modules, "grpc_h2_load", grpc_h2_load)  # what `load` imports
    result = asyncio.run(bench_serving.load("grpc", model_server.grpc_port, "image", png(7), 2, 0.3))
    assert result["latencies"] and not result["errors"]
    assert 0.3 <= result["seconds"] < 1.0  # the window, without the second of set-up
