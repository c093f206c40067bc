"""Task discovery: every non-underscore subpackage of `tfapps.apps` is a task exporting `TASK`."""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from functools import cache
from typing import Any

import tfapps.apps
from tfapps.apps.errors import UsageError

__all__ = ["get_task", "task_names"]


@cache
def task_names() -> tuple[str, ...]:
    """Names of all registered tasks, sorted."""
    return tuple(
        sorted(
            info.name
            for info in pkgutil.iter_modules(tfapps.apps.__path__)
            if info.ispkg and not info.name.startswith("_")
        )
    )


def get_task(name: str) -> Any:
    """Return the `TASK` object of the task package `name`.

    Raises:
        UsageError: if no such task exists (with the closest name as a hint).
    """
    names = task_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise UsageError(
            f"Unknown task '{name}'.{hint} Available tasks: {', '.join(names)}. Received: task='{name}'"
        )
    module = importlib.import_module(f"tfapps.apps.{name}")
    task = getattr(module, "TASK", None)
    if task is None:
        raise UsageError(f"Task package tfapps.apps.{name} does not export TASK. Received: task='{name}'")
    return task
