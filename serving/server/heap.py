"""Keeps the garbage collector's full passes short in a long-running model server.

TensorFlow and the models it loads are hundreds of thousands of long-lived Python objects. Under
load, CPython's full (generation 2) collection walks all of them with the GIL held: ~150 ms on the
benchmark machine, a stall of every request in flight, every few seconds (bench/serving.py: p99 at
64 batched REST clients 170 -> 25 ms, 12% more requests/s). `gc.freeze()` moves the objects alive
now to a permanent generation that collections skip; freezing itself costs nothing.

Frozen objects are never collected, so after a model version is unloaded the heap is unfrozen,
collected once (freeing the unloaded model's reference cycles: one pause per unload instead of one
every few seconds) and frozen again. A manager that stops unfreezes the heap for whatever runs next
in the process.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

logger = logging.getLogger(__name__)

# Several managers may share a process (tests, embedding): a freeze or unfreeze by one must not
# land between another's unfreeze and collection, or that collection finds nothing to free.
_lock = threading.Lock()


def freeze() -> None:
    """Moves every object alive now out of the collector's reach (after model versions loaded)."""
    with _lock:
        gc.freeze()


def collect_and_freeze() -> None:
    """After model versions were unloaded: frees what they left in reference cycles, then freezes
    what remains."""
    with _lock:
        started = time.perf_counter()
        gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
    logger.info("Freed %d objects after unloading in %.0f ms", freed, 1e3 * (time.perf_counter() - started))


def unfreeze() -> None:
    """Returns the frozen objects to the collector (when a manager stops)."""
    with _lock:
        gc.unfreeze()
