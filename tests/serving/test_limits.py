"""Tests for serving.server.limits: body size and image pixel limits."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tfapps.apps.errors import InvalidArgumentError, TfappsError
from tfapps.serving.server.limits import PayloadTooLargeError, RequestLimits, image_size


def encode(fmt: str, width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    mode = "P" if fmt == "GIF" else "RGB"
    Image.new(mode, (width, height)).save(buffer, fmt)
    return buffer.getvalue()


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int) -> bytes:
    """A PNG claiming `width`×`height`: signature, IHDR and an empty IDAT (no pixel data at all)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP"])
def test_image_size_reads_each_format(fmt: str) -> None:
    assert image_size(encode(fmt, 20, 10)) == (20, 10)


def test_image_size_needs_only_the_header() -> None:
    # 10^10 pixels: decoding would need tens of GB; Pillow's bomb check would warn or raise.
    assert image_size(png_header(100_000, 100_000)) == (100_000, 100_000)


@pytest.mark.parametrize(
    "data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 5, b"BM\x00\x01", b"RIFF...."]
)
def test_image_size_of_unreadable_data_is_none(data: bytes) -> None:
    assert image_size(data) is None


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP"])
def test_too_many_pixels_names_input_and_index(fmt: str) -> None:
    limits = RequestLimits(max_image_pixels=150)
    images = np.array([encode(fmt, 10, 10), encode(fmt, 20, 10)], dtype=object)
    with pytest.raises(
        InvalidArgumentError, match=r"Image 1 of input 'image_bytes' has 20x10 = 200 pixels"
    ) as info:
        limits.check_image_inputs({"image_bytes": images})
    assert "limit of 150" in str(info.value)


def test_images_within_the_limit_pass() -> None:
    limits = RequestLimits(max_image_pixels=200)
    limits.check_image_inputs({"image_bytes": np.array([encode("PNG", 20, 10)] * 2, dtype=object)})


def test_huge_header_is_rejected_without_decoding() -> None:
    limits = RequestLimits(max_image_pixels=40_000_000)
    with pytest.raises(InvalidArgumentError, match="100000x100000"):
        limits.check_image_inputs({"image_bytes": [png_header(100_000, 100_000)]})


def test_multi_dimensional_index_is_reported() -> None:
    limits = RequestLimits(max_image_pixels=150)
    small, big = encode("PNG", 10, 10), encode("PNG", 20, 10)
    images = np.array([[small, small], [small, big]], dtype=object)
    with pytest.raises(InvalidArgumentError, match=r"Image \[1, 1\] of input 'a_bytes'"):
        limits.check_image_inputs({"a_bytes": images})


def test_only_bytes_aliases_and_known_formats_are_checked() -> None:
    limits = RequestLimits(max_image_pixels=1)
    big = encode("PNG", 20, 10)
    limits.check_image_inputs(
        {
            "image": np.array([big], dtype=object),  # alias does not end in _bytes
            "x": np.zeros((2, 3), np.float32),
            "thumb_bytes": np.array([b"garbage", b"", "text"], dtype=object),  # left to the model
            "raw_bytes": np.array([b"abc"], dtype="S3"),
        }
    )


def test_no_limits_by_default() -> None:
    limits = RequestLimits()
    limits.check_body_size(10**12)
    limits.check_image_inputs({"image_bytes": [png_header(100_000, 100_000)]})


def test_body_too_large_is_413_invalid_argument() -> None:
    limits = RequestLimits(max_request_bytes=1024)
    limits.check_body_size(1024)
    with pytest.raises(
        PayloadTooLargeError, match="Request body of 1025 bytes is larger than the limit of 1024"
    ) as info:
        limits.check_body_size(1025)
    error = info.value
    assert isinstance(error, InvalidArgumentError) and isinstance(error, TfappsError)
    assert error.http_status == 413
    assert error.grpc_code == "INVALID_ARGUMENT"
    assert InvalidArgumentError.http_status == 400  # the parent class is untouched


@pytest.mark.parametrize("field", ["max_request_bytes", "max_image_pixels"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"{field} must be positive"):
        RequestLimits(**{field: 0})
