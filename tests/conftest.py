"""Project-wide test set-up: two logical CPUs (for MirroredStrategy tests), quiet TensorFlow,
the `shared_data` skip rule, and small generated datasets."""

from __future__ import annotations

import os

# Before TensorFlow is first imported (hence the E402 exemptions below): it reads this once.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Must happen before TensorFlow initialises its devices: the contract test mirrors over two CPUs.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(_cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def pytest_collection_modifyitems(config, items):
    """Skip `shared_data` tests, with the reason, where ../shared is absent (a user's clone)."""
    if SHARED.is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs the shared datasets folder {SHARED}, absent here")
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shapes_dir(tmp_path_factory) -> Path:
    """A small 4-class folder of PNG and JPEG shape images (generated, no download)."""
    from tfapps.pipelines.synthetic import write_shapes_dataset

    return write_shapes_dataset(tmp_path_factory.mktemp("shapes"), images_per_class=12, size=32)
