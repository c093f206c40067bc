"""Load a SavedModel version directory and run its signatures on numpy arrays.

This is the one place that executes a model for the embedded server (REST and gRPC both end up
in `Servable.predict`). Signature descriptions (aliases, dtypes, shapes, method names, defaults)
come from the raw `MetaGraphDef` in `saved_model.pb`, exactly as TF Serving reads them, so
metadata answers keep TF1 tensor names, `__saved_model_init_op` and `defaults`; execution goes
through `tf.saved_model.load(...).signatures`.

Example::

    servable = load_servable("/models/half_plus_two/123")
    servable.predict({"x": np.array([[2.0]], np.float32)})   # {"y": array([[3.]], dtype=float32)}
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

# TF Serving links the tensorflow-text ops into its binary; a Python process must register them
# before loading a SavedModel that uses them ("Op type not registered 'RegexSplitWithOffsets'").
import tensorflow_text  # noqa: F401
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import error_codes_pb2, meta_graph_pb2, saved_model_pb2

from tfapps.apps.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError, TfappsError
from tfapps.serving.status_codes import error_for_code

logger = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"
SERVE_TAG = "serve"
INIT_OP_SIGNATURE = "__saved_model_init_op"


def error_from_tf(exc: tf.errors.OpError) -> TfappsError:
    """Converts a TensorFlow runtime error into the tfapps error with the same canonical code."""
    try:
        code = error_codes_pb2.Code.Name(exc.error_code)
    except ValueError:
        code = "UNKNOWN"
    return error_for_code(code, exc.message)


def configure_tensorflow_threads(intra_op: int = 0, inter_op: int = 0) -> tuple[int, int]:
    """Sizes TensorFlow's intra-op and inter-op thread pools (TF Serving's
    `--tensorflow_intra_op_parallelism` / `--tensorflow_inter_op_parallelism`).

    Small models at small batches often run faster and far cheaper with `intra_op=1`: splitting a
    tiny op across cores costs more in wake-ups than it saves (see bench/serving.py).

    Args:
        intra_op: threads one op may use; 0 keeps TensorFlow's choice.
        inter_op: ops run at once; 0 keeps TensorFlow's choice.

    Returns:
        The `(intra_op, inter_op)` now in effect (0 = TensorFlow's automatic choice).

    Raises:
        FailedPreconditionError: TensorFlow already started in this process with other values (the
            pools are fixed once it runs its first op).
    """
    threading = tf.config.threading
    for wanted, getter, setter, name in (
        (
            intra_op,
            threading.get_intra_op_parallelism_threads,
            threading.set_intra_op_parallelism_threads,
            "intra_op",
        ),
        (
            inter_op,
            threading.get_inter_op_parallelism_threads,
            threading.set_inter_op_parallelism_threads,
            "inter_op",
        ),
    ):
        if wanted and getter() != wanted:
            try:
                setter(wanted)
            except RuntimeError as exc:
                raise FailedPreconditionError(
                    f"Cannot set TensorFlow's {name} parallelism to {wanted}: TensorFlow already runs in "
                    f"this process with {getter()} (0 = automatic). Set it before any model is loaded. "
                    f"Received: {name}={wanted}"
                ) from exc
    return threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()


def dtype_name(dtype: int) -> str:
    """Returns TensorFlow's `DataTypeString` for a `DataType` enum value (`DT_FLOAT` → `"float"`)."""
    try:
        return types_pb2.DataType.Name(dtype).removeprefix("DT_").lower()
    except ValueError:
        return f"unknown({dtype})"


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One input or output of a signature, as the MetaGraphDef declares it.

    Attributes:
        alias: the signature key (`"x"`, `"image_bytes"`).
        name: the graph tensor name (`"x:0"`).
        dtype: `tensorflow.DataType` enum value (`types_pb2.DT_FLOAT`).
        shape: the declared dims (`-1`/None for unknown), or None when the rank is unknown.
    """

    alias: str
    name: str
    dtype: int
    shape: tuple[int | None, ...] | None

    @property
    def tf_dtype(self) -> tf.dtypes.DType:
        """The `tf.DType` of this tensor."""
        return tf.dtypes.as_dtype(self.dtype)

    @property
    def dtype_name(self) -> str:
        """TensorFlow's short dtype name (`"float"`, `"string"`)."""
        return dtype_name(self.dtype)


@dataclasses.dataclass(frozen=True)
class SignatureInfo:
    """A signature's declared inputs and outputs, keyed by alias.

    Attributes:
        name: the signature key.
        method_name: e.g. `"tensorflow/serving/predict"`.
        inputs: alias → `TensorInfo`, sorted by alias.
        outputs: alias → `TensorInfo`, sorted by alias.
        defaults: alias → default value for inputs that may be left out.
    """

    name: str
    method_name: str
    inputs: Mapping[str, TensorInfo]
    outputs: Mapping[str, TensorInfo]
    defaults: Mapping[str, np.ndarray]


def _tensor_info(alias: str, info: meta_graph_pb2.TensorInfo) -> TensorInfo:
    if info.tensor_shape.unknown_rank:
        shape = None
    else:
        shape = tuple(None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim)
    return TensorInfo(alias=alias, name=info.name, dtype=info.dtype, shape=shape)


def _signature_info(name: str, sig: meta_graph_pb2.SignatureDef) -> SignatureInfo:
    return SignatureInfo(
        name=name,
        method_name=sig.method_name,
        inputs={a: _tensor_info(a, sig.inputs[a]) for a in sorted(sig.inputs)},
        outputs={a: _tensor_info(a, sig.outputs[a]) for a in sorted(sig.outputs)},
        defaults={a: tf.make_ndarray(sig.defaults[a]) for a in sorted(sig.defaults)},
    )


def read_meta_graph(
    version_dir: str | Path, tags: Iterable[str] = (SERVE_TAG,)
) -> meta_graph_pb2.MetaGraphDef:
    """Reads the MetaGraphDef with the given tags from a SavedModel directory.

    Args:
        version_dir: a directory holding `saved_model.pb` (or `saved_model.pbtxt`).
        tags: the tag set to select (TF Serving's `--saved_model_tags`, default `serve`).

    Returns:
        The matching `MetaGraphDef`.

    Raises:
        NotFoundError: there is no SavedModel file or no MetaGraphDef with these tags.
        InvalidArgumentError: the file cannot be parsed.
    """
    version_dir = Path(version_dir)
    pb, pbtxt = version_dir / "saved_model.pb", version_dir / "saved_model.pbtxt"
    saved_model = saved_model_pb2.SavedModel()
    try:
        if pb.is_file():
            saved_model.ParseFromString(pb.read_bytes())
        elif pbtxt.is_file():
            from google.protobuf import text_format

            text_format.Parse(pbtxt.read_text(), saved_model)
        else:
            raise NotFoundError(
                f"SavedModel not found: expected saved_model.pb or saved_model.pbtxt in the version "
                f"directory. Received: version_dir={str(version_dir)!r}"
            )
    except NotFoundError:
        raise
    except Exception as exc:  # protobuf raises DecodeError / ParseError
        raise InvalidArgumentError(
            f"Could not parse the SavedModel: {exc}. Received: version_dir={str(version_dir)!r}"
        ) from exc
    wanted = set(tags)
    for meta_graph in saved_model.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == wanted:
            return meta_graph
    found = [sorted(m.meta_info_def.tags) for m in saved_model.meta_graphs]
    raise NotFoundError(
        f"Could not find a MetaGraphDef with tags {sorted(wanted)} in the SavedModel; it has {found}. "
        f"Received: version_dir={str(version_dir)!r}"
    )


class Servable:
    """A loaded SavedModel version whose signatures run on dicts of numpy arrays.

    Build it with `load_servable`. Calls are thread-safe (TensorFlow functions may run
    concurrently).
    """

    def __init__(self, version_dir: Path, meta_graph: meta_graph_pb2.MetaGraphDef, loaded: Any):
        self.version_dir = version_dir
        self.meta_graph = meta_graph
        self._loaded = loaded
        self._functions = {name: _fast_caller(fn) for name, fn in loaded.signatures.items()}
        self._infos = {
            name: _signature_info(name, meta_graph.signature_def[name]) for name in meta_graph.signature_def
        }
        # TF1 graphs are fed by tensor name with C++ semantics upstream: declared shapes are not
        # enforced there, so we only enforce them for TF2 exports (object graph present).
        self.is_tf2 = len(meta_graph.object_graph_def.nodes) > 0

    @property
    def signature_names(self) -> list[str]:
        """Names of the callable signatures (sorted; `__saved_model_init_op` excluded)."""
        return sorted(n for n in self._infos if n != INIT_OP_SIGNATURE and n in self._functions)

    @property
    def signature_def_map(self) -> Mapping[str, meta_graph_pb2.SignatureDef]:
        """Every SignatureDef of the MetaGraphDef, as TF Serving's metadata API lists them."""
        return self.meta_graph.signature_def

    def signature(self, name: str = DEFAULT_SIGNATURE) -> SignatureInfo:
        """Returns the declared inputs/outputs of a signature.

        Args:
            name: signature key; empty means `serving_default`.

        Raises:
            FailedPreconditionError: no such signature (gRPC Predict's code and text).
        """
        name = name or DEFAULT_SIGNATURE
        info = self._infos.get(name)
        if info is None or name not in self._functions:
            raise FailedPreconditionError(
                f'Serving signature key "{name}" not found. Expected one of {self.signature_names}. '
                f"Received: signature_name={name!r}"
            )
        return info

    def predict(
        self,
        inputs: Mapping[str, Any],
        signature_name: str = DEFAULT_SIGNATURE,
        output_filter: Iterable[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Runs a signature.

        Args:
            inputs: alias → array-like. Each value is cast to the signature dtype when the kinds
                are compatible (numbers to numbers, text to string); inputs with a declared default
                may be left out.
            signature_name: signature key; empty means `serving_default`.
            output_filter: aliases to return; None or empty returns every output.

        Returns:
            alias → numpy array (strings as object arrays of `bytes`).

        Raises:
            FailedPreconditionError: unknown signature.
            InvalidArgumentError: missing/extra inputs, wrong dtype or shape, bad output filter, or
                the graph rejected the values.
            TfappsError: other TensorFlow runtime errors, with their canonical code.
        """
        info = self.signature(signature_name)
        wanted = self._check_output_filter(info, output_filter)
        feeds = self._prepare_inputs(info, inputs)
        try:
            result = self._functions[info.name](**feeds)
        except tf.errors.OpError as exc:
            raise error_from_tf(exc) from exc
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"Signature {info.name!r} rejected the inputs: {exc}. Received: inputs={_describe(feeds)}"
            ) from exc
        return {alias: _to_numpy(result[alias]) for alias in wanted}

    def _check_output_filter(self, info: SignatureInfo, output_filter: Iterable[str] | None) -> list[str]:
        names = list(output_filter or [])
        if not names:
            return list(info.outputs)
        seen: set[str] = set()
        for name in names:
            if name not in info.outputs:
                raise InvalidArgumentError(
                    f"output tensor alias not found in signature: {name} Outputs expected to be in the "
                    f"set {{{','.join(info.outputs)}}}. Received: output_filter={names}"
                )
            if name in seen:
                raise InvalidArgumentError(
                    f"duplicate output tensor alias: {name}. Received: output_filter={names}"
                )
            seen.add(name)
        return names

    def _prepare_inputs(self, info: SignatureInfo, inputs: Mapping[str, Any]) -> dict[str, tf.Tensor]:
        sent, declared = set(inputs), set(info.inputs)
        extra = sorted(sent - declared)
        missing = sorted(declared - sent - set(info.defaults))
        if extra or missing:
            raise InvalidArgumentError(
                f"input size does not match signature: {len(sent)}!={len(declared)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(declared))}}}). "
                f"Sent extra: {{{','.join(extra)}}}. Missing but required: {{{','.join(missing)}}}. "
                f"Received: inputs={sorted(sent)}"
            )
        feeds = {}
        for alias, spec in info.inputs.items():
            value = inputs[alias] if alias in inputs else info.defaults[alias]
            array = cast_to_dtype(alias, value, spec)
            if self.is_tf2:
                _check_shape(alias, array.shape, spec)
            feeds[alias] = tf.constant(array, dtype=spec.tf_dtype)
        return feeds


def _fast_caller(function: Any) -> Any:
    """A TF2 signature called with its flat inputs, or the signature itself when that is not possible.

    Calling a loaded signature by keyword binds the arguments against its structured signature
    every time, and the loader's wrapper then re-checks every captured variable for being a
    distributed one (~100 µs per call together, a third of the server's own per-request cost).
    `_prepare_inputs` already casts and shape-checks every input and a served model holds no
    distributed variables, so the flat call skips only duplicate work. `_call_flat` is private
    TensorFlow API: anything unexpected (another TensorFlow, a signature whose flattened specs are
    not named by alias, distributed variables) keeps the keyword call.
    """
    call_flat = getattr(function, "_call_flat", None)
    signature = getattr(function, "structured_input_signature", None)
    if call_flat is None or signature is None:
        return function
    args, kwargs = signature
    specs = tf.nest.flatten(kwargs)
    order = [getattr(spec, "name", None) for spec in specs]
    if args or not kwargs or order != sorted(kwargs) or len(specs) != len(kwargs):
        return function
    captured = list(function.captured_inputs)
    call_flat = _unwrapped_call_flat(function, captured) or call_flat

    def call(**feeds: tf.Tensor) -> Any:
        return call_flat([feeds[alias] for alias in order], captured)

    return call


def _unwrapped_call_flat(function: Any, captured: list[Any]) -> Any:
    """`ConcreteFunction._call_flat` bound to a loaded signature, skipping the loader wrapper's
    per-call mapping of distributed variables, when it has none (None otherwise)."""
    try:
        from tensorflow.python.distribute import distribute_utils
        from tensorflow.python.eager.polymorphic_function.concrete_function import ConcreteFunction
    except ImportError:
        return None
    if not isinstance(function, ConcreteFunction):
        return None
    if any(distribute_utils.is_distributed_variable(x) for x in captured):
        return None
    return functools.partial(ConcreteFunction._call_flat, function)


def _describe(feeds: Mapping[str, tf.Tensor]) -> str:
    return "{" + ", ".join(f"{k}: {v.dtype.name}{list(v.shape)}" for k, v in feeds.items()) + "}"


def cast_to_dtype(alias: str, value: Any, spec: TensorInfo) -> np.ndarray:
    """Converts an array-like to a numpy array of the signature dtype.

    Args:
        alias: input alias, for error messages.
        value: array-like (numpy array, nested lists, scalars, bytes, str).
        spec: the declared input.

    Returns:
        A numpy array: object array of `bytes` for strings, else the numpy dtype of `spec`.

    Raises:
        InvalidArgumentError: the value's kind does not fit the dtype (text for a number, a float
            for an integer, ...).
    """
    target = spec.tf_dtype
    try:
        array = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise InvalidArgumentError(
            f"Input {alias!r} is not a dense array: {exc}. Received: {alias}={value!r:.200}"
        ) from exc
    kind = array.dtype.kind
    if target == tf.string:
        if kind in "SUO":
            # On a 1-D view: numpy's iterators (`.flat`, `np.vectorize`) stop at 32 dimensions.
            flat = array.reshape(-1)
            if kind == "U" or (kind == "O" and any(isinstance(v, str) for v in flat)):
                flat = np.array([_as_bytes(v) for v in flat] + [None], dtype=object)[:-1]
                array = flat.reshape(array.shape)
            return array.astype(object)
        raise _dtype_error(alias, target, array)
    if kind in "SUO" or (kind == "b") != (target == tf.bool):
        raise _dtype_error(alias, target, array)
    if target.is_integer and kind == "f":
        raise _dtype_error(alias, target, array)
    np_dtype = target.as_numpy_dtype
    if kind == "c" and not target.is_complex:
        raise _dtype_error(alias, target, array)
    with np.errstate(over="ignore", invalid="ignore"):
        # Narrowing (float64 → float32) follows TF Serving's JSON rules: out-of-range → ±inf.
        return array.astype(np_dtype, copy=False)


def _as_bytes(v: Any) -> bytes:
    return v.encode("utf-8") if isinstance(v, str) else bytes(v)


def _dtype_error(alias: str, target: tf.dtypes.DType, array: np.ndarray) -> InvalidArgumentError:
    got = (
        "string"
        if array.dtype.kind in "SUO"
        else dtype_name(tf.dtypes.as_dtype(array.dtype).as_datatype_enum)
    )
    return InvalidArgumentError(
        f"Expects arg[{alias}] to be {dtype_name(target.as_datatype_enum)} but {got} is provided. "
        f"Received: {alias}.dtype={array.dtype.name}"
    )


def _check_shape(alias: str, shape: tuple[int, ...], spec: TensorInfo) -> None:
    if spec.shape is None:
        return
    ok = len(shape) == len(spec.shape) and all(
        d is None or d == s for d, s in zip(spec.shape, shape, strict=True)
    )
    if not ok:
        declared = "[" + ",".join("-1" if d is None else str(d) for d in spec.shape) + "]"
        raise InvalidArgumentError(
            f"Input {alias!r} has an incompatible shape: expected {declared} (-1 = any size). "
            f"Received: {alias}.shape={list(shape)}"
        )


def _to_numpy(tensor: Any) -> np.ndarray:
    array = tensor.numpy() if hasattr(tensor, "numpy") else np.asarray(tensor)
    return np.asarray(array)


class _SessionSignatures:
    """TF1 graphs that `tf.saved_model.load` cannot import, run as TF Serving runs them.

    Some TF1 exports (e.g. TF Serving's `saved_model_half_plus_three`, whose ParseExample node takes a
    rank-0 placeholder) fail TF2's re-import with a shape error, yet load into a v1 `Session`, which
    is what tensorflow_model_server uses. Signatures are then run by tensor name.
    `Session.run` is thread-safe.
    """

    def __init__(self, version_dir: Path, tags: Iterable[str], meta_graph: meta_graph_pb2.MetaGraphDef):
        self._session = tf.compat.v1.Session(graph=tf.Graph())
        tf.compat.v1.saved_model.loader.load(self._session, list(tags), str(version_dir))
        self.signatures = {
            name: self._runner(signature)
            for name, signature in meta_graph.signature_def.items()
            if name != INIT_OP_SIGNATURE
        }

    def _runner(self, signature: meta_graph_pb2.SignatureDef):
        fetches = {alias: info.name for alias, info in signature.outputs.items()}
        feed_names = {alias: info.name for alias, info in signature.inputs.items()}

        def run(**feeds: Any) -> dict[str, np.ndarray]:
            values = {feed_names[alias]: _to_numpy(value) for alias, value in feeds.items()}
            return self._session.run(fetches, values)

        return run


def load_servable(version_dir: str | Path, tags: Iterable[str] = (SERVE_TAG,)) -> Servable:
    """Loads one SavedModel version directory.

    Args:
        version_dir: `<base_path>/<version>` holding `saved_model.pb`.
        tags: MetaGraphDef tags to load (default `serve`).

    Returns:
        A `Servable` ready to `predict`.

    Raises:
        NotFoundError: the directory has no SavedModel or no MetaGraphDef with these tags.
        InvalidArgumentError: the SavedModel cannot be parsed.
        TfappsError: TensorFlow failed to load it (canonical code of the TF error).
    """
    version_dir = Path(version_dir)
    meta_graph = read_meta_graph(version_dir, tags)
    try:
        try:
            loaded = tf.saved_model.load(str(version_dir), tags=list(tags))
        except (ValueError, tf.errors.OpError):
            if meta_graph.object_graph_def.nodes:
                raise  # a TF2 SavedModel: no TF1 session fallback
            logger.info("Loading TF1 SavedModel %s into a session (TF2 re-import failed)", version_dir)
            loaded = _SessionSignatures(version_dir, tags, meta_graph)
    except tf.errors.OpError as exc:
        raise error_from_tf(exc) from exc
    except (ValueError, OSError, RuntimeError) as exc:
        raise InvalidArgumentError(
            f"Failed to load the SavedModel: {exc}. Received: version_dir={str(version_dir)!r}"
        ) from exc
    logger.debug("Loaded SavedModel %s with signatures %s", version_dir, sorted(loaded.signatures))
    return Servable(version_dir, meta_graph, loaded)
