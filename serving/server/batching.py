"""Server-side request batching, like TF Serving's `--enable_batching` (BatchingSession).

Concurrent requests for one model version are queued, merged along dim 0 into one batch, run once
on one of `num_batch_threads` worker threads, and their outputs are split back per request. It is
transparent to clients: a batched answer equals the unbatched one. One `Batcher` serves one model
version and is shared by REST and gRPC callers (it is thread-safe; callers block on a future).

Parameters come from TF Serving's `BatchingParameters` text proto (`--batching_parameters_file`)::

    max_batch_size { value: 128 }
    batch_timeout_micros { value: 0 }
    max_enqueued_batches { value: 1000000 }
    num_batch_threads { value: 8 }
    allowed_batch_sizes: 32
    allowed_batch_sizes: 128

Example::

    params = read_batching_parameters("batching_config.txt")
    with Batcher(lambda inputs: servable.predict(inputs), params) as batcher:
        outputs = batcher.submit({"x": np.array([[1.0], [2.0]], np.float32)})

Deliberate differences from TF Serving:

- Requests are merged only when their inputs have the same aliases, dtypes and non-batch shapes;
  others go to separate batches instead of failing (`pad_variable_length_inputs` is accepted but
  differing shapes are never padded).
- A request that cannot be batched (no inputs, a scalar input, inputs whose dim 0 differ, or dim 0
  of 0) runs alone, unmodified, instead of failing with "Batching Run() input tensors must have
  equal 0th-dimension size".
- Large-batch splitting cuts a request into fixed chunks of the execution batch size; it does not
  first top up a partly filled open batch.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

from tfapps.apps.errors import DeadlineExceededError, InvalidArgumentError, UnavailableError
from tfapps.serving.server.textproto import parse_text_proto

logger = logging.getLogger(__name__)

DEFAULT_THREAD_POOL_NAME = "model_server_batch_threads"

RunFn = Callable[..., Mapping[str, Any]]


def _default_num_batch_threads() -> int:
    return os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's `BatchingParameters`, with the TensorFlow batch scheduler's defaults.

    Attributes:
        max_batch_size: the most rows a request may have, and (without splitting) per batch.
        batch_timeout_micros: how long an under-full batch waits for more requests (0 = run at once
            when a thread is free).
        max_enqueued_batches: how many batches may wait; one more → UNAVAILABLE.
        num_batch_threads: batches run concurrently.
        thread_pool_name: name prefix of the worker threads.
        allowed_batch_sizes: increasing sizes a batch is padded up to; the last must equal the
            execution batch size.
        pad_variable_length_inputs: accepted for compatibility; see the module notes.
        enable_large_batch_splitting: split requests larger than the execution batch size.
        max_execution_batch_size: rows per executed batch when splitting (None = max_batch_size).

    Raises:
        InvalidArgumentError: a value is out of range or `allowed_batch_sizes` is inconsistent.
    """

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = dataclasses.field(default_factory=_default_num_batch_threads)
    thread_pool_name: str = DEFAULT_THREAD_POOL_NAME
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    enable_large_batch_splitting: bool = False
    max_execution_batch_size: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_batch_sizes", tuple(int(s) for s in self.allowed_batch_sizes))
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            value = getattr(self, name)
            if value < 1:
                raise InvalidArgumentError(f"{name} must be positive. Received: {name}={value}")
        if self.batch_timeout_micros < 0:
            raise InvalidArgumentError(
                f"batch_timeout_micros must be non-negative. Received: batch_timeout_micros="
                f"{self.batch_timeout_micros}"
            )
        if self.max_execution_batch_size is not None and self.max_execution_batch_size < 1:
            raise InvalidArgumentError(
                "max_execution_batch_size must be positive. "
                f"Received: max_execution_batch_size={self.max_execution_batch_size}"
            )
        sizes = self.allowed_batch_sizes
        if not sizes:
            return
        if sizes[0] < 1 or any(b <= a for a, b in zip(sizes, sizes[1:], strict=False)):
            raise InvalidArgumentError(
                "allowed_batch_sizes entries must be monotonically increasing. "
                f"Received: allowed_batch_sizes={list(sizes)}"
            )
        expected = self.execution_batch_size
        if sizes[-1] != expected:
            raise InvalidArgumentError(
                "Last entry in allowed_batch_sizes must match max_batch_size; "
                f"last entry was {sizes[-1]}; expected {expected}"
            )

    @property
    def execution_batch_size(self) -> int:
        """The most rows one executed batch holds (before padding to an allowed size)."""
        if self.enable_large_batch_splitting and self.max_execution_batch_size is not None:
            return self.max_execution_batch_size
        return self.max_batch_size


