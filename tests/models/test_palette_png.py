"""Palette PNG encoding with core TensorFlow ops: decodable, exact, graph- and SavedModel-safe."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfapps.models.preprocessing.png import palette_png

PALETTE = [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128)]


def sample_mask(height=37, width=53, seed=0):
    mask = np.random.default_rng(seed).integers(0, len(PALETTE), (height, width)).astype(np.uint8)
    mask[:4, :4] = 255  # void, past the palette
    return mask


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of each chunk, checking every CRC on the way."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    found, offset = [], 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind, data = png[offset + 4 : offset + 8], png[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + data), kind
        found.append((kind, data))
        offset += 12 + length
    return found


def check_png(png: bytes, mask: np.ndarray) -> None:
    image = Image.open(io.BytesIO(png))
    assert image.mode == "P"
    np.testing.assert_array_equal(np.array(image), mask)
    assert image.getpalette()[: 3 * len(PALETTE)] == [v for colour in PALETTE for v in colour]
    kinds = [kind for kind, _ in chunks(png)]
    assert kinds[:2] == [b"IHDR", b"PLTE"] and kinds[-1] == b"IEND"
    ihdr = chunks(png)[0][1]
    assert (ihdr[8], ihdr[9]) == (8, 3)  # 8-bit, colour type 3 (indexed)


def test_palette_png_decodes_to_the_mask_and_palette():
    mask = sample_mask()
    png = palette_png(mask, PALETTE).numpy()
    check_png(png, mask)
    # libpng (TensorFlow's decoder) expands the palette: a second, stricter decoder agrees.
    rgb = tf.io.decode_png(png, channels=3).numpy()
    full = np.zeros((256, 3), np.uint8)
    full[: len(PALETTE)] = PALETTE
    np.testing.assert_array_equal(rgb, full[mask])


def test_palette_png_accepts_a_trailing_channel_and_int32_masks():
    mask = sample_mask(8, 5)
    check_png(palette_png(mask[..., None], PALETTE).numpy(), mask)
    check_png(palette_png(tf.constant(mask, tf.int32), np.array(PALETTE)).numpy(), mask)


def test_palette_png_in_tf_function_with_unknown_size_and_map_fn():
    encode = tf.function(
        lambda m: palette_png(m, PALETTE), input_signature=[tf.TensorSpec([None, None], tf.uint8)]
    )
    for height, width in [(1, 1), (16, 24), (300, 7)]:
        mask = sample_mask(height, width, seed=height)
        check_png(encode(mask).numpy(), mask)

    masks = np.stack([sample_mask(12, 10, seed=s) for s in range(3)])
    batch = tf.map_fn(
        lambda m: palette_png(m, PALETTE),
        tf.constant(masks),
        fn_output_signature=tf.TensorSpec([], tf.string),
    )
    for png, mask in zip(batch.numpy(), masks, strict=True):
        check_png(png, mask)


def test_palette_png_in_a_saved_model(tmp_path):
    module = tf.Module()
    module.encode = tf.function(
        lambda m: palette_png(m, PALETTE), input_signature=[tf.TensorSpec([None, None, 1], tf.uint8)]
    )
    tf.saved_model.save(module, str(tmp_path / "png"))
    restored = tf.saved_model.load(str(tmp_path / "png"))
    mask = sample_mask(21, 34)
    check_png(restored.encode(mask[..., None]).numpy(), mask)


def test_palette_png_graph_uses_only_core_tensorflow_ops():
    concrete = tf.function(lambda m: palette_png(m, PALETTE)).get_concrete_function(
        tf.TensorSpec([None, None], tf.uint8)
    )
    graph = concrete.graph.as_graph_def()
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops |= {node.op for node in function.node_def}
    assert "EncodePng" in ops
    # A fresh interpreter that imports nothing but TensorFlow: ops of other libraries
    # (tensorflow_text, ...) are not registered there, as in stock tensorflow_model_server.
    script = (
        "import json, sys\n"
        "from tensorflow.python.framework import op_def_registry\n"
        "ops = json.loads(sys.argv[1])\n"
        "print(json.dumps(sorted(op for op in ops if op_def_registry.get(op) is None)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(sorted(ops))],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize(
    "palette",
    [[], [(0, 0)], [(0, 0, 256)], [(-1, 0, 0)], [(0.5, 0, 0)], [(0, 0, 0)] * 257],
)
def test_palette_png_rejects_bad_palettes(palette):
    with pytest.raises(ValueError, match="Received"):
        palette_png(np.zeros((2, 2), np.uint8), palette)


def test_palette_png_rejects_bad_masks():
    with pytest.raises(ValueError, match="Received"):
        palette_png(np.zeros((2, 2, 3), np.uint8), PALETTE)
    with pytest.raises(ValueError, match="Received"):
        palette_png(np.zeros((2, 2), np.float32), PALETTE)
