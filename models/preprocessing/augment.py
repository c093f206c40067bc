"""Image augmentation of training batches in the tf.data pipeline (never at serving time).

Every random draw is stateless (`tf.random.stateless_*`) and keyed by a seed the pipeline derives
from `(data.seed, batch index)`: the same seed gives the same batches, and the batch-level map can
still run in parallel, which stateful generators (and Keras' random layers) cannot do without
making the draws depend on thread timing. Plain TensorFlow ops also cost a fraction of the Keras
layers' CPU time, which matters on small CPU machines where the pipeline shares cores with training.
"""

from __future__ import annotations

import math

import tensorflow as tf

__all__ = ["ImageAugmenter", "image_augmenter", "jitter_colour", "mix_batch"]


def _seed_tensor(seed) -> tf.Tensor:
    """A shape-[2] int64 seed from an int or a tensor."""
    if isinstance(seed, int):
        return tf.constant([seed, 0], tf.int64)
    return tf.cast(seed, tf.int64)


class ImageAugmenter:
    """Per-image flips, shifts (pad-and-crop), rotations and contrast on batches of 0..255 floats.

    Args:
        image_size: `(height, width)`; shifted images keep this size.
        flip: random horizontal flips.
        crop_padding: shift by up to this many pixels with zero fill (as zero-padding then a random
            crop back to size).
        rotation: maximum rotation as a fraction of a full turn (0.03 ≈ ±11°), reflect fill.
        contrast: maximum relative contrast change (0.2 → factor in [0.8, 1.2]).
        seed: default seed when a call passes none.

    Call arguments:
        images: `[batch, height, width, channels]` floats.
        training: False returns `images` unchanged.
        seed: shape-[2] integer seed for this batch (the pipeline passes `[data.seed, index]`).
    """

    def __init__(
        self, image_size, *, flip: bool, crop_padding: int, rotation: float, contrast: float, seed: int
    ):
        self.image_size = tuple(int(s) for s in image_size)
        self.flip = flip
        self.crop_padding = int(crop_padding)
        self.rotation = float(rotation)
        self.contrast = float(contrast)
        self.seed = int(seed)

    def __call__(self, images, training: bool = True, seed=None):
        if not training:
            return images
        images = tf.convert_to_tensor(images, tf.float32)
        seeds = tf.random.experimental.stateless_split(_seed_tensor(self.seed if seed is None else seed), 4)
        if self.flip:
            # A 4-D input flips each image independently.
            images = tf.image.stateless_random_flip_left_right(images, seed=seeds[0])
        if self.rotation > 0:
            images = self._rotate(images, seeds[1])
        if self.crop_padding > 0:
            images = self._shift(images, seeds[2])
        if self.contrast > 0:
            images = self._adjust_contrast(images, seeds[3])
        return images

    def _transform(self, images, transforms, interpolation: str, fill_mode: str):
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=transforms,
            output_shape=tf.shape(images)[1:3],
            fill_value=0.0,
            interpolation=interpolation,
            fill_mode=fill_mode,
        )

    def _rotate(self, images, seed):
        batch = tf.shape(images)[0]
        height, width = (float(s) for s in self.image_size)
        limit = self.rotation * 2.0 * math.pi
        angles = tf.random.stateless_uniform([batch], seed, -limit, limit)
        cos, sin = tf.cos(angles), tf.sin(angles)
        # Rotation about the image centre, as an output → input pixel mapping.
        x_offset = ((width - 1) - (cos * (width - 1) - sin * (height - 1))) / 2.0
        y_offset = ((height - 1) - (sin * (width - 1) + cos * (height - 1))) / 2.0
        zeros = tf.zeros_like(cos)
        transforms = tf.stack([cos, -sin, x_offset, sin, cos, y_offset, zeros, zeros], axis=1)
        return self._transform(images, transforms, "BILINEAR", "REFLECT")

    def _shift(self, images, seed):
        batch = tf.shape(images)[0]
        pad = self.crop_padding
        offsets = tf.random.stateless_uniform([batch, 2], seed, -pad, pad + 1, dtype=tf.int32)
        dx, dy = (tf.cast(offsets[:, i], tf.float32) for i in range(2))
        ones, zeros = tf.ones_like(dx), tf.zeros_like(dx)
        # Integer shifts with nearest sampling copy pixels exactly; uncovered pixels become 0.
        transforms = tf.stack([ones, zeros, -dx, zeros, ones, -dy, zeros, zeros], axis=1)
        return self._transform(images, transforms, "NEAREST", "CONSTANT")

    def _adjust_contrast(self, images, seed):
        batch = tf.shape(images)[0]
        factors = tf.random.stateless_uniform(
            [batch, 1, 1, 1], seed, 1.0 - self.contrast, 1.0 + self.contrast
        )
        mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
        return tf.clip_by_value((images - mean) * factors + mean, 0.0, 255.0)


