"""Image decoding (shared by training and serving) and training-time augmentation."""

from __future__ import annotations

import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfapps.models.preprocessing.augment import image_augmenter, jitter_colour, mix_batch
from tfapps.models.preprocessing.image import DecodeImage, resize_image

LOSSLESS = ("PNG", "BMP", "GIF")


def encode(pixels: np.ndarray, fmt: str, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode=mode).save(buffer, format=fmt)
    return buffer.getvalue()


def random_pixels(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def no_augment(**kwargs):
    return {"flip": False, "crop_padding": 0, "rotation": 0.0, "contrast": 0.0, "seed": 1, **kwargs}


# --- DecodeImage ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [*LOSSLESS, "JPEG"])
def test_constant_colour_survives_decoding_and_resizing(fmt):
    colour = np.array([200, 40, 90], np.uint8)
    data = encode(np.broadcast_to(colour, (13, 29, 3)).copy(), fmt)
    images = DecodeImage((16, 8))(tf.constant([data])).numpy()
    assert images.shape == (1, 16, 8, 3)
    assert images.dtype == np.float32
    tolerance = 3.0 if fmt == "JPEG" else 1e-3  # JPEG's colour subsampling shifts a solid colour slightly
    np.testing.assert_allclose(images[0], np.broadcast_to(colour, (16, 8, 3)), atol=tolerance)


@pytest.mark.parametrize("fmt", ["PNG", "BMP"])
def test_same_size_lossless_decoding_returns_the_pixels(fmt):
    pixels = random_pixels((12, 20, 3))
    images = DecodeImage((12, 20))(tf.constant([encode(pixels, fmt)])).numpy()
    np.testing.assert_allclose(images[0], pixels, atol=1e-3)


def test_grayscale_output_uses_luma_weights():
    pixels = random_pixels((8, 8, 3), seed=1)
    images = DecodeImage((8, 8), channels=1)(tf.constant([encode(pixels, "PNG")])).numpy()
    # ITU-R BT.601 luma: 0.299 R + 0.587 G + 0.114 B
    luma = pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert images.shape == (1, 8, 8, 1)
    np.testing.assert_allclose(images[0, ..., 0], luma, atol=0.05)


def test_grayscale_file_keeps_its_levels_with_one_channel():
    gray = random_pixels((9, 7), seed=8)
    images = DecodeImage((9, 7), channels=1)(tf.constant([encode(gray, "PNG", "L")])).numpy()
    np.testing.assert_allclose(images[0, ..., 0], gray, atol=0.05)


def test_grayscale_and_rgba_inputs_decode_as_rgb():
    gray = random_pixels((6, 6), seed=2)
    rgba = random_pixels((6, 6, 4), seed=3)
    decode = DecodeImage((6, 6), channels=3)
    images = decode(tf.constant([encode(gray, "PNG", "L"), encode(rgba, "PNG", "RGBA")])).numpy()
    np.testing.assert_allclose(images[0], np.repeat(gray[..., None], 3, axis=-1), atol=1e-3)
    np.testing.assert_allclose(images[1], rgba[..., :3], atol=1e-3)  # alpha dropped, colour kept


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (10, 10), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    images = DecodeImage((10, 10))(tf.constant([buffer.getvalue()])).numpy()
    np.testing.assert_allclose(images[0], np.broadcast_to([255, 0, 0], (10, 10, 3)), atol=1e-3)


def test_a_batch_of_mixed_formats_and_sizes():
    payload = [
        encode(random_pixels((40, 10, 3)), "PNG"),
        encode(random_pixels((9, 9, 3)), "JPEG"),
        encode(random_pixels((100, 64, 3)), "BMP"),
        encode(random_pixels((5, 70, 3)), "GIF"),
    ]
    decode = DecodeImage((24, 24))
    images = decode(tf.constant(payload)).numpy()
    assert images.shape == (4, 24, 24, 3)
    assert images.min() >= 0.0 and images.max() <= 255.0
    for i, data in enumerate(payload):  # the per-file function the tf.data pipeline maps
        np.testing.assert_array_equal(decode.decode_one(tf.constant(data)).numpy(), images[i])


def test_decode_one_inside_tf_data_matches_the_layer():
    payload = [encode(random_pixels((30, 20, 3), seed=s), "JPEG") for s in range(3)]
    decode = DecodeImage((16, 16))
    mapped = np.stack(
        list(tf.data.Dataset.from_tensor_slices(payload).map(decode.decode_one).as_numpy_iterator())
    )
    np.testing.assert_array_equal(mapped, decode(tf.constant(payload)).numpy())


@pytest.mark.parametrize("shape", [(1, 1, 3), (7, 5, 1), (28, 28, 1), (64, 48, 3)])
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_resizing_to_the_same_size_matches_the_resize_bit_for_bit(shape, dtype):
    rng = np.random.default_rng(3)
    if dtype == "uint8":
        image = rng.integers(0, 256, shape, dtype=np.uint8)
    else:  # e.g. a grayscale conversion's output
        image = rng.uniform(0.0, 255.0, shape).astype(np.float32)
    size = shape[:2]
    expected = tf.clip_by_value(
        tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear", antialias=True), 0.0, 255.0
    ).numpy()
    unknown_shape = tf.TensorSpec([None, None, shape[2]], tf.as_dtype(dtype))
    traced = tf.function(lambda im: resize_image(im, size), input_signature=[unknown_shape])
    np.testing.assert_array_equal(resize_image(image, size).numpy(), expected)
    np.testing.assert_array_equal(traced(image).numpy(), expected)


def test_an_image_of_the_target_size_skips_the_resize_op():
    def op_types(spec):
        graph = tf.function(lambda im: resize_image(im, (28, 28))).get_concrete_function(spec).graph
        return {op.type for op in graph.get_operations()}

    assert "ScaleAndTranslate" not in op_types(tf.TensorSpec([28, 28, 1], tf.uint8))
    assert "ScaleAndTranslate" in op_types(tf.TensorSpec([32, 28, 1], tf.uint8))
    # Unknown sizes keep the resize behind a run-time check.
    assert {"If", "StatelessIf"} & op_types(tf.TensorSpec([None, None, 1], tf.uint8))


def test_undecodable_bytes_raise():
    with pytest.raises(tf.errors.InvalidArgumentError):
        DecodeImage((8, 8))(tf.constant([b"definitely not an image"]))


def test_channels_must_be_one_or_three():
    with pytest.raises(ValueError, match="channels=4"):
        DecodeImage((8, 8), channels=4)


def test_decode_image_config_round_trip():
    layer = DecodeImage([20, 30], channels=1, name="decoder")
    assert layer.compute_output_shape((None,)) == (None, 20, 30, 1)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(clone, DecodeImage)
    assert (clone.image_size, clone.channels, clone.name) == ((20, 30), 1, "decoder")
    assert not clone.trainable


# --- image_augmenter --------------------------------------------------------------------------


def test_augmenter_is_none_when_everything_is_off():
    assert image_augmenter((8, 8), **no_augment()) is None


def test_flip_mirrors_some_images_horizontally_and_keeps_others():
    images = random_pixels((16, 6, 7, 3), seed=4).astype("float32")
    out = keras.ops.convert_to_numpy(image_augmenter((6, 7), **no_augment(flip=True))(images, training=True))
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images, strict=True)]
    kept = [np.array_equal(o, i) for o, i in zip(out, images, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert any(flipped) and any(kept)


def test_crop_padding_takes_a_window_of_the_zero_padded_image():
    pad = 2
    images = (random_pixels((6, 8, 9, 3), seed=5) + 1).astype("float32")  # no zeros inside the image
    out = keras.ops.convert_to_numpy(
        image_augmenter((8, 9), **no_augment(crop_padding=pad))(images, training=True)
    )
    assert out.shape == images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    for o, p in zip(out, padded, strict=True):
        windows = [(dy, dx) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)]
        assert any(np.array_equal(o, p[dy : dy + 8, dx : dx + 9]) for dy, dx in windows)


def test_contrast_scales_deviations_from_the_mean_within_the_factor():
    rng = np.random.default_rng(6)
    images = rng.uniform(100, 156, (8, 10, 10, 3)).astype("float32")  # mid-range: no clipping at 0 or 255
    out = keras.ops.convert_to_numpy(
        image_augmenter((10, 10), **no_augment(contrast=0.2))(images, training=True)
    )
    mean = images.mean(axis=(1, 2), keepdims=True)
    factors = []
    for before, after in zip(images - mean, out - mean, strict=True):
        factor = float((before * after).sum() / (before * before).sum())  # least squares
        np.testing.assert_allclose(after, factor * before, atol=1e-3)  # one factor for the whole image
        factors.append(factor)
    assert all(0.8 - 1e-4 <= f <= 1.2 + 1e-4 for f in factors)
    assert len(set(np.round(factors, 4))) > 1
    np.testing.assert_allclose(out.mean(axis=(1, 2)), images.mean(axis=(1, 2)), rtol=1e-4)


def test_rotation_keeps_shape_and_a_constant_image():
    images = np.full((2, 12, 12, 3), 77.0, "float32")
    out = image_augmenter((12, 12), **no_augment(rotation=0.1))(images, training=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), images, atol=1e-3)


