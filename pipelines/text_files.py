"""Small helpers shared by the text readers (`pipelines.text_data`, `pipelines.parallel_text`):
checking that a file's bytes are UTF-8 text, saying why a line is not UTF-8, and reading one
JSON Lines line as an object.

Standard library only (no TensorFlow), so that reading and checking a text dataset stays fast.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

from tfapps.apps.errors import DataError

__all__ = ["checked_utf8_bytes", "json_object_or_reason", "utf8_error_reason"]


def checked_utf8_bytes(data: bytes, path: Path) -> bytes:
    """A text file's bytes without their UTF-8 byte-order mark, after checking they are not UTF-16.

    A UTF-16 file would otherwise show up as one invalid UTF-8 line after another; its byte-order
    mark tells it apart, so the whole file is refused with advice instead.

    Args:
        data: the file's (decompressed) bytes.
        path: the file, for the message.

    Returns:
        `data` without a leading UTF-8 byte-order mark.

    Raises:
        DataError: `data` starts with a UTF-16 byte-order mark.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(
            f"{path.name} is UTF-16 (it starts with a UTF-16 byte-order mark). Expected UTF-8 text; save "
            f"the file as UTF-8. Received: path='{path}'"
        )
    return data.removeprefix(codecs.BOM_UTF8)


def utf8_error_reason(raw: bytes, error: UnicodeDecodeError) -> str:
    """Why `raw` is not UTF-8, for a report's example: "byte 0xff at offset 3 is not UTF-8".

    Args:
        raw: the bytes that failed to decode (a line, or a whole file).
        error: the error that decoding `raw` raised.
    """
    return f"byte 0x{raw[error.start]:02x} at offset {error.start} is not UTF-8"


def json_object_or_reason(line: str) -> dict[str, Any] | str:
    """The JSON object on one JSON Lines line, or why the line is not one (a `str`).

    Args:
        line: one non-blank line of a JSON Lines file.

    Returns:
        The parsed object (a `dict`), or a reason such as "not JSON (Expecting value at column 1)"
        or "a JSON list, expected an object".
    """
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        return f"not JSON ({error.msg} at column {error.colno})"
    if not isinstance(value, dict):
        return f"a JSON {type(value).__name__}, expected an object"
    return value
