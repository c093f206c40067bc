"""Clients for TF Serving's REST and gRPC APIs, with one interface.

Both work against this package's embedded server and against real `tensorflow_model_server`.
Errors come back as tfapps errors (`NotFoundError`, `InvalidArgumentError`, ...) carrying the
server's message. Calls that fail with UNAVAILABLE (server down or starting, batch queue full) are
retried `retries` times with exponential backoff; no other error is retried. `RestClient` needs only the standard library and numpy; `GrpcClient` imports
`grpc` and `tensorflow_serving.apis` (and so TensorFlow) when constructed.

Example::

    client = RestClient("http://127.0.0.1:8501")
    client.predict("resnet", {"image_bytes": [png_bytes]})   # {"labels": array(...), "scores": ...}
    GrpcClient("127.0.0.1:8500").predict("half", {"x": np.array([[2.0]], np.float32)})
    client.classify("half", [{"x": 20.0}], signature_name="classify_x_to_y")   # [[("", 12.0)]]
    client.regress("half", [{"x": 80.0}], signature_name="regress_x_to_y")     # [42.0]
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from tfapps.apps.errors import InvalidArgumentError, TfappsError, UnavailableError
from tfapps.serving.status_codes import error_for_code, error_for_http_status

logger = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"

_T = TypeVar("_T")
Features = Mapping[str, Any]
"""One tf.Example as `feature → value or list of values` (str/bytes, float, int/bool)."""
Classifications = list[list[tuple[str, float]]]
"""Per example, its `(label, score)` pairs (label `""` when the model has no classes output)."""


def _with_retries(call: Callable[[], _T], retries: int, backoff_s: float) -> _T:
    """Runs `call`, retrying only UnavailableError, sleeping backoff_s, 2·backoff_s, ... in between."""
    for attempt in range(max(0, retries) + 1):
        try:
            return call()
        except UnavailableError:
            if attempt >= retries:
                raise
            delay = backoff_s * 2**attempt
            logger.info("Server unavailable; retry %d/%d in %.2f s", attempt + 1, retries, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _json_feature_value(value: Any) -> Any:
    """A feature value as TF Serving's REST examples take it (bytes as b64, floats stay decimal)."""
    if isinstance(value, bytes | np.bytes_):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    return str(value)


def _json_example(features: Features) -> dict[str, Any]:
    out = {}
    for name, value in features.items():
        if isinstance(value, np.ndarray | list | tuple):
            out[name] = [_json_feature_value(v) for v in np.asarray(value, dtype=object).reshape(-1)]
        else:
            out[name] = _json_feature_value(value)
    return out


