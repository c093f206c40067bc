"""TF Serving's wire formats: REST JSON ↔ numpy arrays, and TensorProto ↔ numpy arrays.

The JSON rules follow TF Serving's `util/json_tensor.cc` (see `../shared/specs/tfserving-api.md`
§1.4–1.6): the signature supplies every input's dtype and the JSON only values and shape; a dense
shape is inferred from the first element at each depth; `{"b64": ...}` carries binary strings;
outputs whose alias ends in `_bytes` are written as `{"b64": ...}`; floats are printed with `%g`
(6 significant digits) unless that does not round-trip, and non-finite values as the bare tokens
`NaN`, `Infinity`, `-Infinity`.

Example::

    doc = parse_json_body(b'{"instances": [[1.0], [2.0]]}')
    inputs, row_format = decode_predict_inputs(doc, signature.inputs)
    body = encode_predict_response({"y": np.array([[2.5], [3.0]], np.float32)}, row_format)
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from array import array as packed_array
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from tfapps.apps.errors import InvalidArgumentError, UnimplementedError
from tfapps.serving.runtime import TensorInfo, dtype_name

_FLOAT_TYPES = {types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE}
_INT_RANGES = {
    types_pb2.DT_INT8: (-(2**31), 2**31 - 1),  # TF Serving only checks the int32 range for narrow ints.
    types_pb2.DT_INT16: (-(2**31), 2**31 - 1),
    types_pb2.DT_INT32: (-(2**31), 2**31 - 1),
    types_pb2.DT_UINT8: (-(2**31), 2**31 - 1),
    types_pb2.DT_INT64: (-(2**63), 2**63 - 1),
    types_pb2.DT_UINT32: (0, 2**32 - 1),
    types_pb2.DT_UINT64: (0, 2**64 - 1),
}
_SUPPORTED = _FLOAT_TYPES | set(_INT_RANGES) | {types_pb2.DT_BOOL, types_pb2.DT_STRING}
_MAX_RANK = 64 if int(np.__version__.split(".")[0]) >= 2 else 32  # numpy's limit (TF allows 254)
_DOUBLE_MAX_INT = int(np.finfo(np.float64).max)
# A `\uD800`-style escape or a raw (surrogatepass-decoded) surrogate: only then look for lone ones.
_MAYBE_SURROGATE = re.compile(r"\\[uU][dD][89a-fA-F]|[\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Up to this many numbers, `_float_texts` loops in Python: numpy's per-call overhead would cost
# more than the formatting (a typical answer holds a few dozen numbers; bench/serving.py).
_SMALL_FLOAT_OUTPUT = 64


class _NumberTooBigError(ValueError):
    pass


def _parse_int(text: str) -> int:
    # rapidjson stores an integer literal beyond (u)int64 as a double and fails past DBL_MAX; Python
    # would build an arbitrary int (or refuse one over 4300 digits with a bare ValueError).
    if len(text) < 300:
        return int(text)
    if len(text.lstrip("-")) > 309:
        raise _NumberTooBigError(text)
    value = int(text)
    if abs(value) > _DOUBLE_MAX_INT:
        raise _NumberTooBigError(text)
    return value


# --------------------------------------------------------------------------------------------
# Request side
# --------------------------------------------------------------------------------------------


def parse_json_body(body: bytes) -> dict[str, Any]:
    """Parses a request body into a JSON object.

    Args:
        body: the raw (already un-gzipped) request body.

    Returns:
        The top-level JSON object.

    Raises:
        InvalidArgumentError: empty body, invalid JSON or not an object (TF Serving's texts
            `JSON Parse error: ...`).
    """
    if not body.strip():
        raise InvalidArgumentError("JSON Parse error: The document is empty")
    try:
        # What json.loads(bytes) does, but keeping the text to look for lone surrogates below.
        text = body.decode(json.detect_encoding(body), "surrogatepass")
        doc = json.loads(text, parse_int=_parse_int)
    except _NumberTooBigError as exc:
        raise InvalidArgumentError("JSON Parse error: Number too big to be stored in double.") from exc
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"JSON Parse error: {exc.msg} at offset: {exc.pos}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidArgumentError(
            f"JSON Parse error: Invalid encoding in string. at offset: {exc.start}"
        ) from exc
    except RecursionError as exc:
        # Upstream's parser is iterative; Python's is recursive. Refuse cleanly instead of dying.
        raise InvalidArgumentError("JSON Parse error: The document is nested too deeply.") from exc
    if _MAYBE_SURROGATE.search(text) and _has_lone_surrogate(doc):
        # rapidjson rejects `\uD800` without its pair; Python keeps it and fails later on encode.
        raise InvalidArgumentError("JSON Parse error: The surrogate pair in string is invalid.")
    if not isinstance(doc, dict):
        raise InvalidArgumentError(
            f"JSON Parse error: Is not object. Expected a JSON object at the top level. "
            f"Received: type={_json_type(doc)}"
        )
    return doc


def _has_lone_surrogate(doc: Any) -> bool:
    stack = [doc]  # iterative: documents may be nested hundreds of levels deep
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
    return False


def signature_name_of(doc: Mapping[str, Any]) -> str:
    """Returns the request's `signature_name` (empty string when absent).

    Raises:
        InvalidArgumentError: `signature_name` is not a string.
    """
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise InvalidArgumentError(
            f"'signature_name' key must be a string value. Received: signature_name={_render(name)}"
        )
    return name


def decode_predict_inputs(
    doc: Mapping[str, Any], inputs: Mapping[str, TensorInfo]
) -> tuple[dict[str, np.ndarray], bool]:
    """Turns a predict request body into input arrays.

    Args:
        doc: the parsed request object (`instances` or `inputs` key).
        inputs: the signature's inputs, alias → `TensorInfo` (dtypes come from here).

    Returns:
        `(arrays, row_format)`: alias → numpy array (strings as object arrays of bytes), and
        whether the request used the row (`instances`) format.

    Raises:
        InvalidArgumentError: any malformed value or structure (TF Serving's messages).
        UnimplementedError: an input dtype that has no JSON form (e.g. half).
    """
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise InvalidArgumentError(
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist"
        )
    if not has_instances and not has_inputs:
        raise InvalidArgumentError(f"Missing 'inputs' or 'instances' key. Received: keys={sorted(doc)}")
    if has_instances:
        return _decode_instances(doc["instances"], inputs), True
    return _decode_columnar(doc["inputs"], inputs), False


def _decode_instances(instances: Any, inputs: Mapping[str, TensorInfo]) -> dict[str, np.ndarray]:
    if not isinstance(instances, list):
        raise InvalidArgumentError("Expecting 'instances' to be an list/array")
    if not instances:
        raise InvalidArgumentError("No values in 'instances' array")
    object_mode = _is_object(instances[0])
    if len(inputs) > 1 and not object_mode:
        raise InvalidArgumentError(
            "instances is a plain list, but expecting list of objects as multiple input tensors "
            f"required as per tensorinfo_map. Expected inputs: {','.join(inputs)}"
        )
    per_input: dict[str, list[tuple[list[int], list[Any]]]] = {alias: [] for alias in inputs}
    for i, item in enumerate(instances):
        if object_mode:
            if not _is_object(item):
                raise InvalidArgumentError(f"Expecting object but got list at item {i} of input list")
            for key in item:
                if key not in inputs:
                    raise InvalidArgumentError(
                        f"Failed to process element: {i} key: {key} of 'instances' list. Error: "
                        f"INVALID_ARGUMENT: JSON object: does not have named input: {key}"
                    )
            if len(item) != len(inputs):
                raise InvalidArgumentError(
                    f"Failed to process element: {i} of 'instances' list. JSON object: "
                    f"{_render(item, 200)} keys must be equal to: {','.join(inputs)}"
                )
            for alias, spec in inputs.items():
                per_input[alias].append(_dense(item[alias], spec))
        else:
            if _is_object(item):
                raise InvalidArgumentError(f"Expecting value/list but got object at item {i} of input list")
            alias, spec = next(iter(inputs.items()))
            per_input[alias].append(_dense(item, spec))
    arrays = {}
    for alias, elements in per_input.items():
        shape0, values0 = elements[0]
        flat: list[Any] = []
        for shape, values in elements:
            if len(values) != len(values0):
                raise InvalidArgumentError(
                    f"Expecting tensor size: {len(values0)} but got: {len(values)}. Received: input={alias}"
                )
            if shape != shape0:
                raise InvalidArgumentError(
                    f"Expecting shape {_dims(shape0)} but got: {_dims(shape)}. Received: input={alias}"
                )
            flat.extend(values)
        arrays[alias] = _to_array(flat, [len(elements), *shape0], inputs[alias])
    return arrays


def _decode_columnar(value: Any, inputs: Mapping[str, TensorInfo]) -> dict[str, np.ndarray]:
    if not _is_object(value):
        if len(inputs) != 1:
            raise InvalidArgumentError(
                "inputs is a plain value/list, but expecting an object as multiple input tensors "
                f"required as per tensorinfo_map. Expected inputs: {','.join(inputs)}"
            )
        alias, spec = next(iter(inputs.items()))
        shape, flat = _dense(value, spec)
        return {alias: _to_array(flat, shape, spec)}
    arrays = {}
    for alias, spec in inputs.items():
        if alias not in value:
            raise InvalidArgumentError(f"Missing named input: {alias} in 'inputs' object.")
        shape, flat = _dense(value[alias], spec)
        arrays[alias] = _to_array(flat, shape, spec)
    # Keys that are not signature inputs are ignored, as upstream does.
    return arrays


def _dense(value: Any, spec: TensorInfo) -> tuple[list[int], list[Any]]:
    """Infers a dense shape from the first element at each depth and flattens `value`."""
    shape: list[int] = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    _check_rank(len(shape), spec)  # also bounds the recursion in _flatten
    flat: list[Any] = []
    _flatten(value, shape, 0, flat, spec)
    return shape, flat


def _flatten(value: Any, shape: list[int], level: int, out: list[Any], spec: TensorInfo) -> None:
    rank = len(shape)
    if isinstance(value, list):
        if level >= rank:
            raise InvalidArgumentError(
                f"Encountered list at unexpected level: {level + 1} expected < {rank + 1}. Received: input={spec.alias}"
            )
        if len(value) != shape[level]:
            raise InvalidArgumentError(
                f"Encountered list at unexpected size: {len(value)} at level: {level} "
                f"expected size: {shape[level]}. Received: input={spec.alias}"
            )
        for item in value:
            _flatten(item, shape, level + 1, out, spec)
        return
    if level != rank:
        raise InvalidArgumentError(
            f"JSON Value: {_render(value)} found at incorrect level: {level + 1} in the JSON DOM. "
            f"Expected at level: {rank + 1}. Received: input={spec.alias}"
        )
    out.append(_scalar(value, spec))


def _scalar(value: Any, spec: TensorInfo) -> Any:
    dtype = spec.dtype
    if dtype not in _SUPPORTED:
        raise UnimplementedError(
            f"Conversion of JSON Value: {_render(value)} to type: {dtype_name(dtype)} is not supported. "
            f"Received: input={spec.alias}"
        )
    if dtype == types_pb2.DT_STRING:
        if isinstance(value, str):
            return value.encode("utf-8")
        if _is_b64(value):
            return _b64decode(value["b64"], spec.alias)
    elif dtype == types_pb2.DT_BOOL:
        if isinstance(value, bool):
            return value
    elif dtype in _FLOAT_TYPES:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        low, high = _INT_RANGES[dtype]
        if low <= value <= high:
            return value
    raise InvalidArgumentError(
        f"JSON Value: {_render(value)} Type: {_json_type(value)} is not of expected type: "
        f"{dtype_name(dtype)}. Received: input={spec.alias}"
    )


def _b64decode(text: Any, alias: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidArgumentError(
            f"Unable to base64 decode: b64 value must be a string. Received: input={alias}"
        )
    try:
        # Standard alphabet only, like absl::Base64Unescape (URL-safe '-'/'_' are rejected).
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgumentError(
            f"Unable to base64 decode: {exc}. Expected standard base64. Received: input={alias}"
        ) from exc


def _check_rank(rank: int, spec: TensorInfo) -> None:
    if rank > _MAX_RANK:
        raise InvalidArgumentError(
            f"Too many dimensions in tensor: rank {rank} is more than the maximum of {_MAX_RANK}. "
            f"Received: input={spec.alias}"
        )


def _to_array(flat: list[Any], shape: list[int], spec: TensorInfo) -> np.ndarray:
    _check_rank(len(shape), spec)  # the row format adds the batch dimension
    if spec.dtype == types_pb2.DT_STRING:
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        # float32 narrowing follows upstream: > FLT_MAX → ±inf, tiny → ±0, no error.
        return np.array(flat, dtype=tf.dtypes.as_dtype(spec.dtype).as_numpy_dtype).reshape(shape)


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _is_object(value: Any) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _render(value: Any, limit: int = 100) -> str:
    try:
        text = json.dumps(value)
    except (RecursionError, ValueError):
        return f"<{_json_type(value)} nested too deeply to print>"
    return text if len(text) <= limit else text[:limit] + "..."


def _dims(shape: list[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


# --------------------------------------------------------------------------------------------
# Response side
# --------------------------------------------------------------------------------------------


def format_float(value: float, double: bool = False) -> str:
    """Formats a number as TF Serving's `WriteDecimal` does.

    Args:
        value: the number.
        double: True for DT_DOUBLE (round-trip fallback `%.17g`), False for DT_FLOAT (`%.9g`).

    Returns:
        e.g. `3.0`, `9e+06`, `999999.0`, `3e-05`, `NaN`, `Infinity`, `-Infinity`.
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = f"{value:g}"
    same = float(text) == value if double else np.float32(float(text)) == np.float32(value)
    if not same:
        text = f"{value:.17g}" if double else f"{value:.9g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def format_floats(array: np.ndarray, double: bool = False) -> np.ndarray:
    """`format_float` for a whole array at once (an object array of strings, same shape).

    Same output as calling `format_float` on every element; see `_float_texts` for how.
    """
    values = np.asarray(array, dtype=np.float64)
    texts = _float_texts(values, double)
    return np.array(texts + [""], dtype=object)[:-1].reshape(values.shape)


def _float_texts(array: np.ndarray, double: bool) -> list[str]:
    """`format_float` of every element, flat in C order: a Python loop for a few numbers, one
    numpy pass for many (numpy's per-call overhead outweighs the formatting of a short answer)."""
    if array.size <= _SMALL_FLOAT_OUTPUT:
        return _format_few_floats(array.reshape(-1).tolist(), double)
    return _format_many_floats(np.asarray(array, dtype=np.float64).reshape(-1), double)


def _format_many_floats(flat: np.ndarray, double: bool) -> list[str]:
    """`format_float` over a float64 vector: the `%g` texts are parsed back by numpy in one call to
    find the values that need more digits."""
    texts = np.array([f"{v:g}" for v in flat.tolist()] + [""], dtype=object)[:-1]
    finite = np.isfinite(flat)
    if finite.any():
        parsed = np.array(texts[finite].astype(str), dtype=np.float64)
        original = flat[finite]
        with np.errstate(over="ignore"):  # a text past float32's range just fails the comparison
            same = parsed == original if double else parsed.astype(np.float32) == original.astype(np.float32)
        for i in np.flatnonzero(finite)[~same].tolist():
            texts[i] = f"{flat[i]:.17g}" if double else f"{flat[i]:.9g}"
    for i in np.flatnonzero(~finite).tolist():
        texts[i] = "NaN" if math.isnan(flat[i]) else ("Infinity" if flat[i] > 0 else "-Infinity")
    out = texts.tolist()
    for i, text in enumerate(out):
        if "." not in text and "e" not in text and text[-1].isdigit():
            out[i] = text + ".0"
    return out


def _format_few_floats(values: list[float], double: bool) -> list[str]:
    """`format_float` over a short list: the `%g` texts are parsed back in one pass, and (for
    float32) both sides rounded to float32 by the `array` module in C."""
    texts = [f"{v:g}" for v in values]
    parsed = [float(t) for t in texts]
    if double:
        want, got = values, parsed
    else:
        # A text past float32's range rounds to inf here and fails the comparison, as in numpy.
        want, got = packed_array("f", values).tolist(), packed_array("f", parsed).tolist()
    out = []
    for value, text, w, g in zip(values, texts, want, got, strict=True):
        if value != value:
            out.append("NaN")
        elif value in (math.inf, -math.inf):
            out.append("Infinity" if value > 0 else "-Infinity")
        else:
            if g != w:
                text = f"{value:.17g}" if double else f"{value:.9g}"
            out.append(text if "." in text or "e" in text else text + ".0")
    return out


def _json_texts(alias: str, array: np.ndarray) -> list[str]:
    """Every element of an output as its JSON text, flat in C order."""
    kind = array.dtype.kind
    if array.dtype in (np.float32, np.float64):
        return _float_texts(array, double=array.dtype == np.float64)
    if kind == "b":
        return ["true" if v else "false" for v in array.reshape(-1).tolist()]
    if kind in "iu":
        return [str(v) for v in array.reshape(-1).tolist()]
    if kind in "OSU":
        values = array.reshape(-1).tolist()
        if alias.endswith("_bytes"):
            return ['{"b64": "' + base64.b64encode(_as_bytes(v)).decode("ascii") + '"}' for v in values]
        # Upstream writes raw bytes (possibly invalid UTF-8); we substitute U+FFFD to stay valid
        # JSON. `_json_string` is what json.dumps does for a str, without its per-call overhead.
        return [_json_string(_as_bytes(v).decode("utf-8", errors="replace")) for v in values]
    raise InvalidArgumentError(
        f"Failed to write JSON value for tensor type: {array.dtype.name}. Received: output={alias}"
    )


def _as_bytes(v: Any) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8")
    return bytes(v)


def _nest(texts: list[str], shape: tuple[int, ...], start: int = 0) -> str:
    """Nested JSON lists of `shape` from flat (C-order) element texts, from `texts[start]` on."""
    if not shape:
        return texts[start]
    if len(shape) == 1:
        return "[" + ", ".join(texts[start : start + shape[0]]) + "]"
    step = math.prod(shape[1:])
    return "[" + ", ".join(_nest(texts, shape[1:], start + i * step) for i in range(shape[0])) + "]"


def tensor_to_json(alias: str, array: np.ndarray) -> str:
    """Writes one output tensor as JSON text (nested lists, TF Serving's number format).

    Raises:
        InvalidArgumentError: the dtype has no JSON form (`Failed to write JSON value ...`).
    """
    array = np.asarray(array)
    return _nest(_json_texts(alias, array), array.shape)


def encode_predict_response(outputs: Mapping[str, np.ndarray], row_format: bool) -> str:
    """Builds the predict response body.

    Args:
        outputs: alias → array, every output of the signature.
        row_format: True → `{"predictions": ...}` (per-row), False → `{"outputs": ...}`.

    Returns:
        The JSON text. A single output is unwrapped; several become objects keyed by alias.

    Raises:
        InvalidArgumentError: row format with a rank-0 output or differing batch sizes, or an
            output dtype with no JSON form.
    """
    outputs = {alias: np.asarray(a) for alias, a in outputs.items()}
    if not row_format:
        if len(outputs) == 1:
            ((alias, array),) = outputs.items()
            return '{"outputs": ' + tensor_to_json(alias, array) + "}"
        body = ", ".join(f"{json.dumps(a)}: {tensor_to_json(a, v)}" for a, v in outputs.items())
        return '{"outputs": {' + body + "}}"
    batch = None
    for alias, array in outputs.items():
        if array.ndim == 0:
            raise InvalidArgumentError(f"Tensor name: {alias} has no shape information ")
        if batch is None:
            batch = array.shape[0]
        elif array.shape[0] != batch:
            raise InvalidArgumentError(
                f"Tensor name: {alias} has inconsistent batch size: {array.shape[0]} expecting: {batch}"
            )
    # Per output: its flat element texts, each row's shape and the number of texts a row holds.
    parts = []
    for alias, array in outputs.items():
        row_shape = array.shape[1:]
        parts.append((json.dumps(alias), _json_texts(alias, array), row_shape, math.prod(row_shape)))
    rows = []
    for i in range(batch or 0):
        if len(parts) == 1:
            ((_, texts, row_shape, step),) = parts
            rows.append(_nest(texts, row_shape, i * step))
        else:
            fields = (f"{key}: {_nest(texts, row_shape, i * step)}" for key, texts, row_shape, step in parts)
            rows.append("{" + ", ".join(fields) + "}")
    return '{"predictions": [' + ", ".join(rows) + "]}"


def error_json(message: str) -> str:
    """The REST error body `{"error": "<message>"}`."""
    return json.dumps({"error": message})


# --------------------------------------------------------------------------------------------
# TensorProto
# --------------------------------------------------------------------------------------------

_PROTO_FIELDS = {
    np.dtype(np.float32): "float_val",
    np.dtype(np.float64): "double_val",
    np.dtype(np.int32): "int_val",
    np.dtype(np.int16): "int_val",
    np.dtype(np.int8): "int_val",
    np.dtype(np.uint8): "int_val",
    np.dtype(np.int64): "int64_val",
    np.dtype(np.uint32): "uint32_val",
    np.dtype(np.uint64): "uint64_val",
    np.dtype(np.bool_): "bool_val",
}


_DATATYPES = {dtype: tf.dtypes.as_dtype(dtype).as_datatype_enum for dtype in _PROTO_FIELDS}


def ndarray_to_tensor_proto(array: Any) -> tensor_pb2.TensorProto:
    """Encodes an array as a TensorProto with typed `*_val` fields (like `Tensor::AsProtoField`).

    Args:
        array: numpy array or array-like; `str` values are UTF-8 encoded into DT_STRING.

    Returns:
        The TensorProto (`tensor_shape` + `float_val`/`int_val`/`string_val`/...).
    """
    array = np.asarray(array)
    field = _PROTO_FIELDS.get(array.dtype)
    if field is None:
        if array.dtype.kind not in "OSU":
            return tf.make_tensor_proto(array)
        proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING)
        proto.string_val.extend(_as_bytes(v) for v in array.reshape(-1).tolist())
    else:
        proto = tensor_pb2.TensorProto(dtype=_DATATYPES[array.dtype])
        getattr(proto, field).extend(array.reshape(-1).tolist())
    # Filled directly: tf.TensorShape(...).as_proto() costs more than the values for small outputs.
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add(size=size)
    return proto


