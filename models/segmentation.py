"""Semantic segmentation: U-Net and DeepLabV3+ models, loss, and mean-IoU metrics.

Conventions (shared by everything in this module):

- Models take an already normalised image `[batch, h, w, channels]` and return float32 per-pixel
  *logits* `[batch, h, w, num_classes]` at the input resolution (float32 even under mixed precision).
- Labels are integer class ids `[batch, h, w]` (or `[batch, h, w, 1]`) in `0..num_classes-1`;
  the loss and the Keras metric take any spatial rank, e.g. volumes: logits `[batch, d, h, w, C]`
  with labels `[batch, d, h, w]` (or `[batch, d, h, w, 1]`), "pixels" then being voxels;
  `ignore_index` (255 by default, as in Pascal VOC and Cityscapes) marks void pixels, and so does
  any id outside `0..num_classes-1`. Void pixels count nowhere: not in the loss, not in metrics.
- Confusion matrices are `[true, predicted]`, void pixels left out. The IoU of a class is
  `TP / (TP + FP + FN)`; mean IoU averages it over the classes whose union `TP + FP + FN` is not
  zero, i.e. classes that occur in the ground truth or the predictions (the usual
  `nanmean(iou)`, as Keras' `MeanIoU`, torchmetrics' and mmseg's evaluation do).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from tfapps.models.backbones.keras_hub_backbones import KERAS_HUB_BACKBONES
from tfapps.models.checks import check_positive_int

__all__ = [
    "DEEPLAB_BACKBONES",
    "MeanIoUIgnoringVoid",
    "SegmentationLoss",
    "confusion_matrix",
    "deeplab_v3",
    "median_frequency_weights",
    "segmentation_metrics",
    "unet",
]

DEEPLAB_BACKBONES = ("resnet18", "resnet50")


def _check_input_shape(input_shape, multiple: int, model: str) -> tuple:
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(
            f"input_shape must be (height, width, channels). Received: input_shape={input_shape!r}"
        )
    for size in input_shape[:2]:
        if size is not None and (size < 1 or size % multiple):
            raise ValueError(
                f"{model} needs an input height and width that are multiples of {multiple}. "
                f"Received: input_shape={input_shape!r}"
            )
    return input_shape


def _conv_bn_relu(x, filters: int, name: str, kernel_size: int = 3, momentum: float = 0.99):
    x = keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def unet(
    input_shape: tuple[int | None, int | None, int],
    num_classes: int,
    base_filters: int = 32,
    depth: int = 4,
    dropout: float = 0.0,
    batch_norm_momentum: float = 0.99,
    name: str = "unet",
) -> keras.Model:
    """Build a U-Net (Ronneberger et al., 2015) with batch norm and same padding.

    Each level is two (3x3 conv, batch norm, ReLU) blocks with `base_filters * 2**level` filters.
    The encoder halves the resolution `depth` times with 2x2 max-pooling; the decoder doubles it
    with bilinear upsampling and a 3x3 conv ("resize-conv", free of the checkerboard artefacts of
    transposed convolutions), concatenates the encoder's feature map of the same level, and
    applies the two blocks again. A float32 1x1 convolution gives the logits.

    Args:
        input_shape: `(height, width, channels)` of the normalised input. Known sizes must be
            multiples of `2**depth`; `None` sizes are allowed, and inputs must then be multiples at
            call time.
        num_classes: number of classes `C`.
        base_filters: filters of the first level (doubling at each level below).
        depth: number of down-sampling steps (the bottleneck runs at stride `2**depth`).
        dropout: dropout rate after the bottleneck (the original paper's "drop-out at the end of
            the contracting path"); 0 for none.
        batch_norm_momentum: momentum of the batch-norm moving statistics. Keras' 0.99 needs
            several hundred steps before inference statistics settle; small datasets (tens of
            steps per epoch) want ~0.9.
        name: model name.

    Returns:
        A model mapping `[batch, h, w, channels]` to float32 logits `[batch, h, w, C]`.

    Raises:
        ValueError: for non-positive sizes, a bad `dropout`, or sizes not multiples of `2**depth`.

    Example:
        >>> model = unet((128, 128, 3), num_classes=21, base_filters=16, depth=3)
        >>> model(np.zeros((2, 128, 128, 3), "float32")).shape   # (2, 128, 128, 21)
    """
    check_positive_int(num_classes=num_classes, base_filters=base_filters, depth=depth)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")
    input_shape = _check_input_shape(input_shape, 2**depth, "unet")

    inputs = keras.Input(input_shape, name="image")
    x = inputs
    skips = []
    for level in range(depth):
        filters = base_filters * 2**level
        x = _conv_bn_relu(x, filters, f"enc{level}_block0", momentum=batch_norm_momentum)
        x = _conv_bn_relu(x, filters, f"enc{level}_block1", momentum=batch_norm_momentum)
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)

    filters = base_filters * 2**depth
    x = _conv_bn_relu(x, filters, "bottleneck_block0", momentum=batch_norm_momentum)
    x = _conv_bn_relu(x, filters, "bottleneck_block1", momentum=batch_norm_momentum)
    if dropout > 0.0:
        x = keras.layers.Dropout(dropout, name="bottleneck_dropout")(x)

    for level in reversed(range(depth)):
        filters = base_filters * 2**level
        x = keras.layers.UpSampling2D(2, interpolation="bilinear", name=f"dec{level}_upsample")(x)
        x = _conv_bn_relu(x, filters, f"dec{level}_up", momentum=batch_norm_momentum)
        x = keras.layers.Concatenate(name=f"dec{level}_concat")([skips[level], x])
        x = _conv_bn_relu(x, filters, f"dec{level}_block0", momentum=batch_norm_momentum)
        x = _conv_bn_relu(x, filters, f"dec{level}_block1", momentum=batch_norm_momentum)

    logits = keras.layers.Conv2D(num_classes, 1, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def deeplab_v3(
    input_shape: tuple[int | None, int | None, int],
    num_classes: int,
    backbone: str = "resnet18",
    dilation_rates: Sequence[int] = (6, 12, 18),
    name: str = "deeplab_v3",
) -> keras.Model:
    """Build DeepLabV3+ from keras-hub classes (from config: nothing is downloaded).

    `keras_hub.models.DeepLabV3Backbone` in the configuration of keras-hub's
    `deeplab_v3_plus_resnet50_pascalvoc` preset: atrous spatial pyramid pooling (rates
    `dilation_rates`, image pooling, 256 channels) on the ResNet's stride-32 features (`P5`),
    upsampled x8 and joined with the projected stride-4 features (`P2`, 48 channels), a 1x1
    conv-BN-ReLU, then bilinear upsampling x4 to the input size. The ResNet is a randomly
    initialised `keras_hub.models.ResNetBackbone` (v1, see `tfapps.models.backbones`), so the
    caller normalises inputs ImageNet-style. The classifier is a float32 1x1 convolution without
    bias named `segmentation_output`, like `keras_hub.models.DeepLabV3ImageSegmenter`'s, so
    weights saved from a keras-hub segmenter of the same configuration line up by layer name.

    Note: keras-hub upsamples the 256-channel features to the input size before the classifier
    (the same result as upsampling logits, but it needs `256 / num_classes` times the memory at
    full resolution).

    Args:
        input_shape: `(height, width, channels)`; known sizes must be multiples of 32 (the
            decoder joins stride-32 and stride-4 features with fixed upsampling factors).
        num_classes: number of classes `C`.
        backbone: `"resnet18"` or `"resnet50"`.
        dilation_rates: atrous rates of the pyramid's three 3x3 branches.
        name: model name.

    Returns:
        A model mapping `[batch, h, w, channels]` to float32 logits `[batch, h, w, C]`.

    Raises:
        ValueError: unknown backbone, bad `num_classes` or sizes not multiples of 32.
    """
    check_positive_int(num_classes=num_classes)
    if backbone not in DEEPLAB_BACKBONES:
        raise ValueError(
            f"Unknown DeepLabV3 backbone. Expected one of {', '.join(DEEPLAB_BACKBONES)}. "
            f"Received: backbone={backbone!r}"
        )
    input_shape = _check_input_shape(input_shape, 32, "deeplab_v3")
    dilation_rates = [int(rate) for rate in dilation_rates]
    check_positive_int(**{f"dilation_rates[{i}]": rate for i, rate in enumerate(dilation_rates)})

    encoder = KERAS_HUB_BACKBONES[backbone](input_shape)
    deeplab = keras_hub.models.DeepLabV3Backbone(
        image_encoder=encoder,
        spatial_pyramid_pooling_key="P5",
        upsampling_size=8,
        dilation_rates=dilation_rates,
        low_level_feature_key="P2",
        projection_filters=48,
        image_shape=input_shape,
        name=f"{name}_backbone",
    )
    inputs = keras.Input(input_shape, name="image")
    features = deeplab(inputs)
    logits = keras.layers.Conv2D(num_classes, 1, use_bias=False, dtype="float32", name="segmentation_output")(
        features
    )
    return keras.Model(inputs, logits, name=name)


def _labels_and_validity(y_true, num_classes: int, ignore_index: int, logits_rank: int):
    """Integer labels `[B, *spatial]`, a void mask, and labels with void replaced by class 0.

    `logits_rank` is the rank of the `[B, *spatial, C]` predictions: labels of that same rank
    carry a trailing axis of size 1, which is dropped.
    """
    labels = tf.convert_to_tensor(y_true)
    if labels.shape.rank == logits_rank:
        labels = tf.squeeze(labels, axis=-1)
    if labels.dtype.is_floating:
        # Keras' Loss casts y_true to the loss dtype; ids up to 2**24 stay exact in float32.
        labels = tf.round(labels)
    labels = tf.cast(labels, tf.int32)
    valid = (labels >= 0) & (labels < num_classes) & (labels != ignore_index)
    return labels, valid, tf.where(valid, labels, 0)


@keras.saving.register_keras_serializable(package="tfapps")
class SegmentationLoss(keras.losses.Loss):
    """Per-pixel softmax cross-entropy over non-void pixels, plus an optional soft Dice term.

    Works for any spatial rank: images (logits `[batch, h, w, C]`) or volumes (`[batch, d, h, w,
    C]`), where "pixels" are voxels and "image" is one example. Per image, over its non-void
    pixels `P` (`n = |P|`):

    - cross-entropy: `(1/n) * sum_P w[y] * CE(y, logits)`, with `w = class_weights` (ones when
      `None`) and, with label smoothing `s`, the target `(1 - s) * onehot(y) + s / C`. Dividing by
      the pixel count (not by the sum of weights) means scaling all weights scales the loss;
      median-frequency weights are around 1;
    - soft Dice: `1 - mean_c (2 * sum_P p_c * [y = c]) / (sum_P p_c + sum_P [y = c])` over the
      classes `c` present in the image's ground truth, `p = softmax(logits)` (no class weights,
      no smoothing);
    - loss = cross-entropy + `dice_weight` * Dice. An image without non-void pixels scores 0.

    `call` returns one value per image `[batch]`; the default `sum_over_batch_size` reduction then
    averages over the batch, and Keras scales it for `tf.distribute` replicas.

    Args:
        num_classes: number of classes `C`.
        ignore_index: label of void pixels (ids outside `0..C-1` are void too).
        class_weights: `C` non-negative cross-entropy weights, e.g. from `median_frequency_weights`.
        dice_weight: weight of the Dice term; 0 for plain cross-entropy.
        label_smoothing: in `[0, 1)`.
        name, reduction, dtype: as for `keras.losses.Loss`.

    Call arguments:
        y_true: integer class ids `[batch, *spatial]` or `[batch, *spatial, 1]`.
        y_pred: logits `[batch, *spatial, C]` (`spatial` is `h, w` or `d, h, w`).

    Raises:
        ValueError: for bad arguments (wrong number of class weights, negative weights, ...).
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int = 255,
        class_weights: Sequence[float] | None = None,
        dice_weight: float = 0.0,
        label_smoothing: float = 0.0,
        name: str = "segmentation_loss",
        reduction: str | None = "sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        check_positive_int(num_classes=num_classes)
        if class_weights is not None:
            class_weights = [float(w) for w in np.asarray(class_weights, np.float64).reshape(-1)]
            if len(class_weights) != num_classes or any(not w >= 0.0 for w in class_weights):
                raise ValueError(
                    "class_weights must be num_classes non-negative numbers. "
                    f"Received: class_weights={class_weights!r}, num_classes={num_classes}"
                )
        if not dice_weight >= 0.0:
            raise ValueError(f"dice_weight must be >= 0. Received: dice_weight={dice_weight!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(
                f"label_smoothing must be in [0, 1). Received: label_smoothing={label_smoothing!r}"
            )
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.class_weights = class_weights
        self.dice_weight = float(dice_weight)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        c = self.num_classes
        logits = tf.cast(y_pred, tf.float32)
        _, valid, labels = _labels_and_validity(y_true, c, self.ignore_index, logits.shape.rank)
        valid_f = tf.cast(valid, tf.float32)
        spatial = list(range(1, valid.shape.rank))  # every axis but the batch
        pixels = tf.reduce_sum(valid_f, axis=spatial)  # [B]
        denominator = tf.maximum(pixels, 1.0)

        onehot = tf.one_hot(labels, c, dtype=tf.float32)
        target = onehot
        if self.label_smoothing > 0.0:
            target = onehot * (1.0 - self.label_smoothing) + self.label_smoothing / c
        cross_entropy = -tf.reduce_sum(target * tf.nn.log_softmax(logits, axis=-1), axis=-1)
        if self.class_weights is not None:
            cross_entropy *= tf.gather(tf.constant(self.class_weights, tf.float32), labels)
        # Select, not multiply: a non-finite logit at a void pixel must not leak into the loss.
        cross_entropy = tf.where(valid, cross_entropy, 0.0)
        loss = tf.reduce_sum(cross_entropy, axis=spatial) / denominator

        if self.dice_weight > 0.0:
            mask = valid_f[..., None]
            probs = tf.where(valid[..., None], tf.nn.softmax(logits, axis=-1), 0.0)
            onehot *= mask
            intersection = tf.reduce_sum(probs * onehot, axis=spatial)  # [B, C]
            truth = tf.reduce_sum(onehot, axis=spatial)
            cardinality = tf.reduce_sum(probs, axis=spatial) + truth
            present = tf.cast(truth > 0.0, tf.float32)
            dice = 2.0 * intersection / tf.maximum(cardinality, 1e-6)
            num_present = tf.reduce_sum(present, axis=-1)
            mean_dice = tf.reduce_sum(dice * present, axis=-1) / tf.maximum(num_present, 1.0)
            dice_loss = tf.where(num_present > 0.0, 1.0 - mean_dice, 0.0)
            loss += self.dice_weight * dice_loss
        return loss

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "class_weights": self.class_weights,
            "dice_weight": self.dice_weight,
            "label_smoothing": self.label_smoothing,
        }


