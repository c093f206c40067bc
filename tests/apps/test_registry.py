"""Task discovery by convention."""

from __future__ import annotations

import pytest

from tfapps.apps.errors import UsageError
from tfapps.apps.registry import get_task, task_names
from tfapps.apps.task import Task


def test_every_task_satisfies_the_protocol():
    assert "image_classification" in task_names()
    for name in task_names():
        task = get_task(name)
        assert isinstance(task, Task)
        assert task.name == name
        assert "tiny" in task.presets


def test_unknown_task_suggests_the_closest_name():
    with pytest.raises(UsageError, match="Did you mean 'image_classification'"):
        get_task("image_clasification")