# ------------------------------------------------------------------------------ text proto

# (field name, number, wrapper type or None for a plain scalar, plain type, repeated)
_FIELDS = (
    ("max_batch_size", 1, "Int64Value"),
    ("batch_timeout_micros", 2, "Int64Value"),
    ("max_enqueued_batches", 3, "Int64Value"),
    ("num_batch_threads", 4, "Int64Value"),
    ("thread_pool_name", 5, "StringValue"),
    ("allowed_batch_sizes", 6, "repeated int64"),
    ("pad_variable_length_inputs", 7, "bool"),
    ("enable_large_batch_splitting", 8, "BoolValue"),
    ("max_execution_batch_size", 9, "Int64Value"),
)


@functools.cache
def _batching_parameters_class() -> type:
    # tensorflow-serving-api does not ship session_bundle_config_pb2, so the message is described
    # here with TF Serving's field names and numbers, in a private pool (no clash with a real one).
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    file = descriptor_pb2.FileDescriptorProto(
        name="tfapps/serving/batching_parameters.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    message = file.message_type.add(name="BatchingParameters")
    field_type = descriptor_pb2.FieldDescriptorProto
    for name, number, kind in _FIELDS:
        field = message.field.add(name=name, number=number, label=field_type.LABEL_OPTIONAL)
        if kind == "repeated int64":
            field.label = field_type.LABEL_REPEATED
            field.type = field_type.TYPE_INT64
        elif kind == "bool":
            field.type = field_type.TYPE_BOOL
        else:
            field.type = field_type.TYPE_MESSAGE
            field.type_name = f".google.protobuf.{kind}"
    pool.Add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    )


def parse_batching_parameters(text: str, source: str = "<string>") -> BatchingParameters:
    """Parses the text form of TF Serving's `BatchingParameters`.

    Args:
        text: the text proto; wrapper fields need `{ value: N }`.
        source: where the text came from, for error messages.

    Returns:
        The parameters, unset fields at their defaults.

    Raises:
        InvalidArgumentError: malformed text, an unknown field, or invalid values.
    """
    proto = parse_text_proto(text, _batching_parameters_class()(), source)
    values: dict[str, Any] = {}
    for name, _, kind in _FIELDS:
        if kind == "repeated int64":
            values[name] = tuple(getattr(proto, name))
        elif kind == "bool":
            values[name] = getattr(proto, name)
        elif proto.HasField(name):
            values[name] = getattr(proto, name).value
    return BatchingParameters(**values)


def read_batching_parameters(path: str | Path) -> BatchingParameters:
    """Reads a `--batching_parameters_file`.

    Args:
        path: the text-proto file.

    Returns:
        The parameters, unset fields at their defaults.

    Raises:
        InvalidArgumentError: the file cannot be read, is malformed, or holds invalid values.
    """
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError(
            f"Invalid protobuf file: '{path}': {exc}. Received: file={str(path)!r}"
        ) from exc
    return parse_batching_parameters(text, str(path))


# ------------------------------------------------------------------------------ the batcher


@dataclasses.dataclass(frozen=True)
class BatchStats:
    """What one executed batch looked like (passed to `Batcher`'s `on_batch` callback).

    Attributes:
        size: real rows in the batch.
        padded_size: rows after padding to an allowed batch size (== size without padding).
        num_tasks: requests (or request chunks) merged into it.
        queuing_seconds: per task, the time from enqueue to the start of the run.
    """

    size: int
    padded_size: int
    num_tasks: int
    queuing_seconds: tuple[float, ...]


@dataclasses.dataclass
class _Task:
    inputs: dict[str, np.ndarray]
    size: int
    key: tuple
    group: Hashable  # tasks merge only within a group; None = run alone
    future: concurrent.futures.Future = dataclasses.field(default_factory=concurrent.futures.Future)
    enqueued_at: float = dataclasses.field(default_factory=time.monotonic)
    # An event-loop caller's future, resolved from `future` on its loop (`_deliver_to_loops`).
    waiter: asyncio.Future | None = None