def median_frequency_weights(class_pixel_counts, image_pixel_counts=None) -> np.ndarray:
    """Median frequency balancing (Eigen & Fergus 2015, used by SegNet): `median(freq) / freq`.

    `freq[c]` is the pixel count of class `c` divided by the total pixel count of the images in
    which `c` occurs (SegNet's definition) when `image_pixel_counts` is given, else by the total
    (non-void) pixel count of all classes. The median runs over the classes that occur.
    Classes with no pixels get weight 1.0 (neutral): they add nothing to the cross-entropy of
    the counted data, and a neutral weight is harmless if the counts came from a sample.

    Args:
        class_pixel_counts: `[C]` non-void pixel counts per class.
        image_pixel_counts: optional `[C]`: for each class, the pixel count of the images that
            contain it.

    Returns:
        float64 array `[C]` of weights.

    Raises:
        ValueError: counts not one-dimensional, negative, mismatched, or all zero.

    Example:
        >>> median_frequency_weights([900, 90, 10])   # array([0.1, 1. , 9. ])
    """
    counts = np.asarray(class_pixel_counts, np.float64)
    if counts.ndim != 1 or counts.size == 0 or (counts < 0).any() or not (counts > 0).any():
        raise ValueError(
            "class_pixel_counts must be a non-empty 1-D array of non-negative counts, not all zero. "
            f"Received: class_pixel_counts={class_pixel_counts!r}"
        )
    present = counts > 0
    if image_pixel_counts is None:
        totals = np.full_like(counts, counts.sum())
    else:
        totals = np.asarray(image_pixel_counts, np.float64)
        if totals.shape != counts.shape or (totals[present] < counts[present]).any():
            raise ValueError(
                "image_pixel_counts must have one count per class, each at least the class's pixel count. "
                f"Received: image_pixel_counts={image_pixel_counts!r}, class_pixel_counts={class_pixel_counts!r}"
            )
    frequency = np.divide(counts, totals, out=np.zeros_like(counts), where=present)
    median = np.median(frequency[present])
    return np.divide(median, frequency, out=np.ones_like(counts), where=present)


