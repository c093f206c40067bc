"""Serving signatures: images or volumes in physical units (or 8/16-bit PNG bytes) in;
probabilities, best labels and scores, and a Grad-CAM saliency map at the input's size out.

Core TensorFlow cannot decode DICOM or NIfTI, so the float signatures take decoded arrays in
physical units (`tfapps predict` and the clients read `.dcm`, `.nii`, `.nii.gz` files first). The
graph resizes and normalises with `preprocess`, the function the training data went through.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfapps.apps.medical_classification.data import preprocess
from tfapps.models.preprocessing.intensity import resize_spatial
from tfapps.models.saliency import grad_cam
from tfapps.serving.export import Signature

__all__ = ["decode_png_any_depth", "sample_request", "serving_signatures"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def decode_png_any_depth(encoded: tf.Tensor) -> tf.Tensor:
    """One PNG (8- or 16-bit, grey or colour → grey) or JPEG to float32 `[h, w, 1]` holding the
    stored values (0..255 or 0..65535), as `pipelines.medical_io.read_image` reads files.

    The IHDR bit depth (byte 24) picks the decoder dtype: `decode_png(dtype=uint16)` would scale
    8-bit values by 257.
    """
    is_png = tf.equal(tf.strings.substr(encoded, 0, 8), _PNG_MAGIC)

    def png():
        depth = tf.io.decode_raw(tf.strings.substr(encoded, 24, 1), tf.uint8)[0]
        return tf.cond(
            depth > 8,
            lambda: tf.cast(tf.io.decode_png(encoded, channels=1, dtype=tf.uint16), tf.float32),
            lambda: tf.cast(tf.io.decode_png(encoded, channels=1), tf.float32),
        )

    def other():
        image = tf.io.decode_image(encoded, channels=1, expand_animations=False)
        return tf.cast(image, tf.float32)

    return tf.cond(is_png, png, other)


def classify_fn(model, config):
    """`images [B, *spatial, 1]` (any size, physical units) → the answer dict."""
    features, head = model.get_layer("features"), model.get_layer("head")
    class_names = tf.constant(list(config.data.class_names))
    top_k = min(config.serving.top_k, len(config.data.class_names))

    def classify(images):
        images = tf.cast(images, tf.float32)
        x = preprocess(images, config)
        heat, logits = grad_cam(lambda t: features(t, training=False), lambda f: head(f, training=False), x)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        scores, indices = tf.math.top_k(probabilities, k=top_k)
        saliency = resize_spatial(heat[..., None], tf.shape(images)[1:-1])[..., 0]
        return {
            "probabilities": probabilities,
            "labels": tf.gather(class_names, indices),
            "scores": scores,
            "saliency": tf.clip_by_value(saliency, 0.0, 1.0),
        }

    return classify


def serving_signatures(model, config) -> dict[str, Signature]:
    """2D models: `serving_default` (`image` float32 `[None, H, W, 1]`, any H×W) and `png`
    (`image_png_bytes` string `[None]`, 8- or 16-bit PNGs of one size per request); 3D models:
    `serving_default` and `volume` (`volume` float32 `[None, D, H, W, 1]`, any size). Outputs:
    `probabilities` `[None, C]`, `labels` and `scores` `[None, k]` (best first) and `saliency`
    (Grad-CAM, 0..1, the input's spatial size)."""
    classify = classify_fn(model, config)
    if config.data.spatial_dims == 3:
        spec = {"volume": tf.TensorSpec([None, None, None, None, 1], tf.float32)}
        volume = Signature(lambda volume: classify(volume), spec)
        return {"serving_default": volume, "volume": volume}

    def from_png(image_png_bytes):
        images = tf.map_fn(
            decode_png_any_depth,
            image_png_bytes,
            fn_output_signature=tf.TensorSpec([None, None, 1], tf.float32),
        )
        return classify(images)

    return {
        "serving_default": Signature(
            lambda image: classify(image), {"image": tf.TensorSpec([None, None, None, 1], tf.float32)}
        ),
        "png": Signature(from_png, {"image_png_bytes": tf.TensorSpec([None], tf.string)}),
    }


def sample_request(config, count: int = 2) -> dict[str, np.ndarray]:
    """Two deterministic images (2D: a bright disc on a ramp; 3D: a bright ball) at the model's
    size, in the 0..1000 range (plausible physical units)."""
    size = tuple(config.data.image_size)
    grids = np.meshgrid(*[np.linspace(-1, 1, s) for s in size], indexing="ij")
    radius = np.sqrt(sum(g**2 for g in grids))
    images = []
    for i in range(count):
        ball = (radius < 0.35 + 0.2 * i).astype(np.float32) * 800.0
        ramp = (grids[-1] + 1.0) * 50.0 * (i + 1)
        images.append((ball + ramp).astype(np.float32)[..., None])
    key = "volume" if config.data.spatial_dims == 3 else "image"
    return {key: np.stack(images)}