@dataclasses.dataclass
class _Batch:
    group: Hashable
    created_at: float
    tasks: list[_Task] = dataclasses.field(default_factory=list)
    size: int = 0
    closed: bool = False


def _batch_size(inputs: Mapping[str, np.ndarray]) -> int | None:
    """Shared dim 0 of all inputs, or None when the request cannot be merged with others."""
    sizes = {a.shape[0] if a.ndim else None for a in inputs.values()}
    if len(sizes) != 1:
        return None
    (size,) = sizes
    return size if size else None


def _group_of(inputs: Mapping[str, np.ndarray], key: tuple) -> tuple:
    return key, tuple((alias, a.dtype.str, a.shape[1:]) for alias, a in sorted(inputs.items()))


class PendingRequest:
    """A queued request: its chunks' futures, waited on by a thread or by an event loop.

    Args:
        futures: the chunks' futures, resolved by the worker threads.
        waiters: for a request queued from an event loop (`Batcher.enqueue(..., loop=...)`), the
            chunks' futures on that loop, which the workers resolve in one loop callback per batch.
    """

    def __init__(self, futures: list[concurrent.futures.Future], waiters: list[asyncio.Future] | None = None):
        self._futures = futures
        self._waiters = waiters

    def result(self, timeout: float | None = None) -> dict[str, np.ndarray]:
        """Blocks until every chunk ran and returns the request's outputs.

        Raises:
            DeadlineExceededError: not answered within `timeout` seconds (queued chunks are dropped).
            Exception: whatever the model raised for this request's batch.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        results = []
        try:
            for future in self._futures:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                results.append(future.result(remaining))
        except concurrent.futures.TimeoutError as exc:
            raise self._timed_out(timeout) from exc
        return _combine(results)

    async def result_async(self, timeout: float | None = None) -> dict[str, np.ndarray]:
        """`result` for asyncio callers: the event loop is woken when the batch is done."""
        waiters = self._waiters or [asyncio.wrap_future(f) for f in self._futures]
        waiting = waiters[0] if len(waiters) == 1 else asyncio.gather(*waiters)
        try:
            results = await await_within(waiting, timeout)
        except TimeoutError:
            raise self._timed_out(timeout) from None
        return _combine(_as_list(results, len(self._futures)))

    def _timed_out(self, timeout: float | None) -> DeadlineExceededError:
        for future in self._futures:
            future.cancel()  # still-queued chunks are dropped by the workers
        return DeadlineExceededError(
            f"Timed out waiting for the batch to run after {timeout} s. Received: timeout={timeout}"
        )


async def await_within(future: asyncio.Future, timeout: float | None) -> Any:
    """Awaits an asyncio future, cancelling it after `timeout` seconds (then TimeoutError).

    `asyncio.wait_for` for the case of a plain future: one timer instead of an extra task and
    several callbacks (it costs several times more per request, which shows at thousands of
    requests per second). A cancellation from outside still propagates as CancelledError.
    """
    if timeout is None:
        return await future
    expired = []

    def expire() -> None:
        expired.append(True)
        future.cancel()

    timer = asyncio.get_running_loop().call_later(timeout, expire)
    try:
        return await future
    except asyncio.CancelledError:
        if expired:
            raise TimeoutError(f"no result within {timeout} s") from None
        raise
    finally:
        timer.cancel()


def _cancel_if_cancelled(future: concurrent.futures.Future, waiter: asyncio.Future) -> None:
    if waiter.cancelled():
        future.cancel()  # no-op once the task runs


def _deliver_to_loops(tasks: list[_Task]) -> None:
    """Copies each finished task's result to its event-loop waiter: one callback per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Task]] = {}
    for task in tasks:
        if task.waiter is not None and task.future.done():
            by_loop.setdefault(task.waiter.get_loop(), []).append(task)
    for loop, done in by_loop.items():
        # A closed loop (its server stopped) raises RuntimeError: nobody is waiting there.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle_waiters, done)