def image_augmenter(
    image_size: tuple[int, int],
    *,
    flip: bool,
    crop_padding: int,
    rotation: float,
    contrast: float,
    seed: int,
) -> ImageAugmenter | None:
    """An `ImageAugmenter`, or None when every augmentation is off."""
    if not (flip or crop_padding > 0 or rotation > 0 or contrast > 0):
        return None
    return ImageAugmenter(
        image_size, flip=flip, crop_padding=crop_padding, rotation=rotation, contrast=contrast, seed=seed
    )


def mix_batch(images, labels, *, mode: str, alpha: float, seed) -> tuple[tf.Tensor, tf.Tensor]:
    """MixUp or CutMix on a batch with one-hot `labels`; pairs each example with a shuffled partner.

    Args:
        images: `[batch, height, width, channels]` floats.
        labels: `[batch, classes]` one-hot (or soft) labels.
        mode: `mixup` or `cutmix`.
        alpha: Beta(alpha, alpha) parameter of the mixing weight.
        seed: an int or a shape-[2] integer seed for this batch.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    labels = tf.convert_to_tensor(labels, tf.float32)
    seeds = tf.random.experimental.stateless_split(_seed_tensor(seed), 5)
    batch = tf.shape(images)[0]
    perm = tf.argsort(tf.random.stateless_uniform([batch], seeds[0]))
    gamma1 = tf.random.stateless_gamma([], seeds[1], alpha)
    gamma2 = tf.random.stateless_gamma([], seeds[2], alpha)
    lam = gamma1 / (gamma1 + gamma2)
    partner_images = tf.gather(images, perm)
    partner_labels = tf.gather(labels, perm)
    if mode == "mixup":
        mixed = lam * images + (1.0 - lam) * partner_images
        return mixed, lam * labels + (1.0 - lam) * partner_labels
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    cut_h = tf.cast(tf.cast(height, tf.float32) * tf.sqrt(1.0 - lam), tf.int32)
    cut_w = tf.cast(tf.cast(width, tf.float32) * tf.sqrt(1.0 - lam), tf.int32)
    cy = tf.random.stateless_uniform([], seeds[3], 0, height, dtype=tf.int32)
    cx = tf.random.stateless_uniform([], seeds[4], 0, width, dtype=tf.int32)
    y0, y1 = tf.clip_by_value(cy - cut_h // 2, 0, height), tf.clip_by_value(cy + cut_h // 2, 0, height)
    x0, x1 = tf.clip_by_value(cx - cut_w // 2, 0, width), tf.clip_by_value(cx + cut_w // 2, 0, width)
    rows = tf.logical_and(tf.range(height) >= y0, tf.range(height) < y1)
    cols = tf.logical_and(tf.range(width) >= x0, tf.range(width) < x1)
    box = tf.cast(tf.logical_and(rows[:, None], cols[None, :]), images.dtype)[None, :, :, None]
    mixed = images * (1.0 - box) + partner_images * box
    area = tf.cast((y1 - y0) * (x1 - x0), tf.float32) / tf.cast(height * width, tf.float32)
    return mixed, (1.0 - area) * labels + area * partner_labels


def jitter_colour(image: tf.Tensor, brightness: float, contrast: float, seed) -> tf.Tensor:
    """Random contrast (about the image mean) then brightness change of one 0..255 float image.

    Args:
        image: `[h, w, c]` float32 in 0..255.
        brightness: maximum added or subtracted value, in 0..255 units; 0 disables.
        contrast: maximum relative contrast change; 0 disables.
        seed: stateless seed `[2]` (the draws use `seed` and `seed + 1`).
    """
    if contrast > 0:
        factor = tf.random.stateless_uniform([], seed, 1.0 - contrast, 1.0 + contrast)
        mean = tf.reduce_mean(image, axis=[0, 1], keepdims=True)
        image = (image - mean) * factor + mean
    if brightness > 0:
        image = image + tf.random.stateless_uniform([], seed + 1, -brightness, brightness)
    return tf.clip_by_value(image, 0.0, 255.0)