def confusion_matrix(y_true, y_pred_ids, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """Pixel confusion matrix `[true, predicted]` (int64), void pixels left out.

    Args:
        y_true: integer label ids, any shape; `ignore_index` and ids outside `0..C-1` are void.
        y_pred_ids: predicted class ids, the same shape (e.g. `argmax` of the logits).
        num_classes: number of classes `C`.
        ignore_index: label of void pixels.

    Returns:
        int64 array `[C, C]`.

    Raises:
        ValueError: mismatched shapes, or a predicted id outside `0..C-1` at a non-void pixel.
    """
    check_positive_int(num_classes=num_classes)
    y_true = np.asarray(y_true).astype(np.int64, copy=False)
    y_pred = np.asarray(y_pred_ids).astype(np.int64, copy=False)
    if y_true.shape != y_pred.shape:
        if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"y_true and y_pred_ids must have the same shape. Received: y_true.shape={y_true.shape}, "
                f"y_pred_ids.shape={y_pred.shape}"
            )
    valid = (y_true >= 0) & (y_true < num_classes) & (y_true != ignore_index)
    y_true = y_true[valid]
    y_pred = y_pred[valid]
    if y_pred.size and (y_pred.min() < 0 or y_pred.max() >= num_classes):
        raise ValueError(
            f"y_pred_ids must be in 0..{num_classes - 1}. "
            f"Received: y_pred_ids in {y_pred.min()}..{y_pred.max()}"
        )
    counts = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64, copy=False)