def test_augmenter_is_identity_outside_training():
    # crop_padding is left out: its ZeroPadding2D also pads at inference (make_dataset only augments in training).
    augment = image_augmenter((10, 10), **no_augment(flip=True, rotation=0.05, contrast=0.2))
    images = random_pixels((4, 10, 10, 3), seed=7).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(augment(images, training=False)), images)


def test_augmenter_is_seeded():
    settings = no_augment(flip=True, crop_padding=2, rotation=0.05, contrast=0.2, seed=9)
    images = random_pixels((4, 10, 10, 3), seed=7).astype("float32")
    first = keras.ops.convert_to_numpy(image_augmenter((10, 10), **settings)(images, training=True))
    again = keras.ops.convert_to_numpy(image_augmenter((10, 10), **settings)(images, training=True))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, images)


# --- mix_batch --------------------------------------------------------------------------------


def constant_batch(n=6, size=(8, 10)):
    """Image i is filled with the value 10·(i+1) and is the only member of class i."""
    values = 10.0 * np.arange(1, n + 1)
    images = np.broadcast_to(values[:, None, None, None], (n, *size, 3)).astype("float32")
    return values, tf.constant(images), tf.constant(np.eye(n, dtype="float32"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixup_mixes_images_and_labels_with_the_same_weight(seed):
    values, images, labels = constant_batch()
    mixed, soft = (t.numpy() for t in mix_batch(images, labels, mode="mixup", alpha=1.0, seed=seed))
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-6)
    assert soft.min() >= 0.0
    # Every pixel of mixed image i is the label-weighted mean of the source values.
    np.testing.assert_allclose(mixed[..., 0].mean(axis=(1, 2)), soft @ values, rtol=1e-5)
    np.testing.assert_allclose(
        mixed, np.broadcast_to((soft @ values)[:, None, None, None], mixed.shape), rtol=1e-5
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cutmix_label_weights_equal_pasted_areas(seed):
    values, images, labels = constant_batch()
    mixed, soft = (t.numpy() for t in mix_batch(images, labels, mode="cutmix", alpha=1.0, seed=seed))
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-6)
    for i in range(len(values)):
        # The share of pixels coming from each source image is that class's label weight.
        shares = [(mixed[i, ..., 0] == v).mean() for v in values]
        np.testing.assert_allclose(shares, soft[i], atol=1e-6)
        assert np.isin(mixed[i], values).all()  # pasted, never blended


def test_jitter_colour_is_bounded_and_seeded() -> None:
    image = tf.fill([4, 4, 3], 100.0)
    seed = tf.constant([1, 2], tf.int64)
    a, b = jitter_colour(image, 20.0, 0.2, seed), jitter_colour(image, 20.0, 0.2, seed)
    np.testing.assert_array_equal(a.numpy(), b.numpy())  # same seed, same draw
    assert 80.0 <= float(a[0, 0, 0]) <= 120.0  # a flat image only moves by the brightness shift
    assert float(tf.reduce_max(jitter_colour(tf.fill([2, 2, 3], 250.0), 20.0, 0.0, seed + 5))) <= 255.0
    np.testing.assert_array_equal(jitter_colour(image, 0.0, 0.0, seed).numpy(), image.numpy())
