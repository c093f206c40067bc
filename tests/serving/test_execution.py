"""`ModelCalls`: where an asyncio front end runs model work (inline, thread pool, batching queue)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from tfapps.apps.errors import DeadlineExceededError
from tfapps.serving.server.batching import Batcher, BatchingParameters, await_within
from tfapps.serving.server.execution import ModelCalls

pytestmark = pytest.mark.serving


@pytest.fixture
def pool() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="test-pool") as executor:
        yield executor


def _thread_name() -> str:
    return threading.current_thread().name


async def _warm(calls: ModelCalls, key: str, times: int = 3) -> None:
    for _ in range(times):
        await calls.run(_thread_name, None, key=key)


def test_unknown_and_keyless_calls_go_to_the_pool(pool: concurrent.futures.ThreadPoolExecutor) -> None:
    async def scenario() -> tuple[str, str]:
        calls = ModelCalls(manager=None, executor=pool)
        with calls.request():
            first = await calls.run(_thread_name, None, key="model")  # latency not known yet
            keyless = await calls.run(_thread_name, None)
        return first, keyless

    first, keyless = asyncio.run(scenario())
    assert first.startswith("test-pool") and keyless.startswith("test-pool")


def test_a_fast_model_runs_inline_when_the_server_is_idle(
    pool: concurrent.futures.ThreadPoolExecutor,
) -> None:
    async def scenario() -> tuple[str, str]:
        calls = ModelCalls(manager=None, executor=pool)
        with calls.request():
            await _warm(calls, "model")
            return await calls.run(_thread_name, 30.0, key="model"), _thread_name()

    where, loop_thread = asyncio.run(scenario())
    assert where == loop_thread


def test_concurrent_requests_go_to_the_pool(pool: concurrent.futures.ThreadPoolExecutor) -> None:
    async def scenario() -> list[str]:
        calls = ModelCalls(manager=None, executor=pool)
        with calls.request():
            await _warm(calls, "model")

        async def one() -> str:
            with calls.request():
                return await calls.run(_thread_name, None, key="model")

        return await asyncio.gather(*(one() for _ in range(4)))

    assert all(name.startswith("test-pool") for name in asyncio.run(scenario()))


def test_a_slow_model_is_never_inlined(pool: concurrent.futures.ThreadPoolExecutor) -> None:
    def slow() -> str:
        time.sleep(0.02)
        return _thread_name()

    async def scenario() -> str:
        calls = ModelCalls(manager=None, executor=pool, inline_limit_s=0.005)
        with calls.request():
            for _ in range(3):
                await calls.run(slow, None, key="slow")
            return await calls.run(slow, None, key="slow")

    assert asyncio.run(scenario()).startswith("test-pool")


def test_a_short_deadline_disables_inlining(pool: concurrent.futures.ThreadPoolExecutor) -> None:
    def a_few_ms() -> str:
        time.sleep(0.003)
        return _thread_name()

    async def scenario() -> str:
        calls = ModelCalls(manager=None, executor=pool)
        with calls.request():
            for _ in range(3):
                await calls.run(a_few_ms, None, key="m")
            # ~3 ms calls may block the loop only when the deadline is 10x longer.
            return await calls.run(a_few_ms, 0.02, key="m")

    assert asyncio.run(scenario()).startswith("test-pool")


def test_pool_calls_past_the_deadline_raise_deadline_exceeded(
    pool: concurrent.futures.ThreadPoolExecutor,
) -> None:
    release = threading.Event()

    async def scenario() -> None:
        calls = ModelCalls(manager=None, executor=pool)
        with calls.request():
            await calls.run(lambda: release.wait(10), 0.05, key="stuck")

    with pytest.raises(DeadlineExceededError, match="Timed out waiting for notification"):
        asyncio.run(scenario())
    release.set()


def test_inline_calls_that_overrun_the_deadline_are_answered_as_timed_out(
    pool: concurrent.futures.ThreadPoolExecutor,
) -> None:
    durations = iter([0.0, 0.0, 0.0, 0.06])

    def sometimes_slow() -> str:
        time.sleep(next(durations))
        return _thread_name()

    async def scenario() -> None:
        calls = ModelCalls(manager=None, executor=pool, inline_limit_s=0.005)
        with calls.request():
            for _ in range(3):
                await calls.run(sometimes_slow, None, key="m")
            await calls.run(sometimes_slow, 0.05, key="m")  # inlined (fast so far), then too slow

    with pytest.raises(DeadlineExceededError):
        asyncio.run(scenario())


def test_batched_requests_are_awaited_without_a_thread() -> None:
    params = BatchingParameters(max_batch_size=8, batch_timeout_micros=50_000, num_batch_threads=1)
    with Batcher(lambda inputs: {"y": inputs["x"] * 2}, params) as batcher:

        async def scenario() -> list[np.ndarray]:
            pending = [batcher.enqueue({"x": np.full((2, 1), i, np.float32)}) for i in range(3)]
            answers = await asyncio.gather(*(p.result_async(10) for p in pending))
            return [a["y"] for a in answers]

        answers = asyncio.run(scenario())
        assert batcher.stats()["batches"] == 1  # the three requests were merged
    for i, y in enumerate(answers):
        np.testing.assert_array_equal(y, np.full((2, 1), 2 * i, np.float32))


def test_a_batch_wakes_its_callers_loop_once_for_all_their_requests() -> None:
    params = BatchingParameters(max_batch_size=6, batch_timeout_micros=10_000_000, num_batch_threads=1)

    def run(inputs):
        if (inputs["x"] < 0).any():
            raise ValueError(f"negative input. Received: {inputs['x'].ravel().tolist()}")
        return {"y": inputs["x"] * 2}

    with Batcher(run, params) as batcher:

        async def scenario() -> tuple[list, int]:
            loop = asyncio.get_running_loop()
            wakes = []
            plain = loop.call_soon_threadsafe
            loop.call_soon_threadsafe = lambda *args: wakes.append(args) or plain(*args)  # type: ignore[method-assign]
            # Six rows fill the batch: it runs at once, without its 10 s timeout.
            pending = [batcher.enqueue({"x": np.full((2, 1), i, np.float32)}, loop=loop) for i in range(3)]
            answers = await asyncio.gather(*(p.result_async(10) for p in pending))
            # One bad request: the batch fails, each request is rerun alone, one wake for all three.
            values = (1.0, -1.0, 2.0)
            pending = [batcher.enqueue({"x": np.full((2, 1), v, np.float32)}, loop=loop) for v in values]
            outcomes = await asyncio.gather(*(p.result_async(10) for p in pending), return_exceptions=True)
            return [a["y"] for a in answers] + outcomes, len(wakes)

        results, wakes = asyncio.run(scenario())
    assert wakes == 2 and batcher.stats()["batches"] == 2
    for i, y in enumerate(results[:3]):
        np.testing.assert_array_equal(y, np.full((2, 1), 2 * i, np.float32))
    np.testing.assert_array_equal(results[3]["y"], np.full((2, 1), 2.0, np.float32))
    assert isinstance(results[4], ValueError) and "Received: [-1.0, -1.0]" in str(results[4])
    np.testing.assert_array_equal(results[5]["y"], np.full((2, 1), 4.0, np.float32))


def test_a_request_split_over_batches_is_reassembled_for_a_loop_caller() -> None:
    params = BatchingParameters(
        max_batch_size=8, max_execution_batch_size=3, enable_large_batch_splitting=True, num_batch_threads=2
    )
    with Batcher(lambda inputs: {"y": inputs["x"] + 1}, params) as batcher:

        async def scenario() -> dict:
            x = np.arange(8, dtype=np.float32).reshape(8, 1)
            return await batcher.enqueue({"x": x}, loop=asyncio.get_running_loop()).result_async(10)

        answer = asyncio.run(scenario())
    np.testing.assert_array_equal(answer["y"], np.arange(1, 9, dtype=np.float32).reshape(8, 1))


def test_a_loop_caller_cancelled_while_queued_drops_its_request() -> None:
    params = BatchingParameters(max_batch_size=8, batch_timeout_micros=200_000, num_batch_threads=1)
    runs: list[int] = []
    with Batcher(lambda inputs: runs.append(len(inputs["x"])) or {"y": inputs["x"]}, params) as batcher:

        async def scenario() -> dict:
            loop = asyncio.get_running_loop()
            gone = asyncio.ensure_future(
                batcher.enqueue({"x": np.ones((1, 1), np.float32)}, loop=loop).result_async()
            )
            kept = batcher.enqueue({"x": np.ones((2, 1), np.float32)}, loop=loop)
            await asyncio.sleep(0.01)
            gone.cancel()  # e.g. the client disconnected
            return await kept.result_async(10)

        answer = asyncio.run(scenario())
    assert runs == [2] and answer["y"].shape == (2, 1)


@pytest.mark.parametrize("loop_caller", [False, True])
def test_an_async_wait_past_its_deadline_drops_the_queued_request(loop_caller: bool) -> None:
    params = BatchingParameters(max_batch_size=8, batch_timeout_micros=30_000_000, num_batch_threads=1)
    runs: list[int] = []
    batcher = Batcher(lambda inputs: runs.append(len(inputs["x"])) or {"y": inputs["x"]}, params)

    async def scenario() -> None:
        loop = asyncio.get_running_loop() if loop_caller else None
        await batcher.enqueue({"x": np.ones((1, 1), np.float32)}, loop=loop).result_async(0.05)

    with pytest.raises(DeadlineExceededError, match="Timed out"):
        asyncio.run(scenario())
    batcher.close()  # runs whatever is still queued
    assert runs == []  # the timed-out request was dropped, not run


def test_await_within_passes_outside_cancellation_through() -> None:
    async def scenario() -> None:
        never = asyncio.get_running_loop().create_future()
        waiter = asyncio.ensure_future(await_within(never, 10))
        await asyncio.sleep(0.01)
        waiter.cancel()
        await waiter

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(scenario())
