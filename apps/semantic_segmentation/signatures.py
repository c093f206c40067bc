"""Serving signature: encoded images of any sizes in, class masks (ids and palette PNGs) out.

Decoding and resizing use the training pipeline's `decode_rgb` / `resize_image`; the argmax, the
nearest-neighbour resize back to each image's own size and the palette PNG encoding
(`palette_png`, core ops only) all run in the graph.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfapps.apps.samples import shape_pngs
from tfapps.models.preprocessing.image import decode_rgb, resize_image
from tfapps.models.preprocessing.png import palette_png
from tfapps.serving.export import Signature

__all__ = ["sample_request", "segment_fn", "serving_signatures"]


def segment_fn(model, config):
    """`image_bytes [B] → {mask, original_size, mask_png_bytes, class_pixel_fraction}`."""
    size = tuple(config.data.image_size)
    num_classes = len(config.data.class_names)
    palette = [tuple(c) for c in config.data.palette]

    def preprocess(encoded):
        image = decode_rgb(encoded)
        return resize_image(image, size), tf.shape(image)[:2]

    def to_png(args):
        mask, original = args
        full = tf.image.resize(mask[..., None], original, method="nearest")
        return palette_png(tf.cast(full, tf.uint8), palette)

    def segment(image_bytes):
        images, original = tf.map_fn(
            preprocess,
            image_bytes,
            fn_output_signature=(tf.TensorSpec([*size, 3], tf.float32), tf.TensorSpec([2], tf.int32)),
        )
        logits = tf.cast(model(images, training=False), tf.float32)
        mask = tf.argmax(logits, axis=-1, output_type=tf.int32)
        counts = tf.reduce_sum(tf.one_hot(mask, num_classes), axis=[1, 2])
        pngs = tf.map_fn(to_png, (mask, original), fn_output_signature=tf.TensorSpec([], tf.string))
        return {
            "mask": mask,
            "original_size": original,
            "mask_png_bytes": pngs,
            "class_pixel_fraction": counts / float(size[0] * size[1]),
        }

    return segment


def serving_signatures(model, config) -> dict[str, Signature]:
    """`serving_default`: `image_bytes` string `[None]` (any sizes) → `mask` `[None, h, w]` class ids
    at the model's resolution, `original_size` `[None, 2]` (height, width), `mask_png_bytes` `[None]`
    (a palette PNG per image at its own size, pixel values = class ids), `class_pixel_fraction`
    `[None, C]`."""
    spec = {"image_bytes": tf.TensorSpec([None], tf.string)}
    return {"serving_default": Signature(segment_fn(model, config), spec)}


def sample_request(config, count: int = 2) -> dict[str, np.ndarray]:
    """PNG images of different sizes with a square and a disc on them (deterministic)."""
    height, width = config.data.image_size
    return {"image_bytes": shape_pngs(height, width, count, grow=(8, 16))}