def _example_proto(features: Features) -> Any:
    """Builds a `tensorflow.Example` with the same typing rules as the REST JSON."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for name, value in _json_example(features).items():
        feature = example.features.feature[name]
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                feature.bytes_list.value.append(base64.b64decode(item["b64"]))
            elif isinstance(item, str):
                feature.bytes_list.value.append(item.encode("utf-8"))
            elif isinstance(item, float):
                feature.float_list.value.append(item)
            else:
                feature.int64_list.value.append(int(item))
        kinds = [k for k in ("bytes_list", "float_list", "int64_list") if len(getattr(feature, k).value)]
        if len(kinds) > 1:
            raise InvalidArgumentError(
                f"Feature {name} mixes value kinds {kinds}; a feature holds one kind. Received: {name}={value!r:.100}"
            )
    return example


# DataType enum names (as in metadata JSON) → numpy dtypes, for typing REST outputs.
_NUMPY_BY_DTYPE = {
    "DT_FLOAT": np.float32,
    "DT_DOUBLE": np.float64,
    "DT_INT8": np.int8,
    "DT_INT16": np.int16,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_UINT8": np.uint8,
    "DT_UINT16": np.uint16,
    "DT_UINT32": np.uint32,
    "DT_UINT64": np.uint64,
    "DT_BOOL": np.bool_,
    "DT_HALF": np.float16,
}


def _is_text_array(array: np.ndarray) -> bool:
    return array.dtype.kind in "SUO"


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def _to_json_value(alias: str, value: Any) -> Any:
    """Converts an input value to JSON; binary (bytes, or text in a `*_bytes` input) as b64."""
    array = np.asarray(value, dtype=object) if _has_bytes(value) else np.asarray(value)
    if _is_text_array(array):
        binary = alias.endswith("_bytes")

        def encode(v: Any) -> Any:
            if isinstance(v, bytes) or binary:
                return {"b64": base64.b64encode(_as_bytes(v)).decode("ascii")}
            return str(v)

        return _map_nested(array.tolist(), encode)
    return array.tolist()


def _has_bytes(value: Any) -> bool:
    if isinstance(value, bytes):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "S" or (
            value.dtype.kind == "O" and any(isinstance(v, bytes) for v in value.flat)
        )
    if isinstance(value, list | tuple):
        return any(_has_bytes(v) for v in value)
    return False


def _map_nested(value: Any, fn: Any) -> Any:
    if isinstance(value, list):
        return [_map_nested(v, fn) for v in value]
    return fn(value)


def _from_json_value(value: Any, dtype: str | None) -> np.ndarray:
    if dtype == "DT_STRING" or _contains_text(value):

        def decode(v: Any) -> Any:
            if isinstance(v, dict) and "b64" in v:
                return base64.b64decode(v["b64"])
            return v.encode("utf-8") if isinstance(v, str) else v

        return _object_array(_map_nested(value, decode))
    return np.asarray(value, dtype=_NUMPY_BY_DTYPE.get(dtype or ""))


def _contains_text(value: Any) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, str | dict | bytes)


def _object_array(value: Any) -> np.ndarray:
    """Nested lists of bytes → object array (np.asarray would make a fixed-width 'S' array)."""
    if not isinstance(value, list):
        scalar = np.empty((), dtype=object)
        scalar[()] = value
        return scalar
    shape = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    flat: list[Any] = []

    def walk(v: Any) -> None:
        if isinstance(v, list):
            for item in v:
                walk(item)
        else:
            flat.append(v)

    walk(value)
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array.reshape(shape)


class RestClient:
    """Client for TF Serving's REST API (`/v1/models/...`), standard library only.

    Args:
        base_url: e.g. `"http://127.0.0.1:8501"`.
        timeout: seconds per HTTP request.
        retries: extra attempts after an UNAVAILABLE answer (HTTP 503 or no connection).
        backoff_s: wait before the first retry; doubled for each further one.

    Output aliases and dtypes are taken from the model's metadata (fetched once per model,
    version and signature and cached), because TF Serving unwraps single-output answers.
    """

    def __init__(self, base_url: str, timeout: float = 30.0, retries: int = 2, backoff_s: float = 0.1):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff_s = backoff_s
        self._signatures: dict[tuple[str, int | None, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _url(self, model_name: str, version: int | None, suffix: str = "") -> str:
        url = f"{self.base_url}/v1/models/{urllib.parse.quote(model_name, safe='')}"
        if version is not None:
            url += f"/versions/{int(version)}"
        return url + suffix

    def _request(self, url: str, body: Any = None) -> Any:
        return _with_retries(lambda: self._request_once(url, body), self.retries, self.backoff_s)

    def _request_once(self, url: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", errors="replace")
            try:
                message = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                message = text or exc.reason
            raise error_for_http_status(exc.code, str(message)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise UnavailableError(f"Cannot reach the model server: {exc}. Received: url={url!r}") from exc
        try:
            return json.loads(payload)
        except ValueError as exc:
            raise TfappsError(f"The server answered invalid JSON: {exc}. Received: url={url!r}") from exc

    def _signature(self, model_name: str, version: int | None, signature_name: str) -> dict[str, Any]:
        key = (model_name, version, signature_name)
        with self._lock:
            cached = self._signatures.get(key)
        if cached is not None:
            return cached
        defs = self.metadata(model_name, version)["metadata"]["signature_def"]["signature_def"]
        if signature_name not in defs:
            raise InvalidArgumentError(
                f'Serving signature name: "{signature_name}" not found in signature def. '
                f"Expected one of {sorted(defs)}. Received: signature_name={signature_name!r}"
            )
        with self._lock:
            self._signatures[key] = defs[signature_name]
        return defs[signature_name]

    def predict(
        self,
        model_name: str,
        inputs: Mapping[str, np.ndarray | list],
        signature_name: str | None = None,
        version: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Calls `:predict` with the columnar (`inputs`) format.

        Args:
            model_name: the model.
            inputs: alias → array or nested list; `bytes` values (and any text in an input whose
                alias ends in `_bytes`) are sent as `{"b64": ...}`.
            signature_name: defaults to `serving_default`.
            version: a specific version; None → the server's latest.

        Returns:
            alias → numpy array (dtype from the signature; strings as object arrays of bytes).

        Raises:
            TfappsError: the server's error (NotFoundError, InvalidArgumentError, ...) or
                UnavailableError when it cannot be reached.
        """
        signature_name = signature_name or DEFAULT_SIGNATURE
        signature = self._signature(model_name, version, signature_name)
        body = {
            "signature_name": signature_name,
            "inputs": {alias: _to_json_value(alias, value) for alias, value in inputs.items()},
        }
        answer = self._request(self._url(model_name, version, ":predict"), body)
        outputs = answer.get("outputs") if isinstance(answer, dict) else None
        declared = signature.get("outputs", {})
        if isinstance(outputs, dict) and not (len(outputs) == 1 and "b64" in outputs):
            named = outputs
        elif len(declared) == 1:
            named = {next(iter(declared)): outputs}
        else:
            raise TfappsError(
                f"Unexpected predict answer for {len(declared)} outputs. Received: {str(answer)[:200]}"
            )
        return {
            alias: _from_json_value(value, declared.get(alias, {}).get("dtype"))
            for alias, value in named.items()
        }

    def _examples_call(
        self,
        verb: str,
        model_name: str,
        examples: Sequence[Features],
        context: Features | None,
        signature_name: str | None,
        version: int | None,
    ) -> list:
        body: dict[str, Any] = {"examples": [_json_example(e) for e in examples]}
        if context is not None:
            body["context"] = _json_example(context)
        if signature_name:
            body["signature_name"] = signature_name
        answer = self._request(self._url(model_name, version, f":{verb}"), body)
        if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
            raise TfappsError(f"Unexpected {verb} answer. Received: {str(answer)[:200]}")
        return answer["results"]

    def classify(
        self,
        model_name: str,
        examples: Sequence[Features],
        context: Features | None = None,
        signature_name: str | None = None,
        version: int | None = None,
    ) -> Classifications:
        """Calls `:classify` on tf.Examples given as dicts.

        Args:
            model_name: the model.
            examples: one `{feature: value or values}` per example. str/bytes → bytes_list,
                float → float_list, int/bool → int64_list (send `2.0`, not `2`, for float features).
            context: features shared by every example (an example's own feature wins).
            signature_name: defaults to the server's `serving_default`.
            version: a specific version; None → the server's latest.

        Returns:
            Per example, its `(label, score)` pairs.

        Raises:
            TfappsError: the server's error, or UnavailableError after the retries.
        """
        results = self._examples_call("classify", model_name, examples, context, signature_name, version)
        return [[(str(label), float(score)) for label, score in row] for row in results]

    def regress(
        self,
        model_name: str,
        examples: Sequence[Features],
        context: Features | None = None,
        signature_name: str | None = None,
        version: int | None = None,
    ) -> list[float]:
        """Calls `:regress`; arguments as `classify`. Returns one value per example."""
        results = self._examples_call("regress", model_name, examples, context, signature_name, version)
        return [float(v) for v in results]

    def metadata(self, model_name: str, version: int | None = None) -> dict:
        """GET `/v1/models/NAME[/versions/N]/metadata` (the TF Serving JSON document)."""
        return self._request(self._url(model_name, version, "/metadata"))

    def status(self, model_name: str, version: int | None = None) -> dict:
        """GET `/v1/models/NAME[/versions/N]` (`{"model_version_status": [...]}`)."""
        return self._request(self._url(model_name, version))


