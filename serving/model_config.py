"""Read and write TF Serving's `--model_config_file` (text-format `ModelServerConfig`).

Example::

    path = write_models_config(Path("exports"))      # exports/models.config lists every model
    config = read_model_server_config(path)
    [c.name for c in config.model_config_list.config]
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from tfapps.apps.errors import InvalidArgumentError, NotFoundError, UnimplementedError

logger = logging.getLogger(__name__)

MODELS_CONFIG_NAME = "models.config"
TENSORFLOW_PLATFORM = "tensorflow"


def parse_version(name: str) -> int | None:
    """Parses a version directory name like `absl::SimpleAtoi` (`00000123` → 123; else None)."""
    try:
        return int(name.strip())
    except ValueError:
        return None


def list_versions(base_path: str | Path) -> dict[int, Path]:
    """Lists the numeric version directories under a model base path.

    Args:
        base_path: `<base_path>` holding `<version>/saved_model.pb` folders.

    Returns:
        version → directory; non-numeric children are ignored and, for duplicate numbers
        (`1`, `001`), the later one in sorted order wins (with a warning), as upstream.
    """
    versions: dict[int, Path] = {}
    for child in sorted(Path(base_path).iterdir()):
        version = parse_version(child.name)
        if version is None or not child.is_dir():
            continue
        if version in versions:
            logger.warning(
                "Two version directories for version %d under %s; using %s", version, base_path, child
            )
        versions[version] = child
    return versions


def _has_saved_model(version_dir: Path) -> bool:
    return (version_dir / "saved_model.pb").is_file() or (version_dir / "saved_model.pbtxt").is_file()


def validate_model_server_config(config: model_server_config_pb2.ModelServerConfig) -> None:
    """Checks a ModelServerConfig the way ServerCore does before loading.

    Raises:
        InvalidArgumentError: duplicate names, relative base paths, missing or unknown platform.
        UnimplementedError: a `custom_model_config` (not supported by tensorflow_model_server).
    """
    if config.WhichOneof("config") == "custom_model_config":
        raise UnimplementedError(
            "custom_model_config is not supported; expected a model_config_list. "
            "Received: config=custom_model_config"
        )
    seen: set[str] = set()
    for model in config.model_config_list.config:
        if model.name in seen:
            raise InvalidArgumentError(
                f"Illegal to list model {model.name} multiple times in config list. Received: name={model.name!r}"
            )
        seen.add(model.name)
        if not model.name:
            raise InvalidArgumentError("Every model config needs a name. Received: name=''")
        if not (os.path.isabs(model.base_path) or "://" in model.base_path):
            raise InvalidArgumentError(
                f"Expected model {model.name} to have an absolute path or URI; "
                f"got base_path()={model.base_path}"
            )
        if not model.model_platform and not model.model_type:
            raise InvalidArgumentError(
                "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
                f"ModelServerConfig::model_platform, model name is {model.name}"
            )
        if model.model_platform and model.model_type:
            raise InvalidArgumentError(
                f"Illegal setting both ModelServerConfig::model_type (deprecated) and "
                f"ModelServerConfig::model_platform, model name is {model.name}"
            )
        if model.model_platform and model.model_platform != TENSORFLOW_PLATFORM:
            raise InvalidArgumentError(
                f"Model {model.name} requests unsupported platform {model.model_platform}"
            )


def read_model_server_config(path: str | Path) -> model_server_config_pb2.ModelServerConfig:
    """Reads and validates a text-format `ModelServerConfig` file.

    Args:
        path: the `--model_config_file`.

    Returns:
        The parsed proto.

    Raises:
        NotFoundError: the file does not exist.
        InvalidArgumentError: it does not parse ("Error parsing text-format
            tensorflow.serving.ModelServerConfig: ...") or fails validation.
        UnimplementedError: it uses `custom_model_config`.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise NotFoundError(
            f"Model config file not found. Received: model_config_file={str(path)!r}"
        ) from exc
    except OSError as exc:
        raise InvalidArgumentError(
            f"Cannot read the model config file: {exc}. Received: model_config_file={str(path)!r}"
        ) from exc
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise InvalidArgumentError(
            f"Error parsing text-format tensorflow.serving.ModelServerConfig: {exc}. "
            f"Received: model_config_file={str(path)!r}"
        ) from exc
    validate_model_server_config(config)
    return config


def find_model_dirs(export_base: str | Path) -> list[Path]:
    """Lists child folders of `export_base` that hold at least one servable version.

    A model folder has a numeric child folder containing `saved_model.pb` (or `.pbtxt`).
    """
    found = []
    for child in sorted(Path(export_base).iterdir()):
        if child.is_dir() and any(_has_saved_model(v) for v in list_versions(child).values()):
            found.append(child)
    return found


def write_models_config(export_base: str | Path) -> Path:
    """Writes or updates `<export_base>/models.config` for every model exported under it.

    Every model folder (see `find_model_dirs`) gets an entry named after the folder with an
    absolute `base_path` and `model_platform: "tensorflow"`. From an existing file, the
    `model_version_policy`, `version_labels` and `logging_config` of entries with the same name are
    kept, and entries whose base path lies outside `export_base` are kept unchanged; entries for
    folders that no longer hold a model are dropped. The file is replaced atomically.

    Args:
        export_base: the folder holding `<name>/<version>/saved_model.pb` exports.

    Returns:
        The path of the written file.

    Raises:
        NotFoundError: `export_base` is not a directory.
        InvalidArgumentError: an existing `models.config` cannot be parsed.
    """
    export_base = Path(export_base).resolve()
    if not export_base.is_dir():
        raise NotFoundError(f"Export base is not a directory. Received: export_base={str(export_base)!r}")
    path = export_base / MODELS_CONFIG_NAME
    previous: dict[str, model_server_config_pb2.ModelConfig] = {}
    foreign: list[model_server_config_pb2.ModelConfig] = []
    if path.exists():
        for entry in read_model_server_config(path).model_config_list.config:
            base = Path(entry.base_path)
            if "://" not in entry.base_path and base.resolve().parent == export_base:
                previous[entry.name] = entry
            else:
                foreign.append(entry)
    config = model_server_config_pb2.ModelServerConfig()
    entries = config.model_config_list.config
    for model_dir in find_model_dirs(export_base):
        entry = entries.add(name=model_dir.name, base_path=str(model_dir), model_platform=TENSORFLOW_PLATFORM)
        old = previous.get(model_dir.name)
        if old is not None:
            if old.HasField("model_version_policy"):
                entry.model_version_policy.CopyFrom(old.model_version_policy)
            for label, version in old.version_labels.items():
                entry.version_labels[label] = version
            if old.HasField("logging_config"):
                entry.logging_config.CopyFrom(old.logging_config)
    names = {e.name for e in entries}
    for entry in foreign:
        if entry.name in names:
            logger.warning("Dropping %s entry %r: a model folder of that name now exists", path, entry.name)
            continue
        entries.add().CopyFrom(entry)
    _atomic_write(path, text_format.MessageToString(config))
    logger.info("Wrote %s with %d model(s)", path, len(entries))
    return path


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a server running as another user must read it.
        # Readers (a polling TF Serving) must never see a half-written file.
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
