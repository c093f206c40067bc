"""`tfapps predict`: run an exported SavedModel on files (locally, or on a server over REST or gRPC),
in batches, one JSON object per input."""

from __future__ import annotations

import base64
import glob
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tfapps.apps.errors import NotFoundError, TfappsError, UsageError

__all__ = ["expand_inputs", "predict_files", "predict_remote", "short_error", "to_jsonable", "version_dir"]


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


def _file_input_alias(inputs: Mapping[str, str], signature_name: str) -> str:
    """The one string input that file contents go to.

    Args:
        inputs: input alias → dtype name (`string`, `DT_STRING`, `float`, ...).
    """
    string_inputs = [alias for alias, dtype in inputs.items() if dtype in ("string", "DT_STRING")]
    if len(inputs) != 1 or len(string_inputs) != 1:
        raise UsageError(
            "tfapps predict feeds file contents to a signature with exactly one string input. "
            f"Received: signature '{signature_name}' inputs={sorted(inputs)}"
        )
    return string_inputs[0]


def _rows(
    run: Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]],
    alias: str,
    inputs: list[Path],
    batch_size: int,
) -> Iterator[dict[str, Any]]:
    """Run `inputs` in batches; a batch that fails is retried one input at a time, so one bad
    file costs only its own answer."""

    def run_batch(batch: list[Path]) -> list[dict[str, Any]]:
        values = np.array([p.read_bytes() for p in batch], dtype=object)
        outputs = run({alias: values})
        return [
            {"input": str(p), **{k: to_jsonable(k, np.asarray(v)[i]) for k, v in sorted(outputs.items())}}
            for i, p in enumerate(batch)
        ]

    for start in range(0, len(inputs), batch_size):
        batch = inputs[start : start + batch_size]
        try:
            yield from run_batch(batch)
        except (TfappsError, OSError):
            for path in batch:
                try:
                    yield from run_batch([path])
                except (TfappsError, OSError) as err:
                    yield {"input": str(path), "error": short_error(err)}


def predict_files(
    model_dir: str | Path,
    inputs: list[Path],
    signature_name: str = "serving_default",
    batch_size: int = 32,
    version: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Run a local SavedModel on files: yield `{"input": path, <output>: value, ...}` per input,
    or `{"input": path, "error": ...}`.

    Raises:
        UsageError: the signature does not take exactly one string input (the file contents).
    """
    import tensorflow_text  # noqa: F401  (registers the text ops a SavedModel may use)

    from tfapps.serving.runtime import load_servable

    servable = load_servable(version_dir(model_dir, version))
    info = servable.signature(signature_name)
    alias = _file_input_alias({a: spec.dtype_name for a, spec in info.inputs.items()}, signature_name)
    yield from _rows(
        lambda feeds: servable.predict(feeds, signature_name=signature_name), alias, inputs, batch_size
    )


def predict_remote(
    server: str,
    model_name: str,
    inputs: list[Path],
    grpc: bool = False,
    signature_name: str = "serving_default",
    batch_size: int = 32,
    version: int | None = None,
    timeout: float = 30.0,
) -> Iterator[dict[str, Any]]:
    """Send files to a running TF Serving (or `tfapps serve`) over REST or gRPC; rows as `predict_files`.

    Args:
        server: `HOST:PORT` (REST port, or gRPC port with `grpc=True`); `http://...` also works for REST.
        model_name: the served model's name.
        inputs: the files.
        grpc: use gRPC instead of REST.
        signature_name, batch_size, version, timeout: as named.

    Raises:
        UsageError: the signature does not take exactly one string input.
        NotFoundError, UnavailableError, ...: the server's answer to the metadata request.
    """
    from tfapps.serving.clients import GrpcClient, RestClient

    if grpc:
        client = GrpcClient(server.removeprefix("grpc://"), timeout=timeout)
    else:
        client = RestClient(server if "://" in server else f"http://{server}", timeout=timeout)
    try:
        signatures = client.metadata(model_name, version)["metadata"]["signature_def"]["signature_def"]
        if signature_name not in signatures:
            raise NotFoundError(
                f"The model has no signature '{signature_name}'; it has {sorted(signatures)}. "
                f"Received: signature={signature_name!r}"
            )
        declared = {a: t["dtype"] for a, t in signatures[signature_name]["inputs"].items()}
        alias = _file_input_alias(declared, signature_name)

        def run(feeds):
            return client.predict(model_name, feeds, signature_name=signature_name, version=version)

        yield from _rows(run, alias, inputs, batch_size)
    finally:
        close = getattr(client, "close", None)
        if close is not None:
            close()