def segmentation_metrics(confusion, class_names: Sequence[str]) -> dict[str, float]:
    """Mean IoU, pixel accuracy and per-class IoU from a `[true, predicted]` confusion matrix.

    Args:
        confusion: `[C, C]` counts (void already left out), e.g. from `confusion_matrix`.
        class_names: `C` names for the per-class keys.

    Returns:
        flat dict: `mean_iou` (mean over classes with a non-zero union, see the module docstring),
        `pixel_accuracy` (correct / non-void pixels), and `iou/<name>` for each class with a
        non-zero union (classes absent from both ground truth and predictions have no IoU and no
        key). Both means are 0.0 for an empty matrix.

    Raises:
        ValueError: when the matrix is not `[C, C]` with `C = len(class_names)`.
    """
    confusion = np.asarray(confusion, np.float64)
    num_classes = len(class_names)
    if confusion.shape != (num_classes, num_classes):
        raise ValueError(
            "confusion must be [C, C] with C = len(class_names). "
            f"Received: confusion.shape={confusion.shape}, len(class_names)={num_classes}"
        )
    true_positive = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - true_positive
    seen = union > 0
    iou = np.divide(true_positive, union, out=np.zeros(num_classes), where=seen)
    total = confusion.sum()
    metrics = {
        "mean_iou": float(iou[seen].mean()) if seen.any() else 0.0,
        "pixel_accuracy": float(true_positive.sum() / total) if total > 0 else 0.0,
    }
    for i, name in enumerate(class_names):
        if seen[i]:
            metrics[f"iou/{name}"] = float(iou[i])
    return metrics


