"""Intensity preprocessing of medical images in physical units (HU, MRI signal, raw PNG values),
shared by the training pipeline and the served graph so that both see the same numbers."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from tfapps.models.volumes import resize_volume

__all__ = ["INTENSITY_MODES", "normalise_medical", "resize_spatial"]

INTENSITY_MODES = ("zscore", "window", "fixed")
_EPSILON = 1e-6


def normalise_medical(
    images: tf.Tensor,
    mode: str = "zscore",
    window: Sequence[float] = (),
    offset: float = 0.0,
    scale: float = 1.0,
) -> tf.Tensor:
    """Clip to an intensity window, then normalise each image.

    Args:
        images: float `[batch, *spatial, channels]` in physical units.
        mode: `zscore` (per image and channel: zero mean, unit variance; constant images give
            zeros), `window` (the window mapped to 0..1) or `fixed` (`(x - offset) / scale`).
        window: `(center, width)`; values are clipped to `center ± width / 2` first. Empty: no clip.
        offset, scale: the `fixed` normalisation.

    Raises:
        ValueError: an unknown mode, `window` mode without a window, or a bad window.
    """
    if mode not in INTENSITY_MODES:
        raise ValueError(f"mode must be one of {INTENSITY_MODES}. Received: mode={mode!r}")
    if window and (len(window) != 2 or not window[1] > 0):
        raise ValueError(f"window must be (center, width) with width > 0. Received: window={window!r}")
    if mode == "window" and not window:
        raise ValueError("mode='window' needs a window (center, width). Received: window=()")
    x = tf.cast(images, tf.float32)
    if window:
        low, high = window[0] - window[1] / 2, window[0] + window[1] / 2
        x = tf.clip_by_value(x, low, high)
        if mode == "window":
            return (x - low) / (high - low)
    if mode == "fixed":
        return (x - offset) / scale
    axes = list(range(1, len(x.shape) - 1))
    mean, variance = tf.nn.moments(x, axes=axes, keepdims=True)
    return (x - mean) / tf.maximum(tf.sqrt(variance), _EPSILON)


def resize_spatial(images: tf.Tensor, size, method: str = "bilinear") -> tf.Tensor:
    """Resize `[batch, h, w, c]` or `[batch, d, h, w, c]` to `size` (2 or 3 sides: ints, or an
    int tensor known only when the graph runs); a no-op when the static shape already matches.
    Volumes go through `resize_volume` (trilinear in two separable passes).

    Raises:
        ValueError: `size` has a different number of sides than `images` has spatial axes.
    """
    rank = len(images.shape) - 2
    if isinstance(size, tf.Tensor):
        if size.shape[0] not in (None, rank):
            raise ValueError(f"Expected {rank} sides to resize to. Received: size={size}")
        static = None
    else:
        static = [int(s) for s in size]
        if len(static) != rank:
            raise ValueError(
                f"Expected {rank} sides to resize to. Received: size={static}, shape={images.shape}"
            )
        if list(images.shape[1:-1]) == static:
            return images
        size = tf.constant(static, tf.int32)
    size = tf.cast(size, tf.int32)
    if rank == 3:
        return resize_volume(images, size, method=method)
    resized = tf.image.resize(images, size, method=method)
    return resized if static is None else tf.ensure_shape(resized, [None, *static, images.shape[-1]])
