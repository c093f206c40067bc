"""Command-line flags of `tfapps serve`, named and parsed like tensorflow_model_server's.

Syntax: `--flag=value` or `--flag value`; booleans as `--flag`, `--flag=true|false` (also
`1|0`) or `--noflag`; a single leading dash is accepted too, as TensorFlow's flag parser does.
Our own additions: `--host` (TF Serving binds every interface; we default to loopback),
`--max_request_bytes` (largest request body, 413 past it; 64 MiB by default) and
`--max_image_pixels` (largest width×height of an image in a `*_bytes` input; 0 = unlimited).
Flags that exist upstream but are not implemented here are accepted and logged as ignored when
given, so a TF Serving command line keeps working.

Example::

    flags = parse_flags(["--model_name=m", "--model_base_path", "/models/m", "--rest_api_port=8501"])
    flags.port, flags.rest_api_port     # 8500, 8501
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from collections.abc import Sequence

from tfapps.apps.errors import UsageError

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Flags:
    """Parsed `tfapps serve` flags; defaults are tensorflow_model_server's (except `host`)."""

    port: int = 8500
    grpc_socket_path: str = ""
    rest_api_port: int = 0
    rest_api_num_threads: int = 0
    rest_api_timeout_in_ms: int = 30000
    rest_api_enable_cors_support: bool = False
    host: str = "127.0.0.1"
    model_name: str = "default"
    model_base_path: str = ""
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: int = 0
    file_system_poll_wait_seconds: int = 1
    enable_model_warmup: bool = True
    num_request_iterations_for_warmup: int = 0
    enable_batching: bool = False
    batching_parameters_file: str = ""
    enable_per_model_batching_parameters: bool = False
    monitoring_config_file: str = ""
    saved_model_tags: str = "serve"
    grpc_max_threads: int = 0
    grpc_channel_arguments: str = ""
    enable_grpc_healthcheck_service: bool = False
    allow_version_labels_for_unavailable_models: bool = False
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60_000_000
    tensorflow_session_parallelism: int = 0
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    enable_signature_method_name_check: bool = False
    max_request_bytes: int = 64 << 20
    max_image_pixels: int = 0
    version: bool = False


# Accepted for command-line compatibility; their behaviour comes in a later step.
IGNORED_FLAGS = frozenset(
    {
        "grpc_socket_path",
        "grpc_channel_arguments",
        "max_num_load_retries",
        "load_retry_interval_micros",
    }
)

_FIELDS = {f.name: f for f in dataclasses.fields(Flags)}
_NOTES = {
    "host": "tfapps: interface to bind",
    "max_request_bytes": "tfapps: largest request body in bytes, 413 past it; 0 = unlimited",
    "max_image_pixels": "tfapps: largest width*height of an image in a *_bytes input; 0 = unlimited",
}
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def usage() -> str:
    """A one-flag-per-line summary with defaults, for `--help`."""
    lines = ["usage: tfapps serve [--flag=value ...]", "", "Flags (tensorflow_model_server names):"]
    for name, field in _FIELDS.items():
        note = " (accepted, not implemented yet)" if name in IGNORED_FLAGS else ""
        if name in _NOTES:
            note = f" ({_NOTES[name]})"
        lines.append(f"  --{name}={field.default!r}{note}")
    return "\n".join(lines)


def parse_flags(argv: Sequence[str]) -> Flags:
    """Parses a tensorflow_model_server style command line.

    Args:
        argv: the arguments after `serve`.

    Returns:
        The parsed `Flags`.

    Raises:
        UsageError: an unknown flag (with a suggestion), a missing or malformed value, or a
            positional argument.
    """
    values: dict[str, object] = {}
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            raise UsageError(
                f"Unexpected positional argument; flags look like --name=value. Received: {arg!r}"
            )
        body = arg.lstrip("-")
        name, has_value, text = body.partition("=")
        field = _FIELDS.get(name)
        negated = _FIELDS.get(name[2:]) if name.startswith("no") and not has_value else None
        if field is None and negated is not None and negated.type in (bool, "bool"):
            values[negated.name] = False
            continue
        if field is None:
            close = difflib.get_close_matches(name, _FIELDS, n=1)
            hint = f" Did you mean --{close[0]}?" if close else ""
            raise UsageError(f"Unknown flag --{name}.{hint} Received: {arg}")
        if field.type in (bool, "bool"):
            if not has_value:
                values[name] = True
                continue
            lowered = text.lower()
            if lowered not in _TRUE | _FALSE:
                raise UsageError(f"Flag --{name} expects true or false. Received: {arg}")
            values[name] = lowered in _TRUE
            continue
        if not has_value:
            if i >= len(args):
                raise UsageError(f"Flag --{name} needs a value (--{name}=VALUE). Received: {arg}")
            text = args[i]
            i += 1
        if field.type in (int, "int"):
            try:
                values[name] = int(text)
            except ValueError:
                raise UsageError(f"Flag --{name} expects an integer. Received: --{name}={text}") from None
        else:
            values[name] = text
    for name in sorted(set(values) & IGNORED_FLAGS):
        if values[name] != _FIELDS[name].default:
            logger.warning("Flag --%s is accepted but not implemented yet; ignoring it", name)
    return Flags(**values)  # type: ignore[arg-type]