def _settle_waiters(tasks: list[_Task]) -> None:
    """On the waiters' loop: resolve each waiter as its task's future was (a waiter that timed
    out is already cancelled and stays so)."""
    for task in tasks:
        waiter, future = task.waiter, task.future
        if waiter.done():
            continue
        if future.cancelled():
            waiter.cancel()
        elif (exc := future.exception()) is not None:
            waiter.set_exception(exc)
        else:
            waiter.set_result(future.result())


def _as_list(results: Any, count: int) -> list:
    return [results] if count == 1 else list(results)


def _combine(results: list[tuple[dict[str, np.ndarray], frozenset]]) -> dict[str, np.ndarray]:
    return results[0][0] if len(results) == 1 else _concat_chunks(results)


class Batcher:
    """A batching queue for one model version, shared by every caller.

    Args:
        run_fn: runs one merged batch: `run_fn(inputs, *key) -> {alias: array}`, where `key` is
            what `submit` was given (empty by default, so `run_fn(inputs)`).
        params: the batching parameters (default: TF Serving's defaults).
        on_batch: called with a `BatchStats` after each executed batch (metrics); errors are logged.
        on_queue_depth: called with the number of waiting batches whenever it changes.

    Example::

        batcher = Batcher(lambda inputs, sig: servable.predict(inputs, sig), params)
        batcher.submit({"x": x}, key=("serving_default",))
        batcher.close()
    """

    def __init__(
        self,
        run_fn: RunFn,
        params: BatchingParameters | None = None,
        on_batch: Callable[[BatchStats], None] | None = None,
        on_queue_depth: Callable[[int], None] | None = None,
    ):
        self._run_fn = run_fn
        self._params = params or BatchingParameters()
        self._on_batch = on_batch
        self._on_queue_depth = on_queue_depth
        self._cond = threading.Condition()
        self._batches: collections.deque[_Batch] = collections.deque()
        self._closing = False
        self._stats = collections.Counter()
        self._threads = [
            threading.Thread(target=self._work, name=f"{self._params.thread_pool_name}_{i}", daemon=True)
            for i in range(self._params.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def params(self) -> BatchingParameters:
        """The batching parameters."""
        return self._params

    @property
    def closed(self) -> bool:
        """Whether `close()` was called (new requests are refused)."""
        with self._cond:
            return self._closing

    @property
    def queue_depth(self) -> int:
        """Batches waiting for a thread."""
        with self._cond:
            return len(self._batches)

    @property
    def pending_tasks(self) -> int:
        """Requests (or request chunks) waiting for a thread."""
        with self._cond:
            return sum(len(b.tasks) for b in self._batches)

    def stats(self) -> dict[str, int]:
        """Totals so far: `batches`, `tasks`, `rows` and `padded_rows` executed."""
        with self._cond:
            return {k: self._stats[k] for k in ("batches", "tasks", "rows", "padded_rows")}

    def __enter__(self) -> Batcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------- submitting

    def submit(
        self, inputs: Mapping[str, Any], key: tuple = (), timeout: float | None = None
    ) -> dict[str, np.ndarray]:
        """Queues one request, waits for its batch to run and returns its share of the outputs.

        Args:
            inputs: alias → array-like; every input's dim 0 is the request's batch size.
            key: extra positional arguments for `run_fn` (e.g. signature name and output filter);
                only requests with equal keys are merged. Must be hashable.
            timeout: seconds to wait for the answer; None waits for ever.

        Returns:
            alias → array: outputs whose dim 0 equals the batch size are sliced to this request's
            rows; other outputs are returned whole.

        Raises:
            UnavailableError: the queue is full or the batcher is closed.
            InvalidArgumentError: the request has more rows than `max_batch_size`.
            DeadlineExceededError: no answer within `timeout`.
            Exception: whatever `run_fn` raised for this request's batch.
        """
        return self.enqueue(inputs, key).result(timeout)

    def enqueue(
        self, inputs: Mapping[str, Any], key: tuple = (), loop: asyncio.AbstractEventLoop | None = None
    ) -> PendingRequest:
        """Queues one request without waiting: `submit` for callers that wait their own way
        (an asyncio server awaits `PendingRequest.result_async` instead of blocking a thread).

        Args:
            inputs, key: as `submit`.
            loop: the caller's running event loop, when it awaits `result_async`: a worker then
                wakes that loop once per batch for all its requests, instead of once per request
                (`asyncio.wrap_future`), which shows at thousands of requests per second.

        Raises:
            UnavailableError, InvalidArgumentError: as `submit`.
        """
        arrays = {alias: np.asarray(value) for alias, value in inputs.items()}
        size = _batch_size(arrays)
        params = self._params
        if size is None:
            tasks = [_Task(arrays, 1, tuple(key), None)]
        else:
            if size > params.max_batch_size:
                raise InvalidArgumentError(
                    f"Task size {size} is larger than maximum input batch size {params.max_batch_size}. "
                    f"Received: batch size {size}"
                )
            group = _group_of(arrays, tuple(key))
            step = params.execution_batch_size
            if size <= step:
                tasks = [_Task(arrays, size, tuple(key), group)]
            else:
                tasks = [
                    _Task(
                        {a: v[i : i + step] for a, v in arrays.items()},
                        min(step, size - i),
                        tuple(key),
                        group,
                    )
                    for i in range(0, size, step)
                ]
        if loop is not None:
            for task in tasks:
                task.waiter = loop.create_future()
                # A caller cancelled while its task waits (a client gone) drops the task, as
                # `asyncio.wrap_future` did.
                task.waiter.add_done_callback(functools.partial(_cancel_if_cancelled, task.future))
        self._enqueue(tasks)
        waiters = [task.waiter for task in tasks] if loop is not None else None
        return PendingRequest([task.future for task in tasks], waiters)

    def _enqueue(self, tasks: list[_Task]) -> None:
        params = self._params
        limit = params.execution_batch_size
        with self._cond:
            if self._closing:
                raise UnavailableError("The batch scheduler is closed; the model version is being unloaded.")
            placed: list[tuple[_Batch, _Task]] = []
            # Waking an idle worker costs a thread switch and a GIL hand-off; only batches that
            # are new (a worker must take them or time them) or just became full need one.
            wake = 0
            for task in tasks:
                batch, closed = self._open_batch_for(task, limit)
                wake += closed
                if batch is None:
                    if len(self._batches) >= params.max_enqueued_batches:
                        for b, t in placed:  # all or nothing for a split request
                            b.tasks.remove(t)
                            b.size -= t.size
                        self._batches = collections.deque(b for b in self._batches if b.tasks)
                        if wake:
                            self._cond.notify(wake)  # batches this request closed are ready
                        raise UnavailableError(
                            "The batch scheduling queue to which this task was submitted is full. "
                            f"Received: max_enqueued_batches={params.max_enqueued_batches}"
                        )
                    batch = _Batch(task.group, time.monotonic())
                    self._batches.append(batch)
                    wake += 1
                batch.tasks.append(task)
                batch.size += task.size
                if task.group is None:
                    batch.closed = True
                elif batch.size >= limit and len(batch.tasks) > 1:
                    wake += 1  # an open batch that just filled up (a new one was counted above)
                placed.append((batch, task))
            if wake:
                self._report_depth()  # the depth changes only with new batches
                self._cond.notify(wake)

    def _open_batch_for(self, task: _Task, limit: int) -> tuple[_Batch | None, int]:
        """The open batch of the task's group with room for it (None: start a new one), and how
        many open batches it closed (now ready to run)."""
        if task.group is None:
            return None, 0
        closed = 0
        for batch in self._batches:
            if batch.closed or batch.group != task.group:
                continue
            if batch.size + task.size <= limit:
                return batch, closed
            batch.closed = True  # like TF Serving: a task that does not fit closes the open batch
            closed += 1
        return None, closed

    def _report_depth(self) -> None:
        if self._on_queue_depth is None:
            return
        try:
            self._on_queue_depth(len(self._batches))
        except Exception:  # metrics must never fail a request
            logger.exception("on_queue_depth callback failed")

    # ---------------------------------------------------------------- workers

    def _ready(self, batch: _Batch, now: float) -> bool:
        return (
            self._closing
            or batch.closed
            or batch.size >= self._params.execution_batch_size
            or now - batch.created_at >= self._params.batch_timeout_micros / 1e6
        )

    def _next_batch(self) -> _Batch | None:
        with self._cond:
            while True:
                now = time.monotonic()
                for batch in self._batches:
                    if self._ready(batch, now):
                        self._batches.remove(batch)
                        self._report_depth()
                        return batch
                if self._closing and not self._batches:
                    return None
                wait = None
                if self._batches:
                    timeout_s = self._params.batch_timeout_micros / 1e6
                    wait = max(0.0, min(b.created_at for b in self._batches) + timeout_s - now)
                self._cond.wait(wait)

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self._run(batch)
            except Exception:  # a worker must survive anything; errors already went to the callers
                logger.exception("Batch worker failed")

    def _run(self, batch: _Batch) -> None:
        tasks = [t for t in batch.tasks if t.future.set_running_or_notify_cancel()]
        if not tasks:
            return
        try:
            self._run_tasks(batch, tasks)
        finally:
            _deliver_to_loops(tasks)

    def _run_tasks(self, batch: _Batch, tasks: list[_Task]) -> None:
        started = time.monotonic()
        key = tasks[0].key
        if batch.group is None:
            merged, size, padded = tasks[0].inputs, tasks[0].size, tasks[0].size
        else:
            merged, size, padded = self._merge(tasks)
        try:
            outputs = {alias: np.asarray(v) for alias, v in self._run_fn(merged, *key).items()}
        except Exception as exc:
            if len(tasks) == 1:
                tasks[0].future.set_exception(exc)
            else:
                # One request's bad values (a corrupt image, say) must not fail the others merged
                # with it: run each alone, so only the culprit gets the error. TF Serving fails the
                # whole batch; this costs extra model runs only when a batch fails.
                for task in tasks:
                    self._run_alone(task, key)
            return
        finally:
            self._record(size, padded, tasks, started)
        if batch.group is None:
            tasks[0].future.set_result((outputs, frozenset()))
            return
        split = frozenset(a for a, v in outputs.items() if v.ndim and v.shape[0] == padded)
        offset = 0
        for task in tasks:
            share = {
                alias: value[offset : offset + task.size] if alias in split else value
                for alias, value in outputs.items()
            }
            offset += task.size
            task.future.set_result((share, split))

    def _run_alone(self, task: _Task, key: tuple) -> None:
        try:
            outputs = {alias: np.asarray(v) for alias, v in self._run_fn(task.inputs, *key).items()}
        except Exception as exc:
            task.future.set_exception(exc)
            return
        split = frozenset(a for a, v in outputs.items() if v.ndim and v.shape[0] == task.size)
        task.future.set_result((outputs, split))

    def _merge(self, tasks: list[_Task]) -> tuple[dict[str, np.ndarray], int, int]:
        size = sum(t.size for t in tasks)
        padded = next((s for s in self._params.allowed_batch_sizes if s >= size), size)
        merged = {}
        for alias in tasks[0].inputs:
            parts = [t.inputs[alias] for t in tasks]
            if padded > size:
                # Repeating a real row keeps padded rows valid inputs (no NaN, no empty strings).
                parts.append(np.repeat(parts[-1][-1:], padded - size, axis=0))
            merged[alias] = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        return merged, size, padded

    def _record(self, size: int, padded: int, tasks: list[_Task], started: float) -> None:
        with self._cond:
            self._stats.update(batches=1, tasks=len(tasks), rows=size, padded_rows=padded - size)
        if self._on_batch is None:
            return
        stats = BatchStats(size, padded, len(tasks), tuple(started - t.enqueued_at for t in tasks))
        try:
            self._on_batch(stats)
        except Exception:  # metrics must never fail a request
            logger.exception("on_batch callback failed")

    def close(self, timeout: float | None = None) -> None:
        """Stops accepting requests, runs what is queued, and stops the worker threads.

        Args:
            timeout: seconds to wait for each worker thread; None waits until they finish.
        """
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)


def _concat_chunks(results: list[tuple[dict[str, np.ndarray], frozenset]]) -> dict[str, np.ndarray]:
    """Reassembles the answers of a split request: split outputs are concatenated, others taken once."""
    first, _ = results[0]
    split_everywhere = set(first)
    for _, split in results:
        split_everywhere &= split
    return {
        alias: np.concatenate([r[alias] for r, _ in results], axis=0) if alias in split_everywhere else value
        for alias, value in first.items()
    }
