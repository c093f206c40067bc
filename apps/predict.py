"""`tfapps predict`: run an exported SavedModel on files (locally, or on a server over REST or gRPC),
in batches, one JSON object per input."""

from __future__ import annotations

import base64
import functools
import glob
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from tfapps.apps.errors import InvalidArgumentError, NotFoundError, TfappsError, UsageError

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


class _Feed(NamedTuple):
    """How files become a request: their bytes to a string input, or decoded arrays (DICOM,
    NIfTI, PNG) to a float input of `rank` (4: `[None, H, W, C]`, 5: `[None, D, H, W, C]`)."""

    alias: str
    rank: int = 1
    channels: int | None = None

    @property
    def is_array(self) -> bool:
        return self.rank >= 4


def _feed_for(inputs: Mapping[str, tuple[str, tuple | None]], signature_name: str) -> _Feed:
    """The one input that file contents go to.

    Args:
        inputs: input alias → (dtype name: `string`, `DT_STRING`, `float`, ...; declared shape).

    Raises:
        UsageError: the signature does not take exactly one string input or one float image or
            volume input.
    """
    if len(inputs) == 1:
        ((alias, (dtype, shape)),) = inputs.items()
        if dtype in ("string", "DT_STRING"):
            return _Feed(alias)
        if dtype in ("float", "DT_FLOAT") and shape is not None and len(shape) in (4, 5):
            return _Feed(alias, len(shape), shape[-1] if shape[-1] and shape[-1] > 0 else None)
    raise UsageError(
        "tfapps predict feeds files to a signature with exactly one string input (file bytes) or "
        "one float32 image [None, H, W, C] / volume [None, D, H, W, C] input (DICOM, NIfTI and "
        f"image files are decoded first). Received: signature '{signature_name}' "
        f"inputs={ {a: d for a, (d, _) in sorted(inputs.items())} }"
    )


def _read_array(path: Path, feed: _Feed):
    """A medical or image file as a `[1, *spatial, C]` float32 batch for `feed`, and the image."""
    from tfapps.pipelines.medical_io import read_medical_file

    image = read_medical_file(path)
    array = np.asarray(image.array, np.float32)
    spatial = feed.rank - 2
    if array.ndim == spatial:
        array = array[..., None]
    if array.ndim != spatial + 1 or (feed.channels and array.shape[-1] != feed.channels):
        kind = "2D images" if spatial == 2 else "3D volumes"
        raise InvalidArgumentError(
            f"The signature takes {kind} with {feed.channels or 'any number of'} channel(s). "
            f"Received: {path.name} with shape {list(image.array.shape)}"
        )
    return array[None], image


def _write_spatial_output(name: str, value: np.ndarray, image, source: Path, output_dir: Path) -> Path:
    """Write a per-voxel output (a mask, a saliency map) next to its input's kind: NIfTI with the
    input's affine for NIfTI inputs (so it opens aligned in a viewer), PNG for 2D, else NIfTI."""
    from tfapps.pipelines.medical_io import medical_suffix, write_nifti

    stem = source.name[: -len(medical_suffix(source))] if medical_suffix(source) else source.stem
    integer = value.dtype.kind in "iub"
    if value.ndim == 2 and image.kind != "nifti":
        from PIL import Image

        pixels = value.astype(np.uint8) if integer else np.round(np.clip(value, 0, 1) * 255).astype(np.uint8)
        path = output_dir / f"{stem}_{name}.png"
        output_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
        return path
    # Files without an affine (DICOM series, PNG) get their voxel spacing on the diagonal.
    spacing = [*image.spacing, 1.0, 1.0, 1.0][:3]
    affine = image.affine if image.affine is not None else np.diag([*spacing, 1.0])
    dtype = np.uint8 if integer and value.max(initial=0) < 256 else (np.int32 if integer else np.float32)
    return write_nifti(output_dir / f"{stem}_{name}.nii.gz", value.astype(dtype), affine)


class _Item(NamedTuple):
    """One input of a string signature: its name in the output rows, and how to get its bytes."""

    name: str
    read: Callable[[], bytes]


def _file_items(paths: list[Path]) -> Iterator[_Item | dict[str, Any]]:
    """Each file's bytes as one input."""
    for path in paths:
        yield _Item(str(path), path.read_bytes)


