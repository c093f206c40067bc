"""Config resolution: defaults → preset → files → overrides, validation and round trips."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from tfapps.apps import config as config_lib
from tfapps.apps.errors import ConfigError
from tfapps.apps.image_classification import TASK


def resolve(**kwargs):
    return config_lib.resolve(TASK.config_cls, TASK.presets, **kwargs)


def test_defaults_are_the_dataclass_defaults():
    config = resolve()
    assert config == TASK.config_cls()
    assert dataclasses.is_dataclass(config) and config.train.optimizer == "adamw"


def test_precedence_preset_then_files_then_values_then_overrides(tmp_path):
    first = tmp_path / "a.yaml"
    first.write_text(yaml.safe_dump({"train": {"epochs": 7, "batch_size": 16}, "data": {"seed": 3}}))
    second = tmp_path / "b.yaml"
    second.write_text(yaml.safe_dump({"train": {"epochs": 9}}))
    config = resolve(
        preset="tiny",
        files=[first, second],
        values={"data.train": "/data/x", "train.batch_size": 4},
        overrides=["train.batch_size=2", "model.dropout=0.5"],
    )
    assert config.model.widths == (8, 16)  # from the preset
    assert config.data.seed == 3  # first file
    assert config.train.epochs == 9  # second file wins over the first
    assert config.data.train == "/data/x"  # --data
    assert config.train.batch_size == 2  # --set wins over everything
    assert config.model.dropout == 0.5
    assert config.train.learning_rate == TASK.presets["tiny"]["train"]["learning_rate"]


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"Did you mean 'train\.epochs'\?.*Received: key='train\.epoch'"):
        resolve(overrides=["train.epoch=3"])
    with pytest.raises(ConfigError, match=r"Did you mean 'data\.train'"):
        resolve(overrides=["dat.train=x"])


def test_unknown_key_in_a_file_fails(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("train:\n  lerning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="train.learning_rate"):
        resolve(files=[file])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs=three", "expected an integer"),
        ("train.epochs=1.5", "expected an integer"),
        ("train.optimizer=adagrad", "expected one of 'adamw', 'adam', 'sgd', 'rmsprop'"),
        ("runtime.mixed_precision=maybe", "expected true or false"),
        ("data.image_size=[32]", "expected a list of 2 values"),
        ("data.image_size=[4, 4]", "both sides >= 8"),
        ("serving.top_k=0", "serving.top_k"),
        ("data.validation_split=1.0", "data.validation_split"),
        ("train", "key=value"),
    ],
)
def test_invalid_values_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message) as info:
        resolve(overrides=[override])
    assert "Received:" in str(info.value)


def test_types_are_coerced_losslessly():
    config = resolve(overrides=["train.learning_rate=1", "data.image_size=[40, 48]", "model.widths=4,8"])
    assert config.train.learning_rate == 1.0 and isinstance(config.train.learning_rate, float)
    assert config.data.image_size == (40, 48)
    assert config.model.widths == (4, 8)


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ConfigError, match="Expected one of: .*cpu.*tiny"):
        resolve(preset="huge")


def test_bad_yaml_and_missing_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        resolve(files=[bad])
    with pytest.raises(ConfigError, match="Cannot read config file"):
        resolve(files=[tmp_path / "missing.yaml"])
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        resolve(files=[listy])


def test_dump_and_load_round_trip(tmp_path):
    config = resolve(preset="cpu", overrides=["data.class_names=[b, a]", "train.monitor=val_loss"])
    path = config_lib.dump(config, tmp_path / "run" / "config.yaml")
    assert config_lib.load(TASK.config_cls, path) == config
    # A dumped config is a valid --config file too.
    assert resolve(files=[path]) == config


def test_configs_are_frozen():
    config = resolve()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.epochs = 3  # type: ignore[misc]


def test_with_values_replaces_dotted_keys():
    config = config_lib.with_values(resolve(), **{"data.seed": 7, "train.epochs": 2})
    assert (config.data.seed, config.train.epochs) == (7, 2)
