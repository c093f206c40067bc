"""Reading and writing `models.config` (text-format ModelServerConfig)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from google.protobuf import text_format

from tfapps.apps.errors import InvalidArgumentError, NotFoundError
from tfapps.serving.model_config import list_versions, read_model_server_config, write_models_config


def fake_model(base: Path, name: str, *versions: str) -> Path:
    for version in versions:
        (base / name / version).mkdir(parents=True)
        (base / name / version / "saved_model.pb").write_bytes(b"")
    return base / name


def test_write_lists_every_model_with_absolute_paths(tmp_path: Path) -> None:
    fake_model(tmp_path, "b", "1", "2")
    fake_model(tmp_path, "a", "007")
    (tmp_path / "not_a_model" / "latest").mkdir(parents=True)
    (tmp_path / "empty_version" / "3").mkdir(parents=True)
    path = write_models_config(tmp_path)
    assert path == tmp_path.resolve() / "models.config"
    config = read_model_server_config(path)
    entries = config.model_config_list.config
    assert [(e.name, e.base_path, e.model_platform) for e in entries] == [
        ("a", str((tmp_path / "a").resolve()), "tensorflow"),
        ("b", str((tmp_path / "b").resolve()), "tensorflow"),
    ]
    assert not list(tmp_path.glob(".models.config.*"))  # the temp file was renamed away


def test_write_keeps_policies_labels_and_foreign_entries(tmp_path: Path) -> None:
    fake_model(tmp_path, "a", "1", "2")
    fake_model(tmp_path, "gone", "1")
    path = write_models_config(tmp_path)
    config = read_model_server_config(path)
    entry = config.model_config_list.config[0]
    entry.model_version_policy.specific.versions.extend([1, 2])
    entry.version_labels["stable"] = 1
    config.model_config_list.config.add(
        name="other", base_path="/elsewhere/other", model_platform="tensorflow"
    )
    path.write_text(text_format.MessageToString(config))
    shutil.rmtree(tmp_path / "gone")
    fake_model(tmp_path, "new", "5")

    entries = {
        e.name: e for e in read_model_server_config(write_models_config(tmp_path)).model_config_list.config
    }
    assert sorted(entries) == ["a", "new", "other"]
    assert list(entries["a"].model_version_policy.specific.versions) == [1, 2]
    assert dict(entries["a"].version_labels) == {"stable": 1}
    assert not entries["new"].HasField("model_version_policy")
    assert entries["other"].base_path == "/elsewhere/other"


def test_write_requires_a_directory(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="Export base is not a directory"):
        write_models_config(tmp_path / "missing")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "model_config_list { config { name: 'a' base_path: '/x' model_platform: 'tensorflow' } "
            "config { name: 'a' base_path: '/y' model_platform: 'tensorflow' } }",
            "Illegal to list model a multiple times",
        ),
        (
            "model_config_list { config { name: 'a' base_path: 'rel' model_platform: 'tensorflow' } }",
            "to have an absolute path or URI; got base_path()=rel",
        ),
        ("model_config_list { config { name: 'a' base_path: '/x' } }", "Illegal setting neither"),
        (
            "model_config_list { config { name: 'a' base_path: '/x' model_platform: 'onnx' } }",
            "requests unsupported platform onnx",
        ),
        (
            "model_config_list { config { nme: 'a' } }",
            "Error parsing text-format tensorflow.serving.ModelServerConfig",
        ),
    ],
)
def test_read_rejects_bad_configs(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "models.config"
    path.write_text(text)
    with pytest.raises(InvalidArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_model_server_config(path)


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="Model config file not found"):
        read_model_server_config(tmp_path / "nope.config")


def test_list_versions_parses_like_simple_atoi(tmp_path: Path) -> None:
    for name in ("00000123", "7", "tmp", "8.5"):
        (tmp_path / name).mkdir()
    assert sorted(list_versions(tmp_path)) == [7, 123]


@pytest.mark.shared_data
def test_reads_upstream_good_and_bad_configs(testdata: Path, tmp_path: Path) -> None:
    text = (testdata / "good_model_config.txt").read_text()
    text = text.replace("${TEST_HALF_PLUS_TWO_DIR}", str(testdata / "saved_model_half_plus_two_cpu"))
    text = text.replace("${TEST_HALF_PLUS_THREE_DIR}", str(testdata / "saved_model_half_plus_three"))
    (tmp_path / "good.config").write_text(text)
    good = read_model_server_config(tmp_path / "good.config")
    assert [c.name for c in good.model_config_list.config] == ["half_plus_two", "half_plus_three"]
    with pytest.raises(InvalidArgumentError, match="Error parsing text-format"):
        read_model_server_config(testdata / "bad_model_config.txt")
