"""Serving signatures: encoded image bytes in, probabilities, best labels and scores out."""

from __future__ import annotations

import io

import numpy as np
import tensorflow as tf
from PIL import Image

from tfapps.models.preprocessing.image import DecodeImage
from tfapps.serving.export import Signature

__all__ = ["sample_request", "serving_signatures"]


def serving_signatures(model, config) -> dict[str, Signature]:
    """`serving_default`: `image_bytes` string `[None]` → `probabilities` `[None, C]`, `labels` and
    `scores` `[None, k]` (best first), decoding with the same `DecodeImage` the training data used."""
    channels = 1 if config.data.color_mode == "grayscale" else 3
    decoder = DecodeImage(config.data.image_size, channels=channels)
    class_names = list(config.data.class_names)
    top_k = min(config.serving.top_k, len(class_names))

    def serve(image_bytes):
        images = decoder(image_bytes)
        probabilities = tf.nn.softmax(tf.cast(model(images, training=False), tf.float32), axis=-1)
        scores, indices = tf.math.top_k(probabilities, k=top_k)
        labels = tf.gather(tf.constant(class_names), indices)
        return {"probabilities": probabilities, "labels": labels, "scores": scores}

    return {"serving_default": Signature(serve, {"image_bytes": tf.TensorSpec([None], tf.string)})}


def sample_request(config, count: int = 2) -> dict[str, np.ndarray]:
    """PNG-encoded gradient images of the configured size (deterministic)."""
    height, width = config.data.image_size
    mode = "L" if config.data.color_mode == "grayscale" else "RGB"
    encoded = []
    for i in range(count):
        ramp = np.linspace(0, 255, height * width, dtype=np.float64).reshape(height, width)
        pixels = ((ramp + 60 * i) % 256).astype(np.uint8)
        if mode == "RGB":
            pixels = np.stack([pixels, pixels[::-1], pixels.T if height == width else pixels], axis=-1)
        buffer = io.BytesIO()
        Image.fromarray(pixels, mode=mode).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    return {"image_bytes": np.array(encoded, dtype=object)}
