"""TF Serving's REST API as an ASGI app (predict, classify, regress, model status, metadata).

URL grammar, check order, status codes and message texts follow TF Serving's
`http_rest_api_handler.cc`/`http_rest_api_util.cc` (spec §1): only `(?i)/v1/...` paths are
handled (anything else is a 404), the verb after `:` is case-sensitive, errors are
`{"error": "<message>"}` with the HTTP status of the canonical code. Deliberate differences: a
query string is not folded into the model name.

With a monitoring config enabling Prometheus, GET on its exact path serves the metrics page (spec
§1.10; any other path starting with it, a query string included, is 400 `Unexpected path: ...`).
Request limits (tfapps only): a body over `max_request_bytes` (by Content-Length, or after gunzip)
answers 413; images over `max_image_pixels` in `*_bytes` inputs answer 400.

The app is plain ASGI, no web framework: every path goes to one handler anyway, and a framework's
routing, middleware and request objects cost more per request than the whole rest of the REST
path (bench/serving.py). Model work runs on a thread pool of `--rest_api_num_threads` threads.

Example::

    app = build_rest_app(manager, timeout_ms=30000)
    uvicorn.run(app, host="127.0.0.1", port=8501, lifespan="off")
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gzip
import json
import logging
import re
import time
import urllib.parse
import zlib
from typing import Any

from tfapps.apps.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    TfappsError,
)
from tfapps.serving import codec
from tfapps.serving.server import inference, messages
from tfapps.serving.server.execution import ModelCalls
from tfapps.serving.server.limits import PayloadTooLargeError, RequestLimits
from tfapps.serving.server.manager import ModelManager
from tfapps.serving.server.metrics import CONTENT_TYPE, MonitoringConfig, ServingMetrics

logger = logging.getLogger(__name__)

_V1 = re.compile(r"/v1/.*", re.IGNORECASE | re.DOTALL)
_POST = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_GET = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)
_ORIGIN = re.compile(r"https?://")
_INT64_MAX = 2**63 - 1
_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET",
    "Access-Control-Allow-Headers": "Content-Type",
}


class _Request:
    """The parts of an ASGI HTTP request the API reads; the body is read on demand."""

    __slots__ = ("method", "path", "query", "headers", "_receive")

    def __init__(self, scope: dict, receive: Any):
        self.method: str = scope["method"]
        self.path: str = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        self.query: str = scope.get("query_string", b"").decode("latin-1")
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self._receive = receive

    async def body(self, limit: int | None) -> bytes:
        """Reads the whole body, refusing it (413) as soon as it grows past `limit` bytes."""
        chunks, size = [], 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise InvalidArgumentError("The client disconnected before sending the whole body.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if limit is not None and size > limit:
                raise PayloadTooLargeError(
                    f"Request body is larger than the limit of {limit} bytes. Received: more than {size} bytes"
                )
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _Response:
    __slots__ = ("status", "body", "content_type")

    def __init__(self, status: int, body: bytes | str, content_type: str = "application/json"):
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.content_type = content_type


class _RestApi:
    """Request handlers bound to one model manager."""

    def __init__(
        self,
        manager: ModelManager,
        timeout_ms: int,
        enable_cors: bool,
        check_method_name: bool,
        limits: RequestLimits,
        metrics: ServingMetrics | None,
        monitoring: MonitoringConfig | None,
        executor: concurrent.futures.Executor,
    ):
        self._manager = manager
        self._limits = limits
        self._metrics = metrics
        enabled = monitoring is not None and monitoring.prometheus_enabled and metrics is not None
        self._prometheus_path = monitoring.prometheus_path if enabled else None
        self._check_method_name = check_method_name
        self._timeout_s = timeout_ms / 1000 if timeout_ms > 0 else None
        self._extra_headers = (
            [(k.encode(), v.encode()) for k, v in _CORS_HEADERS.items()] if enable_cors else []
        )
        self._executor = executor
        self._calls = ModelCalls(manager, executor)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """The ASGI entry point (HTTP only; run the server with `lifespan="off"`)."""
        if scope["type"] != "http":
            return
        with self._calls.request():
            response = await self.handle(_Request(scope, receive))
        headers = [
            (b"content-type", response.content_type.encode()),
            (b"content-length", str(len(response.body)).encode()),
            *self._extra_headers,
        ]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        body = b"" if scope["method"] == "HEAD" else response.body
        await send({"type": "http.response.body", "body": body})

    async def handle(self, request: _Request) -> _Response:
        path = request.path
        if self._prometheus_path is not None and request.method in ("GET", "HEAD"):
            full = f"{path}?{request.query}" if request.query else path
            if full.startswith(self._prometheus_path):
                if full != self._prometheus_path:
                    return _Response(400, codec.error_json(f"Unexpected path: {full}"))
                body = await asyncio.get_running_loop().run_in_executor(self._executor, self._metrics.render)
                return _Response(200, body, CONTENT_TYPE)
        if not _V1.fullmatch(path):
            return _Response(404, b"Not Found", "text/plain; charset=utf-8")
        if request.method == "OPTIONS":
            ok = bool(_ORIGIN.search(request.headers.get("origin", "")))
            return _Response(200 if ok else 400, b"", "text/plain; charset=utf-8")
        try:
            return _Response(200, await self._dispatch(request, path))
        except TfappsError as exc:
            return _Response(exc.http_status, codec.error_json(str(exc)))
        except Exception as exc:  # never let a request kill the server; this is a bug, log it
            logger.exception("Unexpected error serving %s %s", request.method, path)
            return _Response(500, codec.error_json(f"Internal error: {type(exc).__name__}: {exc}"))

    async def _dispatch(self, request: _Request, path: str) -> str:
        malformed = InvalidArgumentError(f"Malformed request: {request.method} {path}")
        if request.method == "POST":
            match = _POST.fullmatch(path)
            if match is None:
                raise malformed
            name, version, label, verb = match.groups()
            target = (_unescape(name), _version(version), _unescape(label))
            if verb not in ("predict", "classify", "regress"):
                raise malformed  # upstream compares the verb case-sensitively
            served: list[int] = []  # the version that answered, once resolved
            started, status = time.perf_counter(), "UNKNOWN"
            try:
                if verb == "predict":
                    result = await self._predict(request, *target, served)
                else:
                    result = await self._classify_or_regress(request, verb, *target, served)
                status = "OK"
                return result
            except TfappsError as exc:
                status = exc.grpc_code
                raise
            finally:
                if self._metrics is not None:
                    elapsed = time.perf_counter() - started
                    version_served = served[0] if served else None
                    self._metrics.record_request(target[0], version_served, verb, "REST", status, elapsed)
        if request.method in ("GET", "HEAD"):
            match = _GET.fullmatch(path)
            if match is None:
                raise malformed
            name, version, label, sub = match.groups()
            if not name:
                raise InvalidArgumentError("Missing model name in request.")
            if sub == "metadata":
                handle = self._manager.resolve(_unescape(name), _version(version), _unescape(label))
                return json.dumps(messages.metadata_json(handle), indent=1)
            # Status ignores labels, like upstream.
            statuses = self._manager.version_statuses(_unescape(name), _version(version))
            return json.dumps(messages.to_json_dict(messages.status_response(statuses)), indent=1)
        raise malformed

    async def _predict(
        self, request: _Request, name: str, version: int | None, label: str | None, served: list[int]
    ) -> str:
        doc = codec.parse_json_body(await _read_body(request, self._limits))
        signature_name = codec.signature_name_of(doc)
        handle = self._manager.resolve(name, version, label)
        served.append(handle.version)
        try:
            signature = handle.servable.signature(signature_name)
        except FailedPreconditionError as exc:
            raise InvalidArgumentError(
                f'Serving signature name: "{signature_name or "serving_default"}" not found in signature def. '
                f"Expected one of {handle.servable.signature_names}."
            ) from exc
        if not signature.inputs:
            raise InvalidArgumentError(
                f"Failed to get input map for signature: {signature_name or 'DEFAULT'}"
            )
        inputs, row_format = codec.decode_predict_inputs(doc, signature.inputs)
        self._limits.check_image_inputs(inputs)
        outputs = await self._calls.predict(handle, inputs, signature.name, timeout=self._timeout_s)
        return codec.encode_predict_response(outputs, row_format)

    async def _classify_or_regress(
        self,
        request: _Request,
        verb: str,
        name: str,
        version: int | None,
        label: str | None,
        served: list[int],
    ) -> str:
        # Upstream decodes the whole body before resolving the servable (spec §1.3).
        doc = codec.parse_json_body(await _read_body(request, self._limits))
        signature_name = codec.signature_name_of(doc)
        serialized = inference.examples_from_json(doc)
        handle = self._manager.resolve(name, version, label)
        served.append(handle.version)
        run = inference.classify if verb == "classify" else inference.regress

        def call() -> Any:
            return run(
                self._manager,
                handle,
                signature_name,
                serialized,
                self._check_method_name,
                timeout=self._timeout_s,
            )

        result, _ = await self._calls.run(call, self._timeout_s)
        if verb == "classify":
            return inference.classification_json(result)
        return inference.regression_json(result)


async def _read_body(request: _Request, limits: RequestLimits) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit():
        limits.check_body_size(int(declared))  # before reading it
    body = await request.body(limits.max_request_bytes)
    if "gzip" in request.headers.get("content-encoding", "").lower():
        try:
            body = _gunzip(body, limits.max_request_bytes)
        except (OSError, EOFError, zlib.error) as exc:
            raise InvalidArgumentError(f"Failed to gunzip the request body: {exc}") from exc
        limits.check_body_size(len(body))
    return body


def _gunzip(body: bytes, limit: int | None) -> bytes:
    """gzip.decompress, but never inflating more than `limit` + 1 bytes (a gzip bomb is a 413)."""
    if limit is None:
        return gzip.decompress(body)
    out = bytearray()
    data = body
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += inflater.decompress(data, limit + 1 - len(out))
        if len(out) > limit or inflater.unconsumed_tail:
            raise PayloadTooLargeError(
                f"Request body is larger than the limit of {limit} bytes once gunzipped. "
                "Received: Content-Encoding=gzip"
            )
        if not inflater.eof:
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        data = inflater.unused_data.lstrip(b"\x00")  # members may be followed by zero padding
    return bytes(out)


def _unescape(text: str | None) -> Any:
    # curl_easy_unescape: percent-decoding only ('+' stays '+').
    return urllib.parse.unquote(text) if text is not None else None


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    # More than 19 digits cannot fit (and int() refuses over 4300 digits with a bare ValueError).
    value = int(text) if len(text.lstrip("0")) <= 19 else _INT64_MAX + 1
    if value > _INT64_MAX:
        raise InvalidArgumentError(f"Failed to convert version: {text} to numeric.")
    return value


def build_rest_app(
    manager: ModelManager,
    timeout_ms: int = 30000,
    enable_cors: bool = False,
    check_method_name: bool = False,
    limits: RequestLimits | None = None,
    metrics: ServingMetrics | None = None,
    monitoring: MonitoringConfig | None = None,
    executor: concurrent.futures.Executor | None = None,
) -> Any:
    """Builds the ASGI app serving TF Serving's REST API.

    Every HTTP method reaches the API handler, as upstream (anything but OPTIONS on an unknown
    route is 400 `Malformed request: <METHOD> <path>`, never a 405).

    Args:
        manager: the model manager to answer from.
        timeout_ms: `--rest_api_timeout_in_ms`; a predict running longer answers 504 (<= 0: no limit).
        enable_cors: `--rest_api_enable_cors_support`: add the Access-Control-* headers.
        check_method_name: `--enable_signature_method_name_check` for `:classify`/`:regress`.
        limits: request body and image size limits (None: unlimited).
        metrics: records every predict/classify/regress request (None: not recorded).
        monitoring: serves `metrics` as a Prometheus page when it enables one.
        executor: where model work runs (None: a new 16-thread pool, shut down with the process).

    Returns:
        The ASGI app (an async callable `(scope, receive, send)`).
    """
    if executor is None:
        executor = concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="rest")
    return _RestApi(
        manager,
        timeout_ms,
        enable_cors,
        check_method_name,
        limits or RequestLimits(),
        metrics,
        monitoring,
        executor,
    )
