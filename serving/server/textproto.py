"""Reading TF Serving's text-format config files (batching parameters, monitoring config)."""

from __future__ import annotations

from google.protobuf import message, text_format

from tfapps.apps.errors import InvalidArgumentError

__all__ = ["parse_text_proto"]


def parse_text_proto(text: str, proto: message.Message, source: str) -> message.Message:
    """Parse `text` into `proto` (in place) and return it.

    Raises:
        InvalidArgumentError: malformed text or an unknown field, in TF Serving's wording.
    """
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as exc:
        raise InvalidArgumentError(
            f"Invalid protobuf file: '{source}' (text-format {proto.DESCRIPTOR.full_name}): {exc}. "
            f"Received: file={source!r}"
        ) from exc
    return proto
