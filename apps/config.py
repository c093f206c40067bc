"""Config resolution: defaults → preset → YAML files → `--set` overrides → validate → freeze → dump.

Task configs are frozen dataclasses at most two levels deep (`train.epochs`). Values are checked
against the field types (`int`, `float`, `bool`, `str`, `Literal[...]`, `tuple[...]`); unknown keys
are errors that suggest the closest key.

Example:
    config = resolve(ImageClassificationConfig, presets, preset="tiny",
                     overrides=["train.epochs=3", "data.train=/data/flowers"])
    dump(config, run_dir / "config.yaml")
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tfapps.apps.errors import ConfigError

__all__ = ["dump", "from_dict", "load", "parse_override", "resolve", "to_dict", "with_values"]


def to_dict(config: Any) -> dict[str, Any]:
    """Return the config as nested plain dicts, lists and scalars (YAML-ready)."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    return {
        section.name: {
            f.name: plain(getattr(getattr(config, section.name), f.name))
            for f in dataclasses.fields(getattr(config, section.name))
        }
        if dataclasses.is_dataclass(getattr(config, section.name))
        else plain(getattr(config, section.name))
        for section in dataclasses.fields(config)
    }


def check_ranges(checks: Iterable[tuple[bool, str, str, Any]]) -> None:
    """Raise for the first failed `(ok, key, expected, value)` check of a config's `validate()`.

    Raises:
        ConfigError: `Invalid value for '<key>': expected <expected>. Received: <key>=<value>`.
    """
    for ok, key, expected, value in checks:
        if not ok:
            raise ConfigError(f"Invalid value for '{key}': expected {expected}. Received: {key}={value!r}")


def _all_keys(config_cls: type) -> list[str]:
    keys = []
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        sub = hints[f.name]
        if dataclasses.is_dataclass(sub):
            keys += [f"{f.name}.{g.name}" for g in dataclasses.fields(sub)]
        else:
            keys.append(f.name)
    return keys


def _unknown_key(key: str, config_cls: type) -> ConfigError:
    keys = _all_keys(config_cls)
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else f" Valid keys: {', '.join(keys)}."
    return ConfigError(f"Unknown config key '{key}' for {config_cls.__name__}.{hint} Received: key='{key}'")


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Check `value` against the field type and convert losslessly (int → float, list → tuple)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if value not in choices:
            raise ConfigError(
                f"Invalid value for '{key}': expected one of {', '.join(map(repr, choices))}. "
                f"Received: {key}={value!r}"
            )
        return value
    if origin in (types.UnionType, typing.Union):
        errors = []
        for option in typing.get_args(annotation):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(key, value, option)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"Invalid value for '{key}': expected {annotation}. Received: {key}={value!r}")
    if origin is tuple:
        args = typing.get_args(annotation)
        if isinstance(value, str):
            # `--set model.widths=32,64` reads like `[32, 64]`.
            value = [yaml.safe_load(v) for v in value.split(",") if v.strip()]
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"Invalid value for '{key}': expected a list. Received: {key}={value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(f"{key}[{i}]", v, args[0]) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(
                f"Invalid value for '{key}': expected a list of {len(args)} values. Received: {key}={value!r}"
            )
        return tuple(_coerce(f"{key}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"Invalid value for '{key}': expected true or false. Received: {key}={value!r}")
    if annotation in (int, float) and isinstance(value, str):
        # YAML 1.1 reads `1e-4` (no dot) as a string; accept the number the user meant.
        with contextlib.suppress(ValueError):
            value = float(value) if annotation is float else int(value)
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"Invalid value for '{key}': expected an integer. Received: {key}={value!r}")
    if annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"Invalid value for '{key}': expected a number. Received: {key}={value!r}")
    if annotation is str:
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"Invalid value for '{key}': expected a string. Received: {key}={value!r}")
    raise ConfigError(
        f"Config field '{key}' has an unsupported type {annotation!r}. Received: {key}={value!r}"
    )


