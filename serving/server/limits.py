"""Request size limits for the embedded server: body bytes and image pixels.

TF Serving itself has neither limit (its gRPC server accepts ~2 GiB messages); these are tfapps
guards against one request exhausting the server's memory, off unless configured. Image inputs
are recognised by the signature convention that binary string inputs have aliases ending in
`_bytes`; only each image's header is read (PNG, JPEG, GIF, BMP), never its pixels, so checking a
huge image costs microseconds. Anything that is not a recognisable image header is left to the
model, which reports its own decode error.

Example::

    limits = RequestLimits(max_request_bytes=64 << 20, max_image_pixels=40_000_000)
    limits.check_body_size(len(body))                  # PayloadTooLargeError (HTTP 413)
    limits.check_image_inputs({"image_bytes": array})  # InvalidArgumentError naming input and index
"""

from __future__ import annotations

import dataclasses
import io
import logging
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import BmpImagePlugin, GifImagePlugin, ImageFile, JpegImagePlugin, PngImagePlugin

from tfapps.apps.errors import InvalidArgumentError

logger = logging.getLogger(__name__)

IMAGE_INPUT_SUFFIX = "_bytes"

# Constructing a plugin's ImageFile reads only the header. `PIL.Image.open` would do the same but
# also runs Pillow's decompression-bomb check, which warns (a process-wide warnings filter is the
# only way to silence it, and that is not thread-safe) or raises at fixed thresholds of its own.
_HEADER_READERS: tuple[tuple[bytes, type[ImageFile.ImageFile]], ...] = (
    (b"\x89PNG\r\n\x1a\n", PngImagePlugin.PngImageFile),
    (b"\xff\xd8\xff", JpegImagePlugin.JpegImageFile),
    (b"GIF87a", GifImagePlugin.GifImageFile),
    (b"GIF89a", GifImagePlugin.GifImageFile),
    (b"BM", BmpImagePlugin.BmpImageFile),
)


class PayloadTooLargeError(InvalidArgumentError):
    """A request body is larger than the configured limit (HTTP 413; gRPC INVALID_ARGUMENT)."""

    http_status = 413


def image_size(data: bytes) -> tuple[int, int] | None:
    """Reads an encoded image's width and height from its header, without decoding pixels.

    Args:
        data: encoded PNG, JPEG, GIF or BMP bytes.

    Returns:
        `(width, height)`, or None when the bytes are not a readable header of those formats.
    """
    for magic, reader in _HEADER_READERS:
        if data.startswith(magic):
            try:
                with reader(io.BytesIO(data)) as image:
                    return image.size
            except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, KeyError):
                return None  # not ours to judge: the model's decoder gives the real error
    return None


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """Per-request limits; None (the default) means unlimited.

    Attributes:
        max_request_bytes: largest request body accepted (after any gzip decoding).
        max_image_pixels: largest width×height of any image in a `*_bytes` input.
    """

    max_request_bytes: int | None = None
    max_image_pixels: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_request_bytes", "max_image_pixels"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidArgumentError(f"{name} must be positive or None. Received: {name}={value}")

    def check_body_size(self, num_bytes: int) -> None:
        """Rejects a request body larger than `max_request_bytes`.

        Args:
            num_bytes: the body's length (or its Content-Length, to reject before reading it).

        Raises:
            PayloadTooLargeError: the body is too large (HTTP 413).
        """
        if self.max_request_bytes is not None and num_bytes > self.max_request_bytes:
            raise PayloadTooLargeError(
                f"Request body of {num_bytes} bytes is larger than the limit of {self.max_request_bytes} "
                f"bytes. Received: body_bytes={num_bytes}"
            )

    def check_image_inputs(self, inputs: Mapping[str, Any]) -> None:
        """Rejects images with more than `max_image_pixels` pixels in `*_bytes` string inputs.

        Args:
            inputs: alias → array-like of encoded bytes (any shape); other inputs are ignored.

        Raises:
            InvalidArgumentError: an image is too large; names the input and the element index.
        """
        if self.max_image_pixels is None:
            return
        for alias, value in inputs.items():
            if not alias.endswith(IMAGE_INPUT_SUFFIX):
                continue
            array = np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value
            if array.dtype.kind not in ("O", "S"):
                continue
            for index, item in np.ndenumerate(array):
                if not isinstance(item, bytes | bytearray | memoryview):
                    continue
                size = image_size(bytes(item))
                if size is None:
                    continue
                width, height = size
                if width * height > self.max_image_pixels:
                    where = index[0] if len(index) == 1 else list(index)
                    raise InvalidArgumentError(
                        f"Image {where} of input '{alias}' has {width}x{height} = {width * height} pixels, "
                        f"more than the limit of {self.max_image_pixels} pixels. "
                        f"Received: {alias}[{where}] size={width}x{height}"
                    )