@keras.saving.register_keras_serializable(package="tfapps")
class MeanIoUIgnoringVoid(keras.metrics.Metric):
    """Mean IoU from logits, void pixels ignored; logs as `mean_iou` / `val_mean_iou`.

    The state is one `[C, C]` float32 confusion matrix variable (summed across replicas, so the
    metric is exact under `tf.distribute`); `result` follows `segmentation_metrics`' `mean_iou`
    (mean over classes with a non-zero union). float32 counts stay exact up to 2**24 pixels per
    cell, and beyond that are off by about 1e-7 relative per update: negligible for an IoU.
    Compatible with XLA (no data-dependent shapes).

    Args:
        num_classes: number of classes `C`.
        ignore_index: label of void pixels (ids outside `0..C-1` are void too).
        name, dtype: as for `keras.metrics.Metric`.

    Call arguments (`update_state`):
        y_true: integer class ids `[batch, *spatial]` or `[batch, *spatial, 1]` (`spatial` is
            `h, w` for images, `d, h, w` for volumes).
        y_pred: logits (or probabilities) `[batch, *spatial, C]`; the class is their argmax.
        sample_weight: optional per-image or per-pixel weights, broadcast to `[batch, *spatial]`.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, name: str = "mean_iou", dtype=None):
        super().__init__(name=name, dtype=dtype)
        check_positive_int(num_classes=num_classes)
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.confusion = self.add_variable(
            shape=(self.num_classes, self.num_classes),
            initializer="zeros",
            dtype="float32",
            aggregation="sum",
            name="confusion",
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        c = self.num_classes
        y_pred = tf.convert_to_tensor(y_pred)
        _, valid, labels = _labels_and_validity(y_true, c, self.ignore_index, y_pred.shape.rank)
        predicted = tf.argmax(y_pred, axis=-1, output_type=tf.int32)
        weights = tf.cast(valid, tf.float32)
        if sample_weight is not None:
            sample_weight = tf.cast(sample_weight, tf.float32)
            if sample_weight.shape.rank == y_pred.shape.rank:
                sample_weight = tf.squeeze(sample_weight, axis=-1)
            while sample_weight.shape.rank is not None and sample_weight.shape.rank < weights.shape.rank:
                sample_weight = sample_weight[..., None]
            weights *= tf.broadcast_to(sample_weight, tf.shape(weights))
        index = tf.reshape(labels * c + tf.where(valid, predicted, 0), [-1])
        counts = tf.math.unsorted_segment_sum(tf.reshape(weights, [-1]), index, c * c)
        self.confusion.assign_add(tf.reshape(counts, [c, c]))

    def result(self):
        true_positive = tf.linalg.diag_part(self.confusion)
        union = tf.reduce_sum(self.confusion, axis=0) + tf.reduce_sum(self.confusion, axis=1) - true_positive
        seen = union > 0.0
        iou = tf.where(seen, true_positive / tf.where(seen, union, 1.0), 0.0)
        num_seen = tf.reduce_sum(tf.cast(seen, tf.float32))
        return tf.reduce_sum(iou) / tf.maximum(num_seen, 1.0)

    def reset_state(self):
        self.confusion.assign(tf.zeros_like(self.confusion))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "ignore_index": self.ignore_index}
