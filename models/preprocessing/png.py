"""Encode class-index masks as 8-bit palette PNGs with core TensorFlow ops only.

Stock `tensorflow_model_server` has `EncodePng` but no palette PNG encoder, and a segmentation
signature should answer with a mask that image viewers show in colour while its pixel values stay
the class ids (as Pascal VOC's `SegmentationClass` PNGs). An 8-bit grayscale PNG and an 8-bit
palette PNG of the same indices differ only in the header: both store one byte per pixel, so the
compressed image data (IDAT) is the same. So `palette_png`:

1. encodes the mask as 8-bit grayscale with `tf.io.encode_png`;
2. sets the IHDR chunk's colour type byte from 0 (grayscale) to 3 (indexed colour) and fixes the
   chunk's CRC. CRC-32 is affine over GF(2): for messages of equal length,
   `crc(a) ^ crc(b) = crc(a ^ b) ^ crc(zeros)`, so changing one known byte by a known XOR changes
   the CRC by a constant XOR, computed here in Python with `zlib`. No CRC arithmetic runs in the
   graph, only a byte-wise XOR of the stored CRC;
3. inserts a PLTE chunk, built in Python when the function is traced, right after IHDR (where
   the PNG spec wants it: after IHDR, before IDAT; `EncodePng` writes no chunk in between).

Graph ops used: `EncodePng`, `Substr`, `DecodeRaw`, `BitwiseXor`, `GatherV2`, `ReduceJoin`,
`StringJoin` (plus shape handling), all in core TensorFlow.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import tensorflow as tf

__all__ = ["palette_png"]

_SIGNATURE_LENGTH = 8
# IHDR chunk: length (4) + "IHDR" (4) + width (4), height (4), bit depth, colour type, compression,
# filter, interlace (1 each) + CRC (4).
_COLOUR_TYPE_OFFSET = _SIGNATURE_LENGTH + 8 + 9
_IHDR_CRC_OFFSET = _SIGNATURE_LENGTH + 8 + 13
_IHDR_END = _IHDR_CRC_OFFSET + 4
_GRAYSCALE, _PALETTE = 0, 3


def _ihdr_crc_delta() -> bytes:
    """The XOR that turns the CRC of an IHDR with colour type 0 into the CRC with colour type 3."""
    zeros = bytes(17)  # "IHDR" + 13 data bytes
    delta = bytearray(zeros)
    delta[4 + 9] = _GRAYSCALE ^ _PALETTE
    crc = zlib.crc32(bytes(delta)) ^ zlib.crc32(zeros)
    return struct.pack(">I", crc)


def _plte_chunk(palette) -> bytes:
    """A PLTE chunk of 256 entries: `palette`, then black for the indices it does not cover."""
    colours = np.asarray(palette)
    if (
        colours.ndim != 2
        or colours.shape[1] != 3
        or not 1 <= colours.shape[0] <= 256
        or not np.issubdtype(colours.dtype, np.integer)
        or colours.min() < 0
        or colours.max() > 255
    ):
        raise ValueError(
            "palette must be 1 to 256 (r, g, b) triples of integers in 0..255. "
            f"Received: palette with shape {colours.shape} and dtype {colours.dtype}"
        )
    full = np.zeros((256, 3), np.uint8)
    full[: len(colours)] = colours
    body = b"PLTE" + full.tobytes()
    return struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))


def palette_png(index_mask, palette) -> tf.Tensor:
    """Encode one class-index mask as an 8-bit palette PNG (colour type 3).

    Works eagerly, inside `tf.function` (unknown height and width included), in `tf.map_fn` and
    in a SavedModel served by stock `tensorflow_model_server`: only core ops. The PNG's pixel
    values are the mask's indices, so `PIL.Image.open(...)` gives mode `"P"` and `np.array(img)`
    gives back the mask.

    Args:
        index_mask: `[h, w]` or `[h, w, 1]` class ids, uint8 (other integer dtypes are clipped to
            0..255 and cast).
        palette: `[n, 3]` RGB colours (Python ints or a numpy array, 1 <= n <= 256), fixed when the
            function is traced. The PLTE chunk always has 256 entries; indices past `n` (e.g.
            the void label 255) are black unless the palette covers them.

    Returns:
        scalar `tf.string`: the PNG file's bytes.

    Raises:
        ValueError: for a bad palette or a mask of the wrong rank.

    Example:
        >>> palette = [(0, 0, 0), (128, 0, 0), (0, 128, 0)]
        >>> png = palette_png(tf.constant([[0, 1], [2, 1]], tf.uint8), palette)
    """
    plte = _plte_chunk(palette)
    mask = tf.convert_to_tensor(index_mask)
    if mask.shape.rank == 2:
        mask = mask[..., None]
    if mask.shape.rank != 3 or mask.shape[-1] not in (1, None):
        raise ValueError(f"index_mask must be [h, w] or [h, w, 1]. Received: index_mask.shape={mask.shape}")
    if mask.dtype != tf.uint8:
        if not mask.dtype.is_integer:
            raise ValueError(
                f"index_mask must hold integer class ids. Received: index_mask.dtype={mask.dtype}"
            )
        mask = tf.cast(tf.clip_by_value(mask, 0, 255), tf.uint8)

    grayscale = tf.io.encode_png(mask)
    crc = tf.io.decode_raw(tf.strings.substr(grayscale, _IHDR_CRC_OFFSET, 4), tf.uint8)
    crc = tf.bitwise.bitwise_xor(crc, tf.constant(list(_ihdr_crc_delta()), tf.uint8))
    byte_strings = tf.constant([bytes([i]) for i in range(256)])
    new_crc = tf.strings.reduce_join(tf.gather(byte_strings, tf.cast(crc, tf.int32)))
    return tf.strings.join(
        [
            tf.strings.substr(grayscale, 0, _COLOUR_TYPE_OFFSET),
            bytes([_PALETTE]),
            tf.strings.substr(grayscale, _COLOUR_TYPE_OFFSET + 1, _IHDR_CRC_OFFSET - _COLOUR_TYPE_OFFSET - 1),
            new_crc,
            plte,
            # Substr needs a length; the PNG is shorter than this (TF strings cap at 2**31).
            tf.strings.substr(grayscale, _IHDR_END, 2**31 - 1),
        ]
    )
