"""Serving signature: volumes of any size in physical units in; a class-id mask of the same size
out, computed with sliding-window inference in the graph.

Core TensorFlow cannot read NIfTI, so the signature takes the decoded volume (`tfapps predict`
reads `.nii`/`.nii.gz` files, sends the array and writes the mask back with the input's affine).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfapps.apps.medical_segmentation.data import normalise
from tfapps.models.volumes import sliding_window_inference
from tfapps.serving.export import Signature

__all__ = ["sample_request", "segment_fn", "serving_signatures"]


def segment_fn(model, config):
    """`volume [B, D, H, W, C]` → `{mask [B, D, H, W] int32, class_voxel_counts [B, K] int32}`."""
    num_classes = len(config.data.class_names)
    s = config.serving
    window = tuple(s.window or config.data.patch_size)

    def segment(volume):
        x = normalise(volume, config)
        probabilities = sliding_window_inference(
            lambda patches: model(patches, training=False),
            x,
            window=window,
            overlap=s.overlap,
            num_classes=num_classes,
            window_batch=s.window_batch,
            blend=s.blend,
        )
        mask = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        counts = tf.reduce_sum(tf.one_hot(mask, num_classes, dtype=tf.int32), axis=[1, 2, 3])
        return {"mask": mask, "class_voxel_counts": counts}

    return segment


def serving_signatures(model, config) -> dict[str, Signature]:
    """`serving_default` and `volume`: `volume` float32 `[None, D, H, W, C]` (any D, H, W) →
    `mask` int32 `[None, D, H, W]` (class ids) and `class_voxel_counts` int32 `[None, K]`."""
    spec = {"volume": tf.TensorSpec([None, None, None, None, config.data.channels], tf.float32)}
    segment = segment_fn(model, config)
    signature = Signature(lambda volume: segment(volume), spec)
    return {"serving_default": signature, "volume": signature}


def sample_request(config) -> dict[str, np.ndarray]:
    """One volume 1.5 windows wide per side (so the windows overlap and the edges are partial)
    with a bright ball in it, in MRI-like units."""
    window = np.array(config.serving.window or config.data.patch_size)
    size = tuple(int(s) for s in window * 3 // 2 + 1)
    grids = np.meshgrid(*[np.linspace(-1, 1, s) for s in size], indexing="ij")
    radius = np.sqrt(sum(g**2 for g in grids))
    volume = np.where(radius < 0.9, 300.0, 0.0) + np.where(radius < 0.3, 500.0, 0.0)
    volume = np.repeat(volume[..., None], config.data.channels, axis=-1)
    return {"volume": volume[None].astype(np.float32)}
