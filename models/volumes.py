"""3D segmentation and volume operations: a 3D U-Net, sliding-window inference, intensity
normalisation, resizing and augmentation, and the Dice / HD95 evaluation metrics.

Conventions (shared by everything in this module):

- Volumes are channels-last float32 `[batch, depth, height, width, channels]` (`[D, H, W, C]` for
  one example in the tf.data pipeline); labels are integer class ids `[batch, D, H, W]`.
- Everything that takes tensors (`unet3d`, `sliding_window_inference`, `normalise_intensity`,
  `resize_volume`) is built from core TensorFlow ops only, accepts spatial sizes unknown at trace
  time, and so runs unchanged in the tf.data pipeline, in Keras models and in serving signatures
  that stock `tensorflow_model_server` loads.
- `dice_per_class` and `hd95` are NumPy/SciPy evaluation metrics that run outside the graph.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import keras
import numpy as np
import scipy.ndimage
import tensorflow as tf

from tfapps.models.checks import check_positive_int, check_rate

__all__ = [
    "BLEND_MODES",
    "NORMALISATION_MODES",
    "dice_per_class",
    "hd95",
    "normalise_intensity",
    "random_flip_3d",
    "random_intensity",
    "resize_volume",
    "sliding_window_inference",
    "unet3d",
]

NORMALISATION_MODES = ("zscore", "nonzero_zscore", "none")
BLEND_MODES = ("gaussian", "constant")
# MONAI's sliding-window defaults: sigma = window / 8, weights clamped below at 1e-3 so that no
# voxel of a window (its corners sit about 4.9 sigma from the centre) is weighted (almost) zero.
_GAUSSIAN_SIGMA_SCALE = 0.125
_MIN_BLEND_WEIGHT = 1e-3


def _seed_tensor(seed) -> tf.Tensor:
    """A shape-[2] int64 seed from an int or a tensor."""
    if isinstance(seed, numbers.Integral):
        return tf.constant([int(seed), 0], tf.int64)
    return tf.cast(seed, tf.int64)


# --- model -------------------------------------------------------------------------------------


def _check_volume_shape(input_shape, multiple: int) -> tuple:
    input_shape = tuple(input_shape)
    if len(input_shape) != 4 or input_shape[-1] is None or input_shape[-1] < 1:
        raise ValueError(
            "input_shape must be (depth, height, width, channels) with a known channel count. "
            f"Received: input_shape={input_shape!r}"
        )
    for size in input_shape[:3]:
        if size is not None and (size < 1 or size % multiple):
            raise ValueError(
                f"unet3d needs spatial sizes that are multiples of 2**depth = {multiple}. "
                f"Received: input_shape={input_shape!r}"
            )
    return input_shape


def _conv_bn_relu_3d(x, filters: int, name: str, momentum: float):
    x = keras.layers.Conv3D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def unet3d(
    input_shape: tuple[int | None, int | None, int | None, int],
    num_classes: int,
    base_filters: int = 8,
    depth: int = 3,
    batch_norm_momentum: float = 0.9,
    dropout: float = 0.0,
    name: str = "unet3d",
) -> keras.Model:
    """Build a 3D U-Net (Çiçek et al., 2016) with batch norm and same padding.

    Each level is two (3x3x3 conv, batch norm, ReLU) blocks with `base_filters * 2**level`
    filters. The encoder halves every spatial size `depth` times with 2x2x2 max-pooling; the
    decoder doubles them with a 2x2x2 stride-2 transposed convolution, concatenates the encoder's
    feature map of the same level and applies the two blocks again. A float32 1x1x1 convolution
    gives the logits, so they stay float32 under mixed precision.

    Args:
        input_shape: `(depth, height, width, channels)` of the normalised input. Known spatial
            sizes must be multiples of `2**depth`; `None` sizes are allowed, and volumes must then
            be multiples of `2**depth` at call time (otherwise the skip concatenation fails), which
            `sliding_window_inference` guarantees by feeding fixed-size windows.
        num_classes: number of classes `K`.
        base_filters: filters of the first level (doubling at each level below).
        depth: number of down-sampling steps.
        batch_norm_momentum: momentum of the batch-norm moving statistics (0.9 suits the few steps
            per epoch of small 3D datasets; Keras' 0.99 settles too slowly).
        dropout: dropout rate after the bottleneck; 0 for none.
        name: model name.

    Returns:
        A model mapping `[batch, D, H, W, channels]` to float32 logits `[batch, D, H, W, K]`.

    Raises:
        ValueError: for non-positive sizes, rates out of range, or known sizes not multiples of
            `2**depth`.

    Example:
        >>> model = unet3d((32, 32, 32, 1), num_classes=3, base_filters=4, depth=2)
        >>> model(np.zeros((1, 32, 32, 32, 1), "float32")).shape   # (1, 32, 32, 32, 3)
    """
    check_positive_int(num_classes=num_classes, base_filters=base_filters, depth=depth)
    check_rate("dropout", dropout)
    check_rate("batch_norm_momentum", batch_norm_momentum)
    input_shape = _check_volume_shape(input_shape, 2**depth)

    inputs = keras.Input(input_shape, name="volume")
    x = inputs
    skips = []
    for level in range(depth):
        filters = base_filters * 2**level
        x = _conv_bn_relu_3d(x, filters, f"enc{level}_block0", batch_norm_momentum)
        x = _conv_bn_relu_3d(x, filters, f"enc{level}_block1", batch_norm_momentum)
        skips.append(x)
        x = keras.layers.MaxPooling3D(2, name=f"enc{level}_pool")(x)

    filters = base_filters * 2**depth
    x = _conv_bn_relu_3d(x, filters, "bottleneck_block0", batch_norm_momentum)
    x = _conv_bn_relu_3d(x, filters, "bottleneck_block1", batch_norm_momentum)
    if dropout > 0.0:
        x = keras.layers.Dropout(dropout, name="bottleneck_dropout")(x)

    for level in reversed(range(depth)):
        filters = base_filters * 2**level
        x = keras.layers.Conv3DTranspose(filters, 2, strides=2, name=f"dec{level}_upconv")(x)
        x = keras.layers.Concatenate(name=f"dec{level}_concat")([skips[level], x])
        x = _conv_bn_relu_3d(x, filters, f"dec{level}_block0", batch_norm_momentum)
        x = _conv_bn_relu_3d(x, filters, f"dec{level}_block1", batch_norm_momentum)

    logits = keras.layers.Conv3D(num_classes, 1, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name=name)


# --- sliding-window inference ------------------------------------------------------------------


def _check_window(window) -> tuple[int, int, int]:
    window = tuple(window)
    if len(window) != 3 or any(
        isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in window
    ):
        raise ValueError(
            f"window must be three positive integers (depth, height, width). Received: window={window!r}"
        )
    return tuple(int(s) for s in window)


def _blend_weights(window: tuple[int, int, int], blend: str) -> np.ndarray:
    """Per-voxel weights `[d, h, w]` of one window's predictions (MONAI's importance map)."""
    if blend == "constant":
        return np.ones(window, np.float32)
    weights = np.ones((), np.float64)
    for size in window:
        offset = np.arange(size) - (size - 1) / 2.0
        sigma = _GAUSSIAN_SIGMA_SCALE * size
        weights = np.multiply.outer(weights, np.exp(-(offset**2) / (2.0 * sigma**2)))
    return np.maximum(weights, _MIN_BLEND_WEIGHT).astype(np.float32)


def _window_offsets(window: tuple[int, int, int]) -> np.ndarray:
    """int32 `[d, h, w, 4]`: the (batch, z, y, x) offset of every voxel from its window's corner."""
    grid = np.stack(np.meshgrid(*(np.arange(s) for s in window), indexing="ij"), axis=-1)
    return np.concatenate([np.zeros((*window, 1), np.int32), grid.astype(np.int32)], axis=-1)


