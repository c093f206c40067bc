"""Small helpers shared by the text readers (`pipelines.text_data`, `pipelines.parallel_text`,
`pipelines.speech_data`): checking that a file's bytes are UTF-8 text, splitting them into lines
with one bad line costing only itself, saying why a line is not UTF-8, and reading one JSON Lines
line as an object.

Standard library only (no TensorFlow), so that reading and checking a text dataset stays fast.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any, Protocol

from tfapps.apps.errors import DataError

__all__ = ["checked_utf8_bytes", "json_object_or_reason", "utf8_error_reason", "utf8_lines"]


class _Notes(Protocol):
    def note(self, issue: str, example: str) -> None: ...


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


def utf8_lines(data: bytes, name: str, tally: _Notes) -> list[str | None]:
    """A text file's lines without their `\\n` (or `\\r\\n`); None for a line that is not UTF-8,
    noted in `tally` as `invalid_utf8` with `name:line` and the reason, so that one bad byte costs
    one line and line i stays at index i - 1.

    Args:
        data: the file's bytes (see `checked_utf8_bytes`).
        name: the file's name, for the examples.
        tally: an `IssueTally` (anything with `note(issue, example)`).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        decoded = text.split("\n")
        if decoded[-1] == "":
            decoded.pop()
        return [line.removesuffix("\r") for line in decoded] if "\r" in text else decoded
    raw_lines = data.split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()
    lines: list[str | None] = []
    # A UTF-8 sequence never holds the byte \n, so decoding line by line finds the same errors.
    for number, raw in enumerate(raw_lines, 1):
        try:
            lines.append(raw.decode("utf-8").removesuffix("\r"))
        except UnicodeDecodeError as error:
            tally.note("invalid_utf8", f"{name}:{number}: {utf8_error_reason(raw, error)}")
            lines.append(None)
    return lines


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
