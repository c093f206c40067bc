"""The tfapps error tree (standard library only).

Every error tfapps raises on purpose derives from `TfappsError`. Each subclass also derives from
the builtin a caller would expect (`ValueError`, `LookupError`, ...) and carries how the
boundaries report it: the CLI's exit code, the REST server's HTTP status and the gRPC server's
status code name (a `grpc.StatusCode` member name). Only boundaries (CLI, server) catch these.

Messages say what is wrong, what was expected and end with `Received: name=value`, e.g.::

    raise ConfigError(
        "Unknown config key 'train.epoch'. Did you mean 'train.epochs'? "
        "Received: key='train.epoch'"
    )

This module must stay importable without TensorFlow: `pipelines` and `serving` may import it even
though they never import the rest of `tfapps.apps`.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_RUNTIME_ERROR = 1
EXIT_USAGE_ERROR = 2


class TfappsError(Exception):
    """Root of every error tfapps raises on purpose."""

    exit_code: int = EXIT_RUNTIME_ERROR
    http_status: int = 500
    grpc_code: str = "INTERNAL"


class ConfigError(TfappsError, ValueError):
    """A configuration value, key, preset or file is invalid."""

    exit_code = EXIT_USAGE_ERROR
    http_status = 400
    grpc_code = "INVALID_ARGUMENT"


class UsageError(TfappsError, ValueError):
    """A command line is malformed (missing or conflicting arguments)."""

    exit_code = EXIT_USAGE_ERROR
    http_status = 400
    grpc_code = "INVALID_ARGUMENT"


class DataError(TfappsError, ValueError):
    """A dataset on disk is malformed: corrupt files, empty classes, unreadable manifests."""

    http_status = 400
    grpc_code = "INVALID_ARGUMENT"


class InvalidArgumentError(TfappsError, ValueError):
    """A request or call argument is malformed (wrong type, shape, encoding)."""

    http_status = 400
    grpc_code = "INVALID_ARGUMENT"


class NotFoundError(TfappsError, LookupError):
    """Something named does not exist: a model, a version, a run directory, a checkpoint."""

    http_status = 404
    grpc_code = "NOT_FOUND"


class FailedPreconditionError(TfappsError, RuntimeError):
    """The system is not in a state that allows the operation (e.g. unknown signature)."""

    http_status = 400
    grpc_code = "FAILED_PRECONDITION"


class UnavailableError(TfappsError, RuntimeError):
    """A resource is temporarily unavailable (queue full, model still loading)."""

    http_status = 503
    grpc_code = "UNAVAILABLE"


class DeadlineExceededError(TfappsError, TimeoutError):
    """An operation ran past its deadline."""

    http_status = 504
    grpc_code = "DEADLINE_EXCEEDED"


class UnimplementedError(TfappsError, NotImplementedError):
    """The operation is valid but not supported (e.g. a dtype with no JSON form)."""

    http_status = 501
    grpc_code = "UNIMPLEMENTED"


class ExportError(TfappsError, RuntimeError):
    """Writing or checking an export failed (parity mismatch, full disk, bad signature)."""


class TrainingError(TfappsError, RuntimeError):
    """Training cannot start or continue (no strategy, diverged loss, broken resume state)."""