def _line_items(paths: list[Path]) -> Iterator[_Item | dict[str, Any]]:
    """Each non-empty line of each file as one input (`path:line`); an unreadable file is an
    error row."""
    for path in paths:
        try:
            lines = path.read_bytes().splitlines()
        except OSError as err:
            yield {"input": str(path), "error": short_error(err)}
            continue
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield _Item(f"{path}:{number}", functools.partial(bytes, line.strip()))


def _rows(
    run: Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]],
    alias: str,
    items: Iterable[_Item | dict[str, Any]],
    batch_size: int,
) -> Iterator[dict[str, Any]]:
    """Run `items` in batches; a batch that fails is retried one input at a time, so one bad
    input costs only its own answer. Error rows among `items` pass through."""

    def run_batch(batch: list[_Item]) -> list[dict[str, Any]]:
        values = np.array([item.read() for item in batch], dtype=object)
        outputs = run({alias: values})
        return [
            {"input": item.name, **{k: to_jsonable(k, np.asarray(v)[i]) for k, v in sorted(outputs.items())}}
            for i, item in enumerate(batch)
        ]

    def run_all(batch: list[_Item]) -> Iterator[dict[str, Any]]:
        try:
            yield from run_batch(batch)
        except (TfappsError, OSError):
            for item in batch:
                try:
                    yield from run_batch([item])
                except (TfappsError, OSError) as err:
                    yield {"input": item.name, "error": short_error(err)}

    batch: list[_Item] = []
    for item in items:
        if isinstance(item, dict):
            yield item
            continue
        batch.append(item)
        if len(batch) == batch_size:
            yield from run_all(batch)
            batch = []
    if batch:
        yield from run_all(batch)


def _audio_items(paths: list[Path], sample_rate: int | None) -> Iterator[_Item | dict[str, Any]]:
    """Each audio file (any format soundfile reads, any rate, any channels) as 16-bit PCM mono WAV
    bytes at `sample_rate` (the model's, when known), or at the file's own rate, which the
    served graph resamples."""
    from tfapps.pipelines.audio_io import encode_wav, read_audio

    def wav(path: Path) -> bytes:
        samples, rate = read_audio(path, sample_rate)
        return encode_wav(samples, rate)

    for path in paths:
        yield _Item(str(path), functools.partial(wav, path))


def _is_audio(feed: _Feed) -> bool:
    # Speech models take WAV bytes under this name (ARCHITECTURE.md: WAV bytes → transcript).
    return feed.alias == "audio_bytes" or feed.alias.endswith("_audio_bytes")


def _string_items(
    inputs: list[Path], lines: bool, feed: _Feed, sample_rate: int | None = None
) -> Iterator[_Item | dict[str, Any]]:
    if _is_audio(feed) and not lines:
        return _audio_items(inputs, sample_rate)
    return _line_items(inputs) if lines else _file_items(inputs)


def _model_sample_rate(version: Path) -> int | None:
    """`data.sample_rate` of a tfapps export's resolved config, or None (not a tfapps export, or
    a task without one)."""
    import yaml

    from tfapps.serving.export import CONFIG_FILE

    path = version / "assets.extra" / CONFIG_FILE
    try:
        metadata = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    rate = ((metadata.get("config") or {}).get("data") or {}).get("sample_rate")
    return int(rate) if isinstance(rate, int) and rate > 0 else None


def _check_lines(feed: _Feed, lines: bool) -> None:
    if lines and feed.is_array:
        raise UsageError(
            "--lines sends each line of text files to a string input; this signature takes decoded "
            f"images or volumes. Received: input '{feed.alias}' of rank {feed.rank}"
        )


_MAX_PRINTED_VALUES = 4096


def _array_rows(
    run: Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]],
    feed: _Feed,
    inputs: list[Path],
    output_dir: Path | None,
) -> Iterator[dict[str, Any]]:
    """One request per decoded file (sizes differ). Outputs with the input's spatial size (masks,
    saliency) go to files under `output_dir`; without it, large ones are summarised."""
    for path in inputs:
        try:
            batch, image = _read_array(path, feed)
            outputs = run({feed.alias: batch})
        except (TfappsError, OSError) as err:
            yield {"input": str(path), "error": short_error(err)}
            continue
        row: dict[str, Any] = {"input": str(path)}
        for key, value in sorted(outputs.items()):
            value = np.asarray(value)[0]
            if value.shape == batch.shape[1:-1] and output_dir is not None:
                row[f"{key}_file"] = str(_write_spatial_output(key, value, image, path, output_dir))
            elif value.size > _MAX_PRINTED_VALUES:
                row[key] = {"shape": list(value.shape), "omitted": "pass --output-dir to write it to a file"}
            else:
                row[key] = to_jsonable(key, value)
        yield row


