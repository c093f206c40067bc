"""Where an asyncio front end (REST, gRPC) runs model work: inline, on a thread pool, or batched.

Handing a call to a thread pool and back costs about 200 µs of CPU per request on a lightly
loaded server (two thread wake-ups and GIL hand-offs), more than the rest of the request's
handling. So `ModelCalls` runs a call directly on the event loop when that cannot hurt anybody:

* the front end has no other request in progress (it counts them with `request()`), and
* the same model's recent direct calls were fast (`inline_limit_s`; an unknown model is never
  inlined) and well within the request's deadline.

Otherwise the call goes to the thread pool, where concurrent requests use every core and the
deadline is enforced while waiting. Requests the model version batches are queued in its
`Batcher` and awaited without occupying a thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from tfapps.apps.errors import DeadlineExceededError
from tfapps.serving.server.batching import await_within
from tfapps.serving.server.manager import ModelManager, ServableHandle

_SMOOTHING = 0.2  # weight of the newest call in the latency average


class ModelCalls:
    """Runs model calls for one asyncio front end; create and use it on that front end's loop.

    Args:
        manager: resolves and runs the models.
        executor: the thread pool for calls that are not run inline.
        inline_limit_s: a model whose recent calls averaged longer than this is never run on the
            event loop (which would stall every other connection meanwhile); 0 disables inlining.
    """

    def __init__(
        self,
        manager: ModelManager,
        executor: concurrent.futures.Executor,
        inline_limit_s: float = 0.005,
    ):
        self._manager = manager
        self._executor = executor
        self._inline_limit_s = inline_limit_s
        self._active = 0
        self._latency: dict[Hashable, float] = {}

    @contextmanager
    def request(self) -> Iterator[None]:
        """Counts a request in progress for the whole time the front end handles it."""
        self._active += 1
        try:
            yield
        finally:
            self._active -= 1

    async def predict(
        self,
        handle: ServableHandle,
        inputs: Mapping[str, Any],
        signature_name: str = "",
        output_filter: Iterable[str] | None = None,
        timeout: float | None = None,
        api: str = "Predict",
    ) -> dict[str, np.ndarray]:
        """`ModelManager.run` for the event loop: batched, inline or on the thread pool.

        Raises:
            DeadlineExceededError: no answer within `timeout` seconds.
            TfappsError: as `ModelManager.run`.
        """
        pending = self._manager.enqueue_batched(
            handle, inputs, signature_name, output_filter, api, loop=asyncio.get_running_loop()
        )
        if pending is not None:
            return await pending.result_async(timeout)

        def call() -> dict[str, np.ndarray]:
            return self._manager.run_direct(handle, inputs, signature_name, output_filter, api)

        return await self.run(call, timeout, key=(handle.model_name, handle.version, signature_name))

    async def run(self, fn: Callable[[], Any], timeout: float | None, key: Hashable | None = None) -> Any:
        """Runs `fn()` inline or on the thread pool (see the module docstring).

        Args:
            fn: the blocking call.
            timeout: seconds to wait for it (None: no limit).
            key: names the model call for the latency average; None never runs inline.

        Raises:
            DeadlineExceededError: `fn` did not finish within `timeout`.
        """
        if key is not None and self._may_inline(key, timeout):
            await asyncio.sleep(0)  # let requests that arrived together register first
            if self._active <= 1:
                started = time.perf_counter()
                result = fn()
                elapsed = self._observe(key, started)
                if timeout is not None and elapsed > timeout:
                    raise _deadline_error(timeout)
                return result
        timed = fn if key is None else _timed(fn, lambda started: self._observe(key, started))
        future = asyncio.get_running_loop().run_in_executor(self._executor, timed)
        try:
            return await await_within(future, timeout)
        except TimeoutError as exc:
            raise _deadline_error(timeout) from exc

    def _may_inline(self, key: Hashable, timeout: float | None) -> bool:
        latency = self._latency.get(key)
        if latency is None or latency > self._inline_limit_s:
            return False
        return timeout is None or latency * 10 < timeout

    def _observe(self, key: Hashable, started: float) -> float:
        elapsed = time.perf_counter() - started
        previous = self._latency.get(key)
        self._latency[key] = elapsed if previous is None else previous + _SMOOTHING * (elapsed - previous)
        return elapsed


def _timed(fn: Callable[[], Any], observe: Callable[[float], Any]) -> Callable[[], Any]:
    def call() -> Any:
        started = time.perf_counter()
        try:
            return fn()
        finally:
            observe(started)  # a dict store: safe from a worker thread under the GIL

    return call


def _deadline_error(timeout: float) -> DeadlineExceededError:
    return DeadlineExceededError(
        f"Timed out waiting for notification. The model ran longer than the deadline of "
        f"{int(timeout * 1000)} ms. Received: timeout_ms={int(timeout * 1000)}"
    )
