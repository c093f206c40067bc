"""Grad-CAM class-activation heatmaps for 2D and 3D classifiers, built to run in serving graphs.

`grad_cam` uses `tf.GradientTape` inside the traced function; the gradient ops it records are
ordinary TensorFlow ops, so a signature that returns heatmaps loads in stock
`tensorflow_model_server` like any other.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from tfapps.models.volumes import resize_volume

__all__ = ["grad_cam"]


def _upsample(maps: tf.Tensor, spatial_size: tf.Tensor) -> tf.Tensor:
    """Bilinear (2D) or trilinear (3D) resize of `[B, *spatial]` maps to `spatial_size`."""
    maps = maps[..., None]
    if maps.shape.rank == 4:
        maps = tf.image.resize(maps, spatial_size, method="bilinear")
    else:
        maps = resize_volume(maps, spatial_size, method="bilinear")
    return maps[..., 0]


def grad_cam(
    features_fn: Callable[[tf.Tensor], tf.Tensor],
    head_fn: Callable[[tf.Tensor], tf.Tensor],
    inputs,
    class_indices=None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Grad-CAM heatmaps (Selvaraju et al., 2017) of a classifier split into features and head.

    With `A = features_fn(inputs)` (`[B, *spatial, F]`) and `y = head_fn(A)[b, class]`, the map of
    each example is `ReLU(sum_f alpha_f * A_f)` with `alpha_f` the spatial mean of `dy / dA_f`.
    It is upsampled to the input's spatial size (bilinear in 2D, trilinear in 3D; sizes may be
    dynamic) and divided by its maximum, so the strongest evidence is 1 and no evidence is 0
    (not min-max scaling, which would stretch a uniform map of weak evidence to full range). A
    map without positive evidence stays all zeros, never NaN.

    `head_fn` must treat the examples of a batch independently (inference mode: no batch
    statistics): the gradient of the sum of the chosen logits is taken once for the whole batch.

    Args:
        features_fn: maps `inputs` to a feature map `[B, h, w, F]` or `[B, d, h, w, F]`, e.g.
            `lambda x: backbone(x, training=False)`.
        head_fn: maps the feature map to logits `[B, K]`.
        inputs: `[B, H, W, C]` images or `[B, D, H, W, C]` volumes (same spatial rank as the
            features).
        class_indices: int `[B]` class per example, in `0..K-1`; the argmax of the logits when None.

    Returns:
        `(heatmaps, logits)`: float32 heatmaps `[B, H, W]` or `[B, D, H, W]` in 0..1 at the input's
        spatial size, and the float32 logits `[B, K]`.

    Raises:
        ValueError: when inputs and features do not both have rank 4 (2D) or both rank 5 (3D), or
            the logits are not `[B, K]`.

    Example:
        >>> heatmaps, logits = grad_cam(
        ...     lambda x: backbone(x, training=False), lambda f: head(f, training=False), volumes)
    """
    inputs = tf.convert_to_tensor(inputs)
    # Under mixed precision the features may be float16; float32 keeps the gradients precise,
    # and the head's layers cast back to their compute dtype themselves.
    features = tf.cast(features_fn(inputs), tf.float32)
    if inputs.shape.rank not in (4, 5) or features.shape.rank != inputs.shape.rank:
        raise ValueError(
            "inputs and features must both be 4-D ([B, H, W, C] / [B, h, w, F]) or both 5-D "
            f"([B, D, H, W, C] / [B, d, h, w, F]). Received: inputs.shape={inputs.shape}, "
            f"features.shape={features.shape}"
        )
    with tf.GradientTape() as tape:
        # Watch the features, not the inputs: only the head's ops are recorded.
        tape.watch(features)
        logits = tf.cast(head_fn(features), tf.float32)
        if logits.shape.rank != 2:
            raise ValueError(f"head_fn must return logits [B, K]. Received: logits.shape={logits.shape}")
        if class_indices is None:
            chosen = tf.argmax(logits, axis=-1, output_type=tf.int32)
        else:
            chosen = tf.cast(class_indices, tf.int32)
        scores = tf.gather(logits, chosen, axis=1, batch_dims=1)
    gradients = tape.gradient(scores, features)

    spatial = list(range(1, features.shape.rank - 1))
    channel_weights = tf.reduce_mean(gradients, axis=spatial, keepdims=True)
    maps = tf.nn.relu(tf.reduce_sum(channel_weights * features, axis=-1))
    # Bilinear weights are convex, so the upsampled maps stay >= 0.
    maps = _upsample(maps, tf.shape(inputs)[1:-1])
    peak = tf.reduce_max(maps, axis=spatial, keepdims=True)
    heatmaps = tf.math.divide_no_nan(maps, peak)
    return heatmaps, logits
