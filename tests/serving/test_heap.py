"""The model manager keeps loaded models out of the collector's full passes (serving/server/heap.py)
without leaking the versions it unloads."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest
from tensorflow_serving.config import model_server_config_pb2

from tfapps.serving.server.manager import ModelManager


class CyclicServable:
    """Stands in for a loaded SavedModel: like TensorFlow's objects, it sits in reference cycles,
    so only the cyclic collector can free it once unloaded."""

    def __init__(self, version_dir: Path):
        self.version_dir = version_dir
        self.cycle = {"owner": self}


@pytest.fixture
def base(tmp_path: Path) -> Path:
    (tmp_path / "m" / "1").mkdir(parents=True)
    return tmp_path / "m"


@pytest.fixture(autouse=True)
def _restore_collector():
    yield
    gc.unfreeze()  # whatever a failed test left frozen


def manager_for(base: Path, loaded: list, **kwargs) -> ModelManager:
    def loader(version_dir: Path) -> CyclicServable:
        servable = CyclicServable(version_dir)
        loaded.append(weakref.ref(servable))
        return servable

    config = model_server_config_pb2.ModelConfig(name="m", base_path=str(base), model_platform="tensorflow")
    return ModelManager([config], enable_warmup=False, loader=loader, **kwargs)


def test_loaded_versions_are_frozen(base: Path) -> None:
    gc.unfreeze()
    manager = manager_for(base, [])
    manager.load_initial()
    assert gc.get_freeze_count() > 0
    manager.stop()
    assert gc.get_freeze_count() == 0  # a stopped manager hands every object back to the collector


def test_an_unloaded_version_is_freed_at_once(base: Path) -> None:
    loaded: list[weakref.ref] = []
    manager = manager_for(base, loaded)
    manager.load_initial()
    (base / "2").mkdir()
    manager.reconcile()  # loads 2, then unloads 1
    assert manager.resolve("m").version == 2
    assert loaded[0]() is None, "the unloaded version stayed frozen (or waits for a later collection)"
    assert loaded[1]() is not None
    manager.stop()


def test_freezing_can_be_turned_off(base: Path) -> None:
    gc.unfreeze()
    manager = manager_for(base, [], freeze_heap=False)
    manager.load_initial()
    assert gc.get_freeze_count() == 0
    manager.stop()
