"""Tests for serving.server.batching: parameters, the text-proto reader and the Batcher."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from tfapps.apps.errors import DeadlineExceededError, InvalidArgumentError, UnavailableError
from tfapps.serving.server.batching import (
    Batcher,
    BatchingParameters,
    BatchStats,
    parse_batching_parameters,
    read_batching_parameters,
)

WAIT_S = 20  # upper bound for every blocking call, so a bug fails the test instead of hanging it


@tf.function
def _half_plus_two(x, text):
    return {"y": 0.5 * x + 2.0, "upper": tf.strings.upper(text), "bias": tf.constant(2.0)}


class Recorder:
    """A run_fn around a real TF function that records the batch sizes it saw."""

    def __init__(self, gate: threading.Event | None = None, fail: Exception | None = None):
        self.sizes: list[int] = []
        self.batches: list[dict[str, np.ndarray]] = []
        self.started = threading.Event()
        self._gate = gate
        self._fail = fail
        self._lock = threading.Lock()

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, Any]:
        with self._lock:
            self.sizes.append(len(inputs["x"]))
            self.batches.append(inputs)
        self.started.set()
        if self._gate is not None:
            assert self._gate.wait(WAIT_S)
        if self._fail is not None:
            raise self._fail
        return {k: v.numpy() for k, v in _half_plus_two(inputs["x"], inputs["text"]).items()}


def request(rows: int, start: float = 0.0) -> dict[str, np.ndarray]:
    x = np.arange(start, start + rows, dtype=np.float32).reshape(rows, 1)
    text = np.array([f"row {start + i:g}".encode() for i in range(rows)], dtype=object)
    return {"x": x, "text": text}


def unbatched(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in _half_plus_two(inputs["x"], inputs["text"]).items()}


def assert_same(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(actual) == sorted(expected)
    for alias, value in expected.items():
        np.testing.assert_array_equal(actual[alias], value)
        assert actual[alias].shape == value.shape


def call_async(
    batcher: Batcher, inputs: dict[str, np.ndarray], **kwargs: Any
) -> tuple[threading.Thread, dict]:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = batcher.submit(inputs, timeout=WAIT_S, **kwargs)
        except Exception as exc:  # handed to the test thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def wait_until(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.002)


def join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(WAIT_S)
        assert not thread.is_alive()


# ------------------------------------------------------------------------------ parameters


def test_defaults_are_tensorflow_scheduler_defaults() -> None:
    params = BatchingParameters()
    assert params.max_batch_size == 1000
    assert params.batch_timeout_micros == 0
    assert params.max_enqueued_batches == 10
    assert params.num_batch_threads >= 1
    assert params.thread_pool_name == "model_server_batch_threads"
    assert params.allowed_batch_sizes == ()
    assert not params.enable_large_batch_splitting
    assert params.max_execution_batch_size is None


def test_parse_inline_text_proto() -> None:
    params = parse_batching_parameters(
        """
        max_batch_size { value: 128 }
        batch_timeout_micros { value: 500 }
        max_enqueued_batches { value: 4 }
        num_batch_threads { value: 2 }
        thread_pool_name { value: "pool" }
        allowed_batch_sizes: 32
        allowed_batch_sizes: 128
        pad_variable_length_inputs: true
        """
    )
    assert params == BatchingParameters(
        max_batch_size=128,
        batch_timeout_micros=500,
        max_enqueued_batches=4,
        num_batch_threads=2,
        thread_pool_name="pool",
        allowed_batch_sizes=(32, 128),
        pad_variable_length_inputs=True,
    )


def test_parse_splitting_fields() -> None:
    params = parse_batching_parameters(
        "max_batch_size { value: 64 } enable_large_batch_splitting { value: true } "
        "max_execution_batch_size { value: 16 } allowed_batch_sizes: [8, 16]"
    )
    assert params.enable_large_batch_splitting
    assert params.execution_batch_size == 16
    assert params.allowed_batch_sizes == (8, 16)


def test_empty_text_gives_defaults() -> None:
    assert parse_batching_parameters("").max_batch_size == 1000


@pytest.mark.shared_data
def test_read_shared_batching_config(testdata: Path) -> None:
    params = read_batching_parameters(testdata / "batching_config.txt")
    assert (params.max_batch_size, params.batch_timeout_micros) == (128, 0)
    assert (params.max_enqueued_batches, params.num_batch_threads) == (1000000, 8)


@pytest.mark.parametrize(
    "text",
    [
        "max_batch_size: 128",  # wrapper types need { value: N }
        "max_batch_size { value: 12",
        "max_batchsize { value: 12 }",
        "allowed_batch_sizes: abc",
    ],
)
def test_malformed_text_is_invalid_argument(text: str) -> None:
    with pytest.raises(InvalidArgumentError, match="Invalid protobuf file: '<string>'"):
        parse_batching_parameters(text)


def test_missing_file_is_invalid_argument(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="Invalid protobuf file"):
        read_batching_parameters(tmp_path / "nope.txt")


def test_allowed_sizes_must_increase() -> None:
    with pytest.raises(
        InvalidArgumentError, match="allowed_batch_sizes entries must be monotonically increasing"
    ):
        parse_batching_parameters("max_batch_size { value: 8 } allowed_batch_sizes: [4, 2, 8]")


def test_last_allowed_size_must_match_max_batch_size() -> None:
    with pytest.raises(
        InvalidArgumentError,
        match="Last entry in allowed_batch_sizes must match max_batch_size; last entry was 16; expected 32",
    ):
        BatchingParameters(max_batch_size=32, allowed_batch_sizes=(8, 16))


def test_last_allowed_size_matches_execution_size_when_splitting() -> None:
    params = BatchingParameters(
        max_batch_size=64,
        enable_large_batch_splitting=True,
        max_execution_batch_size=16,
        allowed_batch_sizes=(16,),
    )
    assert params.execution_batch_size == 16
    with pytest.raises(InvalidArgumentError, match="last entry was 64; expected 16"):
        BatchingParameters(
            max_batch_size=64,
            enable_large_batch_splitting=True,
            max_execution_batch_size=16,
            allowed_batch_sizes=(64,),
        )


@pytest.mark.parametrize("field", ["max_batch_size", "num_batch_threads", "max_enqueued_batches"])
def test_non_positive_values_are_rejected(field: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"{field} must be positive"):
        BatchingParameters(**{field: 0})


# ------------------------------------------------------------------------------ batcher


def test_single_request_equals_unbatched() -> None:
    run = Recorder()
    with Batcher(run, BatchingParameters(num_batch_threads=1)) as batcher:
        inputs = request(3)
        assert_same(batcher.submit(inputs, timeout=WAIT_S), unbatched(inputs))
    assert run.sizes == [3]


def test_concurrent_requests_merge_into_one_batch_with_unbatched_answers() -> None:
    sizes = [1, 2, 3, 2]
    run = Recorder()
    # A full batch runs at once; the long timeout only keeps an under-full one waiting.
    params = BatchingParameters(
        max_batch_size=sum(sizes), batch_timeout_micros=WAIT_S * 10**6, num_batch_threads=1
    )
    stats: list[BatchStats] = []
    with Batcher(run, params, on_batch=stats.append) as batcher:
        inputs = [request(n, start=10.0 * i) for i, n in enumerate(sizes)]
        calls = [call_async(batcher, x) for x in inputs]
        join([t for t, _ in calls])
    assert run.sizes == [sum(sizes)]
    for x, (_, box) in zip(inputs, calls, strict=True):
        assert "error" not in box
        assert_same(box["result"], unbatched(x))
    assert stats == [BatchStats(8, 8, 4, stats[0].queuing_seconds)]
    assert len(stats[0].queuing_seconds) == 4


def test_requests_queued_behind_a_busy_thread_are_merged() -> None:
    gate = threading.Event()
    run = Recorder(gate=gate)
    depths: list[int] = []
    with Batcher(run, BatchingParameters(num_batch_threads=1), on_queue_depth=depths.append) as batcher:
        first, first_box = call_async(batcher, request(1))
        assert run.started.wait(WAIT_S)
        inputs = [request(1, start=float(i)) for i in range(6)]
        calls = [call_async(batcher, x) for x in inputs]
        wait_until(lambda: batcher.pending_tasks == len(inputs))
        assert batcher.queue_depth == 1
        gate.set()
        join([first] + [t for t, _ in calls])
        assert batcher.stats() == {"batches": 2, "tasks": 7, "rows": 7, "padded_rows": 0}
    assert run.sizes == [1, 6]  # fewer run_fn calls than requests
    assert "result" in first_box
    for x, (_, box) in zip(inputs, calls, strict=True):
        assert_same(box["result"], unbatched(x))
    assert max(depths) == 1 and depths[-1] == 0


def test_requests_with_different_dtypes_or_shapes_are_not_merged() -> None:
    gate = threading.Event()
    seen: list[tuple[str, tuple[int, ...]]] = []

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen.append((inputs["x"].dtype.str, inputs["x"].shape))
        assert gate.wait(WAIT_S)
        return {"y": inputs["x"] * 2}

    with Batcher(run, BatchingParameters(num_batch_threads=1)) as batcher:
        blocker, _ = call_async(batcher, {"x": np.ones((1, 1), np.float32)})
        wait_until(lambda: len(seen) == 1)
        xs = [
            np.ones((2, 1), np.float32),
            np.ones((1, 1), np.float64),
            np.ones((1, 2), np.float32),
            np.ones((3, 1), np.float32),
        ]
        calls = [call_async(batcher, {"x": x}) for x in xs]
        wait_until(lambda: batcher.pending_tasks == 4)
        gate.set()
        join([blocker] + [t for t, _ in calls])
    assert sorted(seen[1:]) == sorted([("<f4", (5, 1)), ("<f8", (1, 1)), ("<f4", (1, 2))])
    for x, (_, box) in zip(xs, calls, strict=True):
        np.testing.assert_array_equal(box["result"]["y"], x * 2)


def test_full_queue_is_unavailable_at_once() -> None:
    gate = threading.Event()
    run = Recorder(gate=gate)
    params = BatchingParameters(max_batch_size=1, max_enqueued_batches=1, num_batch_threads=1)
    with Batcher(run, params) as batcher:
        running, _ = call_async(batcher, request(1))
        assert run.started.wait(WAIT_S)
        queued, queued_box = call_async(batcher, request(1))
        wait_until(lambda: batcher.queue_depth == 1)
        with pytest.raises(
            UnavailableError, match="The batch scheduling queue to which this task was submitted is full"
        ):
            batcher.submit(request(1), timeout=WAIT_S)
        gate.set()
        join([running, queued])
    assert "result" in queued_box


def test_request_larger_than_max_batch_size_is_invalid() -> None:
    run = Recorder()
    batcher = Batcher(run, BatchingParameters(max_batch_size=4, num_batch_threads=1))
    with (
        batcher,
        pytest.raises(InvalidArgumentError, match="Task size 5 is larger than maximum input batch size 4"),
    ):
        batcher.submit(request(5), timeout=WAIT_S)
    assert run.sizes == []


def test_large_request_is_split_and_reassembled() -> None:
    run = Recorder()
    params = BatchingParameters(
        max_batch_size=10,
        enable_large_batch_splitting=True,
        max_execution_batch_size=4,
        allowed_batch_sizes=(2, 4),
        num_batch_threads=2,
    )
    with Batcher(run, params) as batcher:
        inputs = request(9)
        assert_same(batcher.submit(inputs, timeout=WAIT_S), unbatched(inputs))
        with pytest.raises(
            InvalidArgumentError, match="Task size 11 is larger than maximum input batch size 10"
        ):
            batcher.submit(request(11), timeout=WAIT_S)
    assert sorted(run.sizes) == [2, 4, 4]  # 9 rows = 4 + 4 + 1, the last padded to 2


def test_batches_are_padded_to_allowed_sizes_by_repeating_the_last_row() -> None:
    run = Recorder()
    stats: list[BatchStats] = []
    params = BatchingParameters(max_batch_size=8, allowed_batch_sizes=(2, 4, 8), num_batch_threads=1)
    with Batcher(run, params, on_batch=stats.append) as batcher:
        inputs = request(3)
        assert_same(batcher.submit(inputs, timeout=WAIT_S), unbatched(inputs))
        assert batcher.stats()["padded_rows"] == 1
    assert run.sizes == [4]
    np.testing.assert_array_equal(run.batches[0]["x"][3], inputs["x"][2])
    assert run.batches[0]["text"][3] == inputs["text"][2]
    assert (stats[0].size, stats[0].padded_size, stats[0].num_tasks) == (3, 4, 1)


def test_a_failing_batch_is_rerun_request_by_request() -> None:
    run = Recorder(fail=InvalidArgumentError("bad batch"))
    params = BatchingParameters(max_batch_size=2, batch_timeout_micros=WAIT_S * 10**6, num_batch_threads=1)
    with Batcher(run, params) as batcher:
        calls = [call_async(batcher, request(1, start=float(i))) for i in range(2)]
        join([t for t, _ in calls])
    assert run.sizes == [2, 1, 1]  # the merged batch, then each request alone
    for _, box in calls:
        assert isinstance(box["error"], InvalidArgumentError)
        assert "bad batch" in str(box["error"])


def test_only_the_request_with_bad_values_fails() -> None:
    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if (inputs["x"] < 0).any():  # like a corrupt image: the model rejects the whole feed
            raise InvalidArgumentError("negative input")
        return {"y": inputs["x"] * 2}

    params = BatchingParameters(max_batch_size=2, batch_timeout_micros=WAIT_S * 10**6, num_batch_threads=1)
    with Batcher(run, params) as batcher:
        good = call_async(batcher, {"x": np.array([[3.0]])})
        bad = call_async(batcher, {"x": np.array([[-1.0]])})
        join([good[0], bad[0]])
    np.testing.assert_array_equal(good[1]["result"]["y"], [[6.0]])
    assert isinstance(bad[1]["error"], InvalidArgumentError)


def test_batcher_keeps_working_after_an_error() -> None:
    calls = {"n": 0}

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("first fails")
        return {"y": inputs["x"] + 1}

    with Batcher(run, BatchingParameters(num_batch_threads=1)) as batcher:
        with pytest.raises(RuntimeError, match="first fails"):
            batcher.submit({"x": np.zeros(2)}, timeout=WAIT_S)
        np.testing.assert_array_equal(batcher.submit({"x": np.zeros(2)}, timeout=WAIT_S)["y"], [1, 1])


def test_key_is_passed_to_run_fn_and_separates_batches() -> None:
    seen: list[tuple[str, int]] = []

    def run(inputs: dict[str, np.ndarray], signature: str) -> dict[str, np.ndarray]:
        seen.append((signature, len(inputs["x"])))
        return {"y": inputs["x"]}

    with Batcher(run, BatchingParameters(num_batch_threads=1)) as batcher:
        out = batcher.submit({"x": np.arange(3)}, key=("serving_default",), timeout=WAIT_S)
    np.testing.assert_array_equal(out["y"], [0, 1, 2])
    assert seen == [("serving_default", 3)]


def test_unbatchable_requests_run_alone_and_unchanged() -> None:
    seen: list[dict[str, np.ndarray]] = []

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen.append(inputs)
        return {"n": np.array(len(inputs))}

    with Batcher(run, BatchingParameters(num_batch_threads=1, allowed_batch_sizes=(4, 1000))) as batcher:
        assert batcher.submit({"delta": np.float32(3.0)}, timeout=WAIT_S)["n"] == 1
        assert batcher.submit({}, timeout=WAIT_S)["n"] == 0
        assert batcher.submit({"a": np.zeros(2), "b": np.zeros(3)}, timeout=WAIT_S)["n"] == 2
    assert seen[0]["delta"].shape == ()
    assert seen[2]["a"].shape == (2,) and seen[2]["b"].shape == (3,)  # not padded


def test_deadline_exceeded_while_waiting() -> None:
    gate = threading.Event()
    run = Recorder(gate=gate)
    with Batcher(run, BatchingParameters(num_batch_threads=1)) as batcher:
        blocker, _ = call_async(batcher, request(1))
        assert run.started.wait(WAIT_S)
        with pytest.raises(DeadlineExceededError, match="Timed out"):
            batcher.submit(request(2), timeout=0.01)
        gate.set()
        join([blocker])
    assert run.sizes == [1]  # the timed-out request was dropped from the queue


def test_closed_batcher_is_unavailable_and_close_drains_queue() -> None:
    gate = threading.Event()
    run = Recorder(gate=gate)
    batcher = Batcher(run, BatchingParameters(num_batch_threads=1))
    blocker, _ = call_async(batcher, request(1))
    assert run.started.wait(WAIT_S)
    queued, queued_box = call_async(batcher, request(2))
    wait_until(lambda: batcher.pending_tasks == 1)
    closer = threading.Thread(target=batcher.close, daemon=True)
    closer.start()
    wait_until(lambda: batcher.closed)
    with pytest.raises(UnavailableError, match="closed"):
        batcher.submit(request(1), timeout=WAIT_S)
    gate.set()
    join([blocker, queued, closer])
    assert_same(queued_box["result"], unbatched(request(2)))