def sliding_window_inference(
    predict: Callable[[tf.Tensor], tf.Tensor],
    volumes,
    window: Sequence[int],
    overlap: float = 0.5,
    *,
    num_classes: int,
    window_batch: int = 4,
    blend: str = "gaussian",
) -> tf.Tensor:
    """Class probabilities of whole volumes from a model that sees fixed-size windows (as MONAI).

    1. Each spatial axis smaller than the window is zero-padded to the window's size (half
       before, the rest after, as MONAI does); the padding is cropped off the result.
    2. Windows start every `max(int(window * (1 - overlap)), 1)` voxels along each axis, as many
       as needed to reach the end, and the last one is moved back to end at the volume's edge.
    3. `predict` runs on `window_batch` windows at a time (windows of all volumes in the batch,
       in order) inside a `tf.while_loop` with `parallel_iterations=1`, so memory is bounded by
       one window batch and the accumulator, whatever the number of windows.
    4. Softmax probabilities are blended with per-voxel window weights: a Gaussian centred on the
       window with sigma = window / 8 per axis, clamped below at 1e-3 (MONAI's
       `BlendMode.GAUSSIAN`), or ones (`"constant"`): each voxel gets
       `sum_windows(weight * p) / sum_windows(weight)`.

    Only core TensorFlow ops are used (`gather_nd`, `tensor_scatter_nd_add`, `while_loop`), so the
    function can run inside a serving signature whose spatial sizes are unknown at trace time.

    Args:
        predict: maps windows `[n, d, h, w, C]` (`n <= window_batch`, varying) to logits
            `[n, d, h, w, K]`, e.g. `lambda x: model(x, training=False)`.
        volumes: float `[B, D, H, W, C]`; sizes may be dynamic.
        window: static window size `(d, h, w)`.
        overlap: fraction of a window shared with the next one along each axis, in `[0, 1)`.
        num_classes: number of classes `K` (the last dimension of `predict`'s output).
        window_batch: windows per `predict` call.
        blend: `"gaussian"` or `"constant"`.

    Returns:
        float32 probabilities `[B, D, H, W, K]` (each voxel sums to 1).

    Raises:
        ValueError: for a bad `window`, `overlap`, `num_classes`, `window_batch` or `blend`, a
            `volumes` tensor that is not 5-D, or `predict` output with a known class count other
            than `num_classes`.

    Example:
        >>> model = unet3d((None, None, None, 1), num_classes=3, base_filters=4, depth=2)
        >>> probs = sliding_window_inference(
        ...     lambda x: model(x, training=False), volumes, window=(32, 32, 32), num_classes=3)
    """
    window = _check_window(window)
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1). Received: overlap={overlap!r}")
    check_positive_int(num_classes=num_classes, window_batch=window_batch)
    if blend not in BLEND_MODES:
        raise ValueError(f"blend must be one of {', '.join(BLEND_MODES)}. Received: blend={blend!r}")
    volumes = tf.cast(tf.convert_to_tensor(volumes), tf.float32)
    if volumes.shape.rank != 5:
        raise ValueError(
            f"volumes must be [batch, depth, height, width, channels]. Received: volumes.shape={volumes.shape}"
        )
    k = int(num_classes)
    window_size = tf.constant(window, tf.int32)
    stride = tf.constant([max(int(s * (1.0 - overlap)), 1) for s in window], tf.int32)

    shape = tf.shape(volumes)
    batch, sizes = shape[0], shape[1:4]
    padded_sizes = tf.maximum(sizes, window_size)
    pad_before = (padded_sizes - sizes) // 2
    paddings = tf.stack([pad_before, padded_sizes - sizes - pad_before], axis=1)
    padded = tf.pad(volumes, tf.concat([[[0, 0]], paddings, [[0, 0]]], axis=0))

    # Windows per axis: the first i with i * stride + window >= size, plus one.
    counts = (padded_sizes - window_size + stride - 1) // stride + 1
    per_volume = tf.reduce_prod(counts)
    total = batch * per_volume
    offsets = tf.constant(_window_offsets(window))
    weights = tf.constant(_blend_weights(window, blend))[..., None]

    def window_voxels(index):
        """gather/scatter indices `[n, d, h, w, 4]` of the windows numbered `index` `[n]`."""
        within = index % per_volume
        grid = tf.stack(
            [within // (counts[1] * counts[2]), within // counts[2] % counts[1], within % counts[2]], axis=1
        )
        starts = tf.minimum(grid * stride, padded_sizes - window_size)
        corners = tf.concat([(index // per_volume)[:, None], starts], axis=1)
        return corners[:, None, None, None, :] + offsets

    def body(start, accumulator):
        indices = window_voxels(tf.range(start, tf.minimum(start + window_batch, total)))
        logits = tf.cast(predict(tf.gather_nd(padded, indices)), tf.float32)
        if logits.shape[-1] is not None and logits.shape[-1] != k:
            raise ValueError(
                f"predict must return {k} logits per voxel (num_classes). Received: logits.shape={logits.shape}"
            )
        probabilities = tf.nn.softmax(logits, axis=-1)
        # The blend weight rides along as channel K, so one scatter accumulates both sums.
        update = tf.concat([probabilities * weights, tf.ones_like(probabilities[..., :1]) * weights], -1)
        return start + window_batch, tf.tensor_scatter_nd_add(accumulator, indices, update)

    accumulator = tf.zeros(tf.concat([[batch], padded_sizes, [k + 1]], axis=0), tf.float32)
    _, accumulator = tf.while_loop(
        lambda start, _: start < total, body, [tf.constant(0, tf.int32), accumulator], parallel_iterations=1
    )
    # Every voxel is covered by at least one window with weight >= 1e-3; divide_no_nan only
    # matters for an empty batch.
    probabilities = tf.math.divide_no_nan(accumulator[..., :k], accumulator[..., k:])
    probabilities = tf.slice(
        probabilities, tf.concat([[0], pad_before, [0]], axis=0), tf.concat([[-1], sizes, [-1]], axis=0)
    )
    probabilities.set_shape([*volumes.shape[:4], k])
    return probabilities


# --- preprocessing and augmentation ------------------------------------------------------------


def normalise_intensity(volumes, mode: str = "nonzero_zscore") -> tf.Tensor:
    """Z-score each volume and channel, over all voxels or over nonzero voxels only.

    - `"zscore"`: `(x - mean) / std` over all voxels of the volume's channel (CT, most MRI);
    - `"nonzero_zscore"`: mean and std over the channel's nonzero voxels, which are normalised;
      zero voxels stay 0 (nnU-Net's scheme for skull-stripped brain MRI, where 0 is background);
    - `"none"`: the volumes as float32.

    A channel whose (nonzero) voxels are all equal, or that has no nonzero voxels, becomes all
    zeros: never NaN and never amplified rounding noise (the test is `max == min` over those
    voxels, exact where a `std < eps` test would depend on the intensity scale).

    Args:
        volumes: `[B, D, H, W, C]` batches or one `[D, H, W, C]` volume (tf.data map functions).
        mode: one of `NORMALISATION_MODES`.

    Returns:
        float32 tensor of the same shape.

    Raises:
        ValueError: for an unknown `mode` or a rank other than 4 or 5.
    """
    if mode not in NORMALISATION_MODES:
        raise ValueError(f"mode must be one of {', '.join(NORMALISATION_MODES)}. Received: mode={mode!r}")
    volumes = tf.cast(tf.convert_to_tensor(volumes), tf.float32)
    if volumes.shape.rank not in (4, 5):
        raise ValueError(
            "volumes must be [batch, depth, height, width, channels] or [depth, height, width, channels]. "
            f"Received: volumes.shape={volumes.shape}"
        )
    if mode == "none":
        return volumes
    spatial = [-4, -3, -2]
    selected = tf.ones_like(volumes, tf.bool) if mode == "zscore" else tf.not_equal(volumes, 0.0)
    count = tf.maximum(tf.reduce_sum(tf.cast(selected, tf.float32), spatial, keepdims=True), 1.0)
    mean = tf.reduce_sum(tf.where(selected, volumes, 0.0), spatial, keepdims=True) / count
    centred = tf.where(selected, volumes - mean, 0.0)
    std = tf.sqrt(tf.reduce_sum(tf.square(centred), spatial, keepdims=True) / count)
    lowest = tf.reduce_min(tf.where(selected, volumes, np.inf), spatial, keepdims=True)
    highest = tf.reduce_max(tf.where(selected, volumes, -np.inf), spatial, keepdims=True)
    scale = tf.where(highest > lowest, 1.0 / tf.maximum(std, 1e-12), 0.0)
    return centred * scale


def resize_volume(volumes, size, method: str = "bilinear") -> tf.Tensor:
    """Resize volumes to `size` with trilinear or nearest-neighbour interpolation.

    Trilinear interpolation is separable, so it runs as two `tf.image.resize` passes (height and
    width, then depth): core ops only, dynamic sizes allowed. Half-pixel centres and no
    antialiasing, like `torch.nn.functional.interpolate(mode="trilinear", align_corners=False)`.

    Args:
        volumes: `[B, D, H, W, C]`, or one volume `[D, H, W, C]`.
        size: `(depth, height, width)` of the output; ints or an int tensor `[3]`.
        method: `"bilinear"` (trilinear; returns float32) or `"nearest"` (keeps the dtype, for
            integer label maps).

    Returns:
        `[B, *size, C]` (or `[*size, C]` for one volume).

    Raises:
        ValueError: for an unknown `method`, a rank other than 4 or 5, or a `size` that is not 3 values.
    """
    if method not in ("bilinear", "nearest"):
        raise ValueError(f"method must be 'bilinear' or 'nearest'. Received: method={method!r}")
    volumes = tf.convert_to_tensor(volumes)
    rank = volumes.shape.rank
    if rank not in (4, 5):
        raise ValueError(
            "volumes must be [batch, depth, height, width, channels] or [depth, height, width, channels]. "
            f"Received: volumes.shape={volumes.shape}"
        )
    size = tf.convert_to_tensor(size, tf.int32)
    if size.shape.rank != 1 or size.shape[0] != 3:
        raise ValueError(f"size must be (depth, height, width). Received: size={size!r}")
    static_size = tf.get_static_value(size)
    if rank == 4:
        volumes = volumes[None]
    if method == "bilinear":
        volumes = tf.cast(volumes, tf.float32)
    b, d, h, w, c = tf.unstack(tf.shape(volumes))

    x = tf.reshape(volumes, tf.stack([b * d, h, w, c]))
    x = tf.image.resize(x, size[1:], method=method)
    # Height and width are folded into one axis that the depth pass leaves at scale 1: with
    # half-pixel centres that samples exactly the existing voxels (no blurring across rows).
    x = tf.reshape(x, tf.stack([b, d, size[1] * size[2], c]))
    x = tf.image.resize(x, tf.stack([size[0], size[1] * size[2]]), method=method)
    x = tf.reshape(x, tf.stack([b, size[0], size[1], size[2], c]))
    static_spatial = [None] * 3 if static_size is None else [int(s) for s in static_size]
    x.set_shape([volumes.shape[0], *static_spatial, volumes.shape[-1]])
    return x[0] if rank == 4 else x


def random_flip_3d(volume, label, seed) -> tuple[tf.Tensor, tf.Tensor | None]:
    """Flip one example along each spatial axis independently with probability 0.5.

    Args:
        volume: `[D, H, W, C]`.
        label: `[D, H, W]` label map flipped the same way, or None.
        seed: int or shape-`[2]` integer tensor for the stateless random draws.

    Returns:
        `(volume, label)` flipped along the same axes (label None when given None).

    Raises:
        ValueError: when `volume` is not 4-D.
    """
    volume = tf.convert_to_tensor(volume)
    if volume.shape.rank != 4:
        raise ValueError(
            f"volume must be [depth, height, width, channels]. Received: volume.shape={volume.shape}"
        )
    flips = tf.random.stateless_uniform([3], _seed_tensor(seed)) < 0.5
    axes = tf.boolean_mask(tf.range(3), flips)
    volume = tf.reverse(volume, axes)
    if label is not None:
        label = tf.reverse(tf.convert_to_tensor(label), axes)
    return volume, label


def random_intensity(volume, seed, scale: float = 0.1, shift: float = 0.1) -> tf.Tensor:
    """Scale and shift the intensities of one example, per channel.

    Each channel becomes `x * (1 + U(-scale, scale)) + U(-shift, shift)`. Apply it after
    `normalise_intensity`, where `shift` is in units of the channel's standard deviation (note
    that the shift moves zero background too).

    Args:
        volume: `[D, H, W, C]` float.
        seed: int or shape-`[2]` integer tensor for the stateless random draws.
        scale: maximum relative intensity change, in `[0, 1)`.
        shift: maximum additive change, `>= 0`.

    Returns:
        float32 `[D, H, W, C]`.

    Raises:
        ValueError: for `scale` outside `[0, 1)` or a negative `shift`.
    """
    check_rate("scale", scale)
    if not shift >= 0.0:
        raise ValueError(f"shift must be >= 0. Received: shift={shift!r}")
    volume = tf.cast(tf.convert_to_tensor(volume), tf.float32)
    seeds = tf.random.experimental.stateless_split(_seed_tensor(seed), 2)
    channels = tf.shape(volume)[-1:]
    factor = 1.0 + tf.random.stateless_uniform(channels, seeds[0], -scale, scale)
    offset = tf.random.stateless_uniform(channels, seeds[1], -shift, shift)
    return volume * factor + offset


# --- evaluation metrics (NumPy) ----------------------------------------------------------------


def dice_per_class(truth, prediction, num_classes: int) -> np.ndarray:
    """Dice coefficient `2|A∩B| / (|A| + |B|)` of every class between two label maps.

    Args:
        truth: integer class ids, any shape.
        prediction: integer class ids, the same shape.
        num_classes: number of classes `K`; ids outside `0..K-1` belong to no class.

    Returns:
        float64 `[K]`; NaN for a class absent from both maps (its Dice is undefined, so a mean
        over cases should use `np.nanmean`, as the Medical Segmentation Decathlon does).

    Raises:
        ValueError: mismatched shapes or a bad `num_classes`.
    """
    check_positive_int(num_classes=num_classes)
    truth = np.asarray(truth)
    prediction = np.asarray(prediction)
    if truth.shape != prediction.shape:
        raise ValueError(
            "truth and prediction must have the same shape. "
            f"Received: truth.shape={truth.shape}, prediction.shape={prediction.shape}"
        )
    truth = truth.astype(np.int64, copy=False).reshape(-1)
    prediction = prediction.astype(np.int64, copy=False).reshape(-1)

    def counts(ids):
        ids = ids[(ids >= 0) & (ids < num_classes)]
        return np.bincount(ids, minlength=num_classes).astype(np.float64)

    intersection = counts(truth[truth == prediction])
    total = counts(truth) + counts(prediction)
    return np.divide(2.0 * intersection, total, out=np.full(num_classes, np.nan), where=total > 0)


def _surface(mask: np.ndarray) -> np.ndarray:
    """Boundary voxels: mask voxels with a face neighbour outside the mask or the array."""
    structure = scipy.ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~scipy.ndimage.binary_erosion(mask, structure=structure, border_value=0)


def hd95(truth_mask, pred_mask, spacing: Sequence[float] | None = None) -> float:
    """95th percentile Hausdorff distance between two binary masks, in physical units.

    The surface of a mask is its voxels with a face neighbour outside it (or outside the array).
    For every surface voxel of each mask, the distance to the nearest surface voxel of the other
    (`scipy.ndimage.distance_transform_edt` with `sampling=spacing`); the result is the 95th
    percentile (linear interpolation) of both sets together, as in medpy and the Medical
    Segmentation Decathlon's evaluation.

    Args:
        truth_mask: boolean (or 0/1) array, any rank.
        pred_mask: the same shape.
        spacing: voxel size along each axis (e.g. millimetres); ones when None.

    Returns:
        the distance as a float: NaN when both masks are empty (nothing to compare), inf when
        exactly one is (no finite distance; callers usually report such cases separately or
        substitute a maximum distance).

    Raises:
        ValueError: mismatched shapes, or `spacing` not one positive value per axis.
    """
    truth = np.asarray(truth_mask).astype(bool)
    pred = np.asarray(pred_mask).astype(bool)
    if truth.shape != pred.shape:
        raise ValueError(
            "truth_mask and pred_mask must have the same shape. "
            f"Received: truth_mask.shape={truth.shape}, pred_mask.shape={pred.shape}"
        )
    spacing = np.ones(truth.ndim) if spacing is None else np.asarray(spacing, np.float64).reshape(-1)
    if spacing.size != truth.ndim or not (spacing > 0).all():
        raise ValueError(
            f"spacing must be one positive value per axis ({truth.ndim}). Received: spacing={spacing.tolist()}"
        )
    if not truth.any() and not pred.any():
        return float("nan")
    if not truth.any() or not pred.any():
        return float("inf")
    truth_surface, pred_surface = _surface(truth), _surface(pred)
    to_truth = scipy.ndimage.distance_transform_edt(~truth_surface, sampling=spacing)
    to_pred = scipy.ndimage.distance_transform_edt(~pred_surface, sampling=spacing)
    distances = np.concatenate([to_truth[pred_surface], to_pred[truth_surface]])
    return float(np.percentile(distances, 95))
