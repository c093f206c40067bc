"""`tfapps predict`: run an exported SavedModel locally on files, in batches, one JSON object per input."""

from __future__ import annotations

import base64
import glob
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tfapps.apps.errors import NotFoundError, TfappsError, UsageError

__all__ = ["expand_inputs", "predict_files", "short_error", "to_jsonable", "version_dir"]


def expand_inputs(patterns: Iterable[str]) -> list[Path]:
    """Files named directly, every file under named folders (sorted), and glob matches.

    Raises:
        NotFoundError: a pattern matches nothing.
    """
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        else:
            matches = sorted(Path(m) for m in glob.glob(pattern, recursive=True) if Path(m).is_file())
            if not matches:
                raise NotFoundError(
                    f"No input file matches this path or pattern. Received: input='{pattern}'"
                )
            found += matches
    return found


def version_dir(model_dir: str | Path, version: int | None = None) -> Path:
    """The version directory to load: `version`, or the highest numeric one (TF Serving's default).

    Accepts a version directory itself (one holding `saved_model.pb`).
    """
    model_dir = Path(model_dir)
    if (model_dir / "saved_model.pb").is_file() and version is None:
        return model_dir
    versions = (
        sorted(int(p.name) for p in model_dir.iterdir() if p.name.isdigit()) if model_dir.is_dir() else []
    )
    if version is not None:
        if version not in versions:
            raise NotFoundError(
                f"Version {version} not found; available: {versions}. Received: model_dir='{model_dir}'"
            )
        return model_dir / str(version)
    if not versions:
        raise NotFoundError(
            f"No numeric version directories (e.g. 1/) with a SavedModel. Received: model_dir='{model_dir}'"
        )
    return model_dir / str(versions[-1])


def to_jsonable(name: str, value: Any) -> Any:
    """One output row as JSON: text as str, binary (`*_bytes` or not UTF-8) as `{"b64": ...}`."""
    if isinstance(value, np.ndarray):
        return [to_jsonable(name, v) for v in value] if value.ndim else to_jsonable(name, value.item())
    if isinstance(value, bytes):
        if not name.endswith("_bytes"):
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                pass
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.generic):
        return value.item()
    return value


def short_error(err: BaseException) -> str:
    """The informative line of an error: TensorFlow's graph errors wrap it in node and stack text."""
    noise = ("Graph execution error", "Detected at node", "<stack traces", "[[", "Received:")
    lines = [line.strip() for line in str(err).splitlines()]
    useful = [line for line in lines if line and not line.startswith(noise)]
    return useful[0] if useful else str(err)


def predict_files(
    model_dir: str | Path,
    inputs: list[Path],
    signature_name: str = "serving_default",
    batch_size: int = 32,
    version: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield `{"input": path, <output>: value, ...}` per input, or `{"input": path, "error": ...}`.

    A batch that fails is retried one input at a time, so one bad file costs only its own answer.

    Raises:
        UsageError: the signature does not take exactly one string input (the file contents).
    """
    import tensorflow_text  # noqa: F401  (registers the text ops a SavedModel may use)

    from tfapps.serving.runtime import load_servable

    servable = load_servable(version_dir(model_dir, version))
    info = servable.signature(signature_name)
    string_inputs = [alias for alias, spec in info.inputs.items() if spec.dtype_name == "string"]
    if len(info.inputs) != 1 or len(string_inputs) != 1:
        raise UsageError(
            "tfapps predict feeds file contents to a signature with exactly one string input. "
            f"Received: signature '{signature_name}' inputs={sorted(info.inputs)}"
        )
    alias = string_inputs[0]

    def run(batch: list[Path]) -> list[dict[str, Any]]:
        values = np.array([p.read_bytes() for p in batch], dtype=object)
        outputs = servable.predict({alias: values}, signature_name=signature_name)
        return [
            {"input": str(p), **{k: to_jsonable(k, v[i]) for k, v in sorted(outputs.items())}}
            for i, p in enumerate(batch)
        ]

    for start in range(0, len(inputs), batch_size):
        batch = inputs[start : start + batch_size]
        try:
            yield from run(batch)
        except (TfappsError, OSError):
            for path in batch:
                try:
                    yield from run([path])
                except (TfappsError, OSError) as err:
                    yield {"input": str(path), "error": short_error(err)}