def predict_files(
    model_dir: str | Path,
    inputs: list[Path],
    signature_name: str = "serving_default",
    batch_size: int = 32,
    version: int | None = None,
    output_dir: str | Path | None = None,
    lines: bool = False,
) -> Iterator[dict[str, Any]]:
    """Run a local SavedModel on files: yield `{"input": path, <output>: value, ...}` per input,
    or `{"input": path, "error": ...}`.

    A signature with one string input gets each file's bytes, in batches (with `lines`, each
    non-empty line of each file instead, named `path:line`: sentences to translate); an
    `audio_bytes` input gets each audio file (WAV, FLAC, OGG, MP3, any rate and channels) as 16-bit
    PCM mono WAV at the model's `data.sample_rate`; one with a float
    image/volume input (`[None, H, W, C]`, `[None, D, H, W, C]`) gets each DICOM, NIfTI or image
    file decoded to physical units, one request per file; outputs of the input's spatial size go
    to `output_dir` (`<output>_file` in the row) — NIfTI with the input's affine for NIfTI inputs.

    Raises:
        UsageError: the signature takes neither one string input nor one float image/volume input.
    """
    import tensorflow_text  # noqa: F401  (registers the text ops a SavedModel may use)

    from tfapps.serving.runtime import load_servable

    directory = version_dir(model_dir, version)
    servable = load_servable(directory)
    info = servable.signature(signature_name)
    feed = _feed_for({a: (spec.dtype_name, spec.shape) for a, spec in info.inputs.items()}, signature_name)
    _check_lines(feed, lines)

    def run(feeds):
        return servable.predict(feeds, signature_name=signature_name)

    if feed.is_array:
        yield from _array_rows(run, feed, inputs, Path(output_dir) if output_dir else None)
    else:
        items = _string_items(inputs, lines, feed, _model_sample_rate(directory))
        yield from _rows(run, feed.alias, items, batch_size)


def _declared_shape(tensor_info: Mapping[str, Any]) -> tuple[int | None, ...] | None:
    """The dims of a metadata `TensorInfo` JSON (`{"tensor_shape": {"dim": [{"size": "-1"}]}}`)."""
    shape = tensor_info.get("tensor_shape", {})
    if shape.get("unknown_rank"):
        return None
    return tuple(None if int(d.get("size", -1)) < 0 else int(d["size"]) for d in shape.get("dim", []))


def predict_remote(
    server: str,
    model_name: str,
    inputs: list[Path],
    grpc: bool = False,
    signature_name: str = "serving_default",
    batch_size: int = 32,
    version: int | None = None,
    timeout: float = 30.0,
    output_dir: str | Path | None = None,
    lines: bool = False,
) -> Iterator[dict[str, Any]]:
    """Send files to a running TF Serving (or `tfapps serve`) over REST or gRPC; rows as `predict_files`.

    Audio files go to an `audio_bytes` input as 16-bit PCM mono WAV at their own rate: the
    server's metadata does not say the model's rate, and tfapps speech models resample in the graph.

    Args:
        server: `HOST:PORT` (REST port, or gRPC port with `grpc=True`); `http://...` also works for REST.
        model_name: the served model's name.
        inputs: the files.
        grpc: use gRPC instead of REST.
        signature_name, batch_size, version, timeout: as named.
        output_dir: where per-voxel outputs of decoded (DICOM, NIfTI, image) inputs are written.
        lines: send each non-empty line of the files as one input (string signatures).

    Raises:
        UsageError: the signature takes neither one string input nor one float image/volume input.
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
        declared = {
            a: (t["dtype"], _declared_shape(t)) for a, t in signatures[signature_name]["inputs"].items()
        }
        feed = _feed_for(declared, signature_name)
        _check_lines(feed, lines)

        def run(feeds):
            return client.predict(model_name, feeds, signature_name=signature_name, version=version)

        if feed.is_array:
            yield from _array_rows(run, feed, inputs, Path(output_dir) if output_dir else None)
        else:
            yield from _rows(run, feed.alias, _string_items(inputs, lines, feed), batch_size)
    finally:
        close = getattr(client, "close", None)
        if close is not None:
            close()