def from_dict(config_cls: type, values: Mapping[str, Any]) -> Any:
    """Build a frozen config from nested mappings, starting from the class defaults.

    Raises:
        ConfigError: on unknown keys or values of the wrong type.
    """
    hints = typing.get_type_hints(config_cls)
    defaults = config_cls()
    sections = {}
    for key, value in values.items():
        if key not in hints:
            # Report the dotted key the user typed (`dat.train`), so the hint can be `data.train`.
            sub = next(iter(value), None) if isinstance(value, Mapping) else None
            raise _unknown_key(f"{key}.{sub}" if sub else key, config_cls)
    for f in dataclasses.fields(config_cls):
        section_cls = hints[f.name]
        given = values.get(f.name, {})
        if not dataclasses.is_dataclass(section_cls):
            sections[f.name] = (
                _coerce(f.name, given, section_cls) if f.name in values else getattr(defaults, f.name)
            )
            continue
        if given is None:
            given = {}
        if not isinstance(given, Mapping):
            raise ConfigError(
                f"Config section '{f.name}' must be a mapping of keys to values. Received: {f.name}={given!r}"
            )
        section_hints = typing.get_type_hints(section_cls)
        kwargs = {}
        for key, value in given.items():
            if key not in section_hints:
                raise _unknown_key(f"{f.name}.{key}", config_cls)
            kwargs[key] = _coerce(f"{f.name}.{key}", value, section_hints[key])
        sections[f.name] = dataclasses.replace(getattr(defaults, f.name), **kwargs)
    config = config_cls(**sections)
    validate = getattr(config, "validate", None)
    if callable(validate):
        validate()
    return config


def _merge(base: dict[str, Any], update: Mapping[str, Any], source: str) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping):
            current = base.setdefault(key, {})
            if not isinstance(current, dict):
                raise ConfigError(
                    f"'{key}' is not a config section. Received: {key}={dict(value)!r} from {source}"
                )
            current.update(value)
        else:
            base[key] = value


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one `--set key=value`; the value is read as YAML (`3`, `true`, `[1, 2]`, `adamw`).

    Raises:
        ConfigError: if there is no `=` or the key is empty.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"Overrides take the form key=value, e.g. train.epochs=5. Received: {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def _nest(key: str, value: Any) -> dict[str, Any]:
    head, dot, rest = key.partition(".")
    return {head: {rest: value}} if dot else {head: value}


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"Cannot read config file: {err.strerror}. Received: path='{path}'") from err
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"Config file is not valid YAML: {err}. Received: path='{path}'") from err
    if not isinstance(data, Mapping):
        raise ConfigError(f"A config file must hold a mapping of sections. Received: path='{path}'")
    return data


def resolve(
    config_cls: type,
    presets: Mapping[str, Mapping[str, Any]],
    preset: str | None = None,
    files: Iterable[str | Path] = (),
    overrides: Iterable[str] = (),
    values: Mapping[str, Any] | None = None,
) -> Any:
    """Resolve a config: class defaults, then a preset, then YAML files, then overrides.

    Args:
        config_cls: the task's frozen config dataclass.
        presets: the task's named partial configs (nested mappings).
        preset: name of the preset to apply, or None.
        files: YAML files applied in order (a dumped `config.yaml` works as input).
        overrides: `key=value` strings applied last.
        values: dotted `key -> value` settings applied after the files, before `overrides`
            (the CLI's `--data` / `--val-data`).

    Returns:
        The validated, frozen config.

    Raises:
        ConfigError: unknown preset, unreadable file, unknown key or invalid value.
    """
    merged: dict[str, Any] = {}
    if preset:
        if preset not in presets:
            raise ConfigError(
                f"Unknown preset '{preset}'. Expected one of: {', '.join(sorted(presets))}. Received: preset='{preset}'"
            )
        _merge(merged, presets[preset], f"preset {preset}")
    for file in files:
        _merge(merged, _read_yaml(Path(file)), str(file))
    for key, value in (values or {}).items():
        _merge(merged, _nest(key, value), "the command line")
    for text in overrides:
        key, value = parse_override(text)
        _merge(merged, _nest(key, value), f"--set {text}")
    return from_dict(config_cls, merged)


def with_values(config: Any, **dotted: Any) -> Any:
    """Return a copy of `config` with dotted keys replaced: `with_values(c, **{"data.seed": 1})`."""
    merged = to_dict(config)
    for key, value in dotted.items():
        _merge(merged, _nest(key, value), "code")
    return from_dict(type(config), merged)


def dump(config: Any, path: str | Path) -> Path:
    """Write the resolved config as YAML (atomically) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
    tmp.replace(path)
    return path


def load(config_cls: type, path: str | Path) -> Any:
    """Read a dumped config back into `config_cls`."""
    return from_dict(config_cls, _read_yaml(Path(path)))
