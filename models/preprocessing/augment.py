"""Image augmentation applied to training batches in the tf.data pipeline (never at serving time)."""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["image_augmenter", "mix_batch"]


def image_augmenter(
    image_size: tuple[int, int],
    *,
    flip: bool,
    crop_padding: int,
    rotation: float,
    contrast: float,
    seed: int,
) -> keras.Sequential | None:
    """Build a seeded augmentation stack for batches of 0..255 float images; None when all are off.

    Args:
        image_size: `(height, width)`; random crops keep this size.
        flip: random horizontal flips.
        crop_padding: shift each image by up to this many pixels (zero fill), like pad-and-crop.
        rotation: maximum rotation as a fraction of a full turn (0.03 ≈ ±11°).
        contrast: maximum relative contrast change (0.2 → factor in [0.8, 1.2]).
        seed: base seed; each layer gets its own derived seed.
    """
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if crop_padding > 0:
        height, width = image_size
        # Equivalent to zero-padding then a random crop, but with a shift drawn per image:
        # Keras' RandomCrop uses one offset for the whole batch.
        layers.append(
            keras.layers.RandomTranslation(
                crop_padding / height,
                crop_padding / width,
                fill_mode="constant",
                fill_value=0.0,
                interpolation="nearest",
                seed=seed + 1,
            )
        )
    if rotation > 0:
        layers.append(keras.layers.RandomRotation(rotation, fill_mode="reflect", seed=seed + 2))
    if contrast > 0:
        layers.append(keras.layers.RandomContrast(contrast, value_range=(0, 255), seed=seed + 3))
    return keras.Sequential(layers, name="augment") if layers else None


def mix_batch(
    images: tf.Tensor, labels: tf.Tensor, *, mode: str, alpha: float, seed: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """MixUp or CutMix on a batch with one-hot `labels`; pairs each example with a shuffled partner.

    Args:
        images: `[batch, height, width, channels]` floats.
        labels: `[batch, classes]` one-hot (or soft) labels.
        mode: `mixup` or `cutmix`.
        alpha: Beta(alpha, alpha) parameter of the mixing weight.
        seed: seed for the partner permutation and the mixing weight.
    """
    batch = tf.shape(images)[0]
    perm = tf.random.shuffle(tf.range(batch), seed=seed)
    gamma1 = tf.random.gamma([], alpha, seed=seed)
    gamma2 = tf.random.gamma([], alpha, seed=seed + 1)
    lam = gamma1 / (gamma1 + gamma2)
    partner_images = tf.gather(images, perm)
    partner_labels = tf.gather(labels, perm)
    if mode == "mixup":
        mixed = lam * images + (1.0 - lam) * partner_images
        return mixed, lam * labels + (1.0 - lam) * partner_labels
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    cut_h = tf.cast(tf.cast(height, tf.float32) * tf.sqrt(1.0 - lam), tf.int32)
    cut_w = tf.cast(tf.cast(width, tf.float32) * tf.sqrt(1.0 - lam), tf.int32)
    cy = tf.random.uniform([], 0, height, dtype=tf.int32, seed=seed + 2)
    cx = tf.random.uniform([], 0, width, dtype=tf.int32, seed=seed + 3)
    y0, y1 = tf.clip_by_value(cy - cut_h // 2, 0, height), tf.clip_by_value(cy + cut_h // 2, 0, height)
    x0, x1 = tf.clip_by_value(cx - cut_w // 2, 0, width), tf.clip_by_value(cx + cut_w // 2, 0, width)
    rows = tf.logical_and(tf.range(height) >= y0, tf.range(height) < y1)
    cols = tf.logical_and(tf.range(width) >= x0, tf.range(width) < x1)
    box = tf.cast(tf.logical_and(rows[:, None], cols[None, :]), images.dtype)[None, :, :, None]
    mixed = images * (1.0 - box) + partner_images * box
    area = tf.cast((y1 - y0) * (x1 - x0), tf.float32) / tf.cast(height * width, tf.float32)
    return mixed, (1.0 - area) * labels + area * partner_labels
