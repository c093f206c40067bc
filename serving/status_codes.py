"""Canonical status codes ↔ tfapps errors ↔ HTTP statuses (standard library only).

TF Serving reports TensorFlow's canonical codes: as the gRPC status (same numbers) and, over REST,
as an HTTP status (`http_server.cc` `ToHTTPStatusCode`). Clients and the server use this one table.
"""

from __future__ import annotations

from tfapps.apps.errors import (
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    TfappsError,
    UnavailableError,
    UnimplementedError,
)

HTTP_BY_CODE = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}

_CLASS_BY_CODE: dict[str, type[TfappsError]] = {
    "INVALID_ARGUMENT": InvalidArgumentError,
    "NOT_FOUND": NotFoundError,
    "FAILED_PRECONDITION": FailedPreconditionError,
    "UNAVAILABLE": UnavailableError,
    "DEADLINE_EXCEEDED": DeadlineExceededError,
    "UNIMPLEMENTED": UnimplementedError,
}

# HTTP loses the difference between codes that share a status; pick the most common one.
_CODE_BY_HTTP = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_for_code(code: str, message: str) -> TfappsError:
    """Builds the tfapps error for a canonical status code name.

    Args:
        code: canonical code name (a `grpc.StatusCode` member name), e.g. `"OUT_OF_RANGE"`.
        message: the error message.

    Returns:
        An instance of the matching `TfappsError` subclass; codes without a dedicated class get a
        plain `TfappsError` whose `grpc_code`/`http_status` are set on the instance.
    """
    cls = _CLASS_BY_CODE.get(code)
    if cls is not None:
        return cls(message)
    err = TfappsError(message)
    err.grpc_code = code
    err.http_status = HTTP_BY_CODE.get(code, 500)
    return err


def error_for_http_status(status: int, message: str) -> TfappsError:
    """Builds the tfapps error for a REST answer's HTTP status (e.g. 404 → `NotFoundError`)."""
    return error_for_code(
        _CODE_BY_HTTP.get(status, "UNKNOWN" if status >= 500 else "INVALID_ARGUMENT"), message
    )
