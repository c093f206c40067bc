"""TF Serving's REST API as a Starlette app (predict, classify, regress, model status, metadata).

URL grammar, check order, status codes and message texts follow TF Serving's
`http_rest_api_handler.cc`/`http_rest_api_util.cc` (spec §1): only `(?i)/v1/...` paths are
handled (anything else is a 404), the verb after `:` is case-sensitive, errors are
`{"error": "<message>"}` with the HTTP status of the canonical code. Deliberate differences: a
query string is not folded into the model name.

Example::

    app = build_rest_app(manager, timeout_ms=30000)
    uvicorn.run(app, host="127.0.0.1", port=8501)
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import re
import urllib.parse
import zlib
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tfapps.apps.errors import (
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    TfappsError,
)
from tfapps.serving import codec
from tfapps.serving.server import inference, messages
from tfapps.serving.server.manager import ModelManager

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
_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET",
    "Access-Control-Allow-Headers": "Content-Type",
}


class _RestApi:
    """Request handlers bound to one model manager."""

    def __init__(self, manager: ModelManager, timeout_ms: int, enable_cors: bool, check_method_name: bool):
        self._manager = manager
        self._check_method_name = check_method_name
        self._timeout_s = timeout_ms / 1000 if timeout_ms > 0 else None
        self._extra_headers = _CORS_HEADERS if enable_cors else {}

    async def handle(self, request: Request) -> Response:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        path = raw_path.decode("latin-1")
        if not _V1.fullmatch(path):
            return PlainTextResponse("Not Found", status_code=404)
        if request.method == "OPTIONS":
            ok = bool(_ORIGIN.search(request.headers.get("origin", "")))
            return Response(b"", status_code=200 if ok else 400, headers=self._extra_headers)
        try:
            body = await self._dispatch(request, path)
            return self._json(200, body)
        except TfappsError as exc:
            return self._json(exc.http_status, codec.error_json(str(exc)))
        except Exception as exc:  # never let a request kill the server; this is a bug, log it
            logger.exception("Unexpected error serving %s %s", request.method, path)
            return self._json(500, codec.error_json(f"Internal error: {type(exc).__name__}: {exc}"))

    def _json(self, status: int, body: str) -> Response:
        return Response(body, status_code=status, media_type="application/json", headers=self._extra_headers)

    async def _dispatch(self, request: Request, path: str) -> str:
        malformed = InvalidArgumentError(f"Malformed request: {request.method} {path}")
        if request.method == "POST":
            match = _POST.fullmatch(path)
            if match is None:
                raise malformed
            name, version, label, verb = match.groups()
            target = (_unescape(name), _version(version), _unescape(label))
            if verb == "predict":
                return await self._predict(request, *target)
            if verb in ("classify", "regress"):
                return await self._classify_or_regress(request, verb, *target)
            raise malformed  # upstream compares the verb case-sensitively
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

    async def _predict(self, request: Request, name: str, version: int | None, label: str | None) -> str:
        doc = codec.parse_json_body(await _read_body(request))
        signature_name = codec.signature_name_of(doc)
        handle = self._manager.resolve(name, version, label)
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
        outputs = await self._in_thread(name, self._manager.run, handle, inputs, signature.name)
        return codec.encode_predict_response(outputs, row_format)

    async def _classify_or_regress(
        self, request: Request, verb: str, name: str, version: int | None, label: str | None
    ) -> str:
        # Upstream decodes the whole body before resolving the servable (spec §1.3).
        doc = codec.parse_json_body(await _read_body(request))
        signature_name = codec.signature_name_of(doc)
        serialized = inference.examples_from_json(doc)
        handle = self._manager.resolve(name, version, label)
        run = inference.classify if verb == "classify" else inference.regress
        result, _ = await self._in_thread(
            name, run, self._manager, handle, signature_name, serialized, self._check_method_name
        )
        if verb == "classify":
            return inference.classification_json(result)
        return inference.regression_json(result)

    async def _in_thread(self, name: str, fn: Any, *args: Any) -> Any:
        """Runs a blocking model call off the event loop, bounded by --rest_api_timeout_in_ms."""
        try:
            return await asyncio.wait_for(run_in_threadpool(fn, *args), self._timeout_s)
        except TimeoutError as exc:
            raise DeadlineExceededError(
                f"Timed out waiting for notification. The model ran longer than --rest_api_timeout_in_ms="
                f"{int(self._timeout_s * 1000)}. Received: model={name}"
            ) from exc


async def _read_body(request: Request) -> bytes:
    body = await request.body()
    if "gzip" in request.headers.get("content-encoding", "").lower():
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise InvalidArgumentError(f"Failed to gunzip the request body: {exc}") from exc
    return body


def _unescape(text: str | None) -> Any:
    # curl_easy_unescape: percent-decoding only ('+' stays '+').
    return urllib.parse.unquote(text) if text is not None else None


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    value = int(text)
    if value > _INT64_MAX:
        raise InvalidArgumentError(f"Failed to convert version: {text} to numeric.")
    return value


def build_rest_app(
    manager: ModelManager, timeout_ms: int = 30000, enable_cors: bool = False, check_method_name: bool = False
) -> Starlette:
    """Builds the Starlette app serving TF Serving's REST API.

    Args:
        manager: the model manager to answer from.
        timeout_ms: `--rest_api_timeout_in_ms`; a predict running longer answers 504 (<= 0: no limit).
        enable_cors: `--rest_api_enable_cors_support`: add the Access-Control-* headers.
        check_method_name: `--enable_signature_method_name_check` for `:classify`/`:regress`.

    Returns:
        The ASGI app.
    """
    api = _RestApi(manager, timeout_ms, enable_cors, check_method_name)
    return Starlette(routes=[Route("/{path:path}", api.handle, methods=_METHODS)])