class GrpcClient:
    """Client for TF Serving's gRPC API (`PredictionService`, `ModelService`).

    Args:
        target: `"host:port"`.
        timeout: seconds per call (the gRPC deadline).
        max_message_bytes: receive/send limit (gRPC's default 4 MiB is too small for images).
        retries: extra attempts after an UNAVAILABLE status.
        backoff_s: wait before the first retry; doubled for each further one.

    Also a context manager that closes the channel.
    """

    def __init__(
        self,
        target: str,
        timeout: float = 30.0,
        max_message_bytes: int = 256 * 1024 * 1024,
        retries: int = 2,
        backoff_s: float = 0.1,
    ):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self.target = target
        self.timeout = timeout
        self.retries = retries
        self.backoff_s = backoff_s
        self._grpc = grpc
        self._channel = grpc.insecure_channel(
            target,
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
            ],
        )
        self._prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()

    def __enter__(self) -> GrpcClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: Any, request: Any) -> Any:
        return _with_retries(lambda: self._call_once(method, request), self.retries, self.backoff_s)

    def _call_once(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self.timeout)
        except self._grpc.RpcError as exc:
            code = exc.code()
            name = code.name if code is not None else "UNKNOWN"
            message = exc.details() or name
            if name == "UNAVAILABLE":
                message = f"{message}. Received: target={self.target!r}"
            raise error_for_code(name, message) from None

    @staticmethod
    def _spec(spec: Any, model_name: str, version: int | None, signature_name: str | None = None) -> None:
        spec.name = model_name
        if version is not None:
            spec.version.value = int(version)
        if signature_name:
            spec.signature_name = signature_name

    def predict(
        self,
        model_name: str,
        inputs: Mapping[str, np.ndarray | list],
        signature_name: str | None = None,
        version: int | None = None,
        output_filter: list[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Calls `PredictionService.Predict`.

        Args:
            model_name: the model.
            inputs: alias → array or nested list. numpy arrays keep their dtype (the server casts
                compatible ones); Python floats/ints become float32/int32 like `tf.make_tensor_proto`.
            signature_name: defaults to the server's `serving_default`.
            version: a specific version; None → the server's latest.
            output_filter: aliases to return (all when None).

        Returns:
            alias → numpy array (strings as object arrays of bytes).

        Raises:
            TfappsError: mapped from the gRPC status, with the server's message.
        """
        from tensorflow_serving.apis import predict_pb2

        from tfapps.serving.codec import ndarray_to_tensor_proto, tensor_proto_to_ndarray

        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, model_name, version, signature_name)
        for alias, value in inputs.items():
            request.inputs[alias].CopyFrom(ndarray_to_tensor_proto(_client_array(value)))
        request.output_filter.extend(output_filter or [])
        response = self._call(self._prediction.Predict, request)
        return {alias: tensor_proto_to_ndarray(t, alias) for alias, t in response.outputs.items()}

    @staticmethod
    def _fill_input(target: Any, examples: Sequence[Features], context: Features | None) -> None:
        if context is None:
            target.example_list.examples.extend(_example_proto(e) for e in examples)
        else:
            target.example_list_with_context.context.CopyFrom(_example_proto(context))
            target.example_list_with_context.examples.extend(_example_proto(e) for e in examples)

    def classify(
        self,
        model_name: str,
        examples: Sequence[Features],
        context: Features | None = None,
        signature_name: str | None = None,
        version: int | None = None,
    ) -> Classifications:
        """Calls `PredictionService.Classify`; arguments and answer as `RestClient.classify`."""
        from tensorflow_serving.apis import classification_pb2

        request = classification_pb2.ClassificationRequest()
        self._spec(request.model_spec, model_name, version, signature_name)
        self._fill_input(request.input, examples, context)
        response = self._call(self._prediction.Classify, request)
        return [[(c.label, c.score) for c in row.classes] for row in response.result.classifications]

    def regress(
        self,
        model_name: str,
        examples: Sequence[Features],
        context: Features | None = None,
        signature_name: str | None = None,
        version: int | None = None,
    ) -> list[float]:
        """Calls `PredictionService.Regress`; arguments and answer as `RestClient.regress`."""
        from tensorflow_serving.apis import regression_pb2

        request = regression_pb2.RegressionRequest()
        self._spec(request.model_spec, model_name, version, signature_name)
        self._fill_input(request.input, examples, context)
        response = self._call(self._prediction.Regress, request)
        return [r.value for r in response.result.regressions]

    def metadata(self, model_name: str, version: int | None = None) -> dict:
        """Calls `GetModelMetadata` and returns the same document the REST API gives."""
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec, model_name, version)
        response = self._call(self._prediction.GetModelMetadata, request)
        defs = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(defs)
        kwargs = {"preserving_proto_field_name": True, "always_print_fields_with_no_presence": True}
        return {
            "model_spec": json_format.MessageToDict(response.model_spec, **kwargs),
            "metadata": {"signature_def": json_format.MessageToDict(defs, **kwargs)},
        }

    def status(self, model_name: str, version: int | None = None) -> dict:
        """Calls `GetModelStatus` and returns the same document the REST API gives."""
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, model_name, version)
        response = self._call(self._models.GetModelStatus, request)
        return json_format.MessageToDict(
            response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )


def _client_array(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if _has_bytes(value) or _contains_text(value):
        return _object_array(value)
    array = np.asarray(value)
    # Match tf.make_tensor_proto on Python numbers: float → float32, int → int32.
    if array.dtype == np.float64:
        return array.astype(np.float32)
    if array.dtype == np.int64 and np.all(np.abs(array) < 2**31):
        return array.astype(np.int32)
    return array