def tensor_proto_to_ndarray(proto: tensor_pb2.TensorProto, alias: str = "") -> np.ndarray:
    """Decodes a TensorProto (typed fields or `tensor_content`) into a numpy array.

    Args:
        proto: the tensor.
        alias: input alias, for the error message.

    Returns:
        The array (strings as an object array of bytes).

    Raises:
        InvalidArgumentError: the proto is malformed (`tensor parsing error: <alias>`).
    """
    try:
        size = math.prod(d.size for d in proto.tensor_shape.dim)
        for field in (
            "float_val",
            "double_val",
            "int_val",
            "int64_val",
            "bool_val",
            "string_val",
            "half_val",
        ):
            if len(getattr(proto, field)) > size:
                # Tensor::FromProto rejects more values than the shape holds (fewer repeat the last).
                raise ValueError(
                    f"{len(getattr(proto, field))} values for shape {[d.size for d in proto.tensor_shape.dim]}"
                )
        if proto.dtype == types_pb2.DT_STRING and size and len(proto.string_val) == size:
            # tf.make_ndarray's answer for a full string tensor (the usual request: image, text or
            # audio bytes) at a fraction of its cost, which is mostly shape bookkeeping.
            array = np.empty(size, dtype=object)
            array[:] = list(proto.string_val)
            return array.reshape([d.size for d in proto.tensor_shape.dim])
        return tf.make_ndarray(proto)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"tensor parsing error: {alias}. {exc}. Received: dtype={dtype_name(proto.dtype)}"
        ) from exc
