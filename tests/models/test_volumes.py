"""3D models and volume ops: resnet3d, unet3d, sliding-window inference (against a NumPy
reference), intensity normalisation, resizing, augmentation, Dice and HD95."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfapps.models.backbones.cnn3d import resnet3d
from tfapps.models.segmentation import SegmentationLoss
from tfapps.models.volumes import (
    dice_per_class,
    hd95,
    normalise_intensity,
    random_flip_3d,
    random_intensity,
    resize_volume,
    sliding_window_inference,
    unet3d,
)

K = 3
DYNAMIC_VOLUMES = tf.TensorSpec([None, None, None, None, 2], tf.float32)


def volumes_of(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# --- resnet3d ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "input_shape", "expected"),
    [
        ({}, (28, 28, 28, 1), (None, 4, 4, 4, 128)),  # 28 → 14 → 7 → 4 (stride 2 rounds up)
        ({}, (64, 64, 64, 1), (None, 8, 8, 8, 128)),
        ({"widths": (4, 8), "blocks_per_stage": 2}, (8, 6, 10, 2), (None, 4, 3, 5, 8)),
        ({"widths": (4,)}, (None, None, None, 1), (None, None, None, None, 4)),
    ],
)
def test_resnet3d_feature_map_shape(kwargs, input_shape, expected):
    assert resnet3d(input_shape, **kwargs).output_shape == expected


def test_resnet3d_features_and_training_step():
    keras.utils.set_random_seed(0)
    backbone = resnet3d((8, 8, 8, 1), widths=(4, 8), dropout=0.1)
    volumes = volumes_of((4, 8, 8, 8, 1))
    features = backbone(volumes, training=False)
    assert tuple(features.shape) == (4, 4, 4, 4, 8)
    assert float(tf.reduce_min(features)) >= 0.0  # blocks end in ReLU

    inputs = keras.Input((8, 8, 8, 1))
    logits = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling3D()(backbone(inputs)))
    model = keras.Model(inputs, logits)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.SparseCategoricalCrossentropy(True)
    )
    labels = np.array([0, 1, 0, 1])
    volumes[labels == 1] += 1.0  # a learnable difference
    before = [w.numpy().copy() for w in backbone.trainable_weights]
    losses = [float(model.train_on_batch(volumes, labels)) for _ in range(5)]
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0]
    assert all(
        not np.array_equal(b, w.numpy()) for b, w in zip(before, backbone.trainable_weights, strict=True)
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_shape": (8, 8, 1)},
        {"input_shape": (8, 8, 8, None)},
        {"widths": ()},
        {"widths": (4, 0)},
        {"blocks_per_stage": 0},
        {"dropout": 1.0},
        {"batch_norm_momentum": 1.5},
    ],
)
def test_resnet3d_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        resnet3d(**{"input_shape": (8, 8, 8, 1), "widths": (4, 8), **kwargs})


# --- unet3d ------------------------------------------------------------------------------------


def test_unet3d_outputs_float32_logits_at_input_resolution():
    model = unet3d((8, 16, 8, 2), num_classes=K, base_filters=2, depth=2, dropout=0.1)
    out = model(volumes_of((2, 8, 16, 8, 2)))
    assert tuple(out.shape) == (2, 8, 16, 8, K)
    assert out.dtype == tf.float32
    assert model.get_layer("dec0_upconv").__class__.__name__ == "Conv3DTranspose"


def build_under_policy(policy, build):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        return build()
    finally:
        keras.config.set_dtype_policy(previous)


def test_unet3d_accepts_unknown_sizes_and_keeps_float32_logits_under_mixed_precision():
    # mixed_float16 is the GPU policy (TensorFlow has no float16 MaxPool3D kernel on CPU, so it
    # is only built here); the trainer uses mixed_bfloat16 on CPUs, which runs.
    gpu_model = build_under_policy("mixed_float16", lambda: unet3d((None, None, None, 1), 2, 2, depth=1))
    assert gpu_model.get_layer("enc0_block0_conv").compute_dtype == "float16"
    assert gpu_model.output.dtype == "float32"
    model = build_under_policy("mixed_bfloat16", lambda: unet3d((None, None, None, 1), 2, 2, depth=1))
    assert model.get_layer("dec0_upconv").compute_dtype == "bfloat16"
    out = model(np.zeros((1, 4, 6, 2, 1), np.float32))
    assert tuple(out.shape) == (1, 4, 6, 2, 2)
    assert out.dtype == tf.float32


def test_unet3d_trains_with_the_segmentation_loss():
    keras.utils.set_random_seed(0)
    model = unet3d((8, 8, 8, 1), num_classes=2, base_filters=2, depth=1)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=SegmentationLoss(2, dice_weight=1.0))
    volumes = volumes_of((2, 8, 8, 8, 1))
    labels = (volumes[..., 0] > 0).astype(np.int32)  # a voxel-wise rule the model can learn
    losses = [float(model.train_on_batch(volumes, labels)) for _ in range(5)]
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_shape": (8, 12, 8, 1)},  # 12 is not a multiple of 2**depth = 8
        {"input_shape": (8, 8, 1)},
        {"input_shape": (8, 8, 8, None)},
        {"num_classes": 0},
        {"depth": 0},
        {"dropout": 1.0},
    ],
)
def test_unet3d_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        unet3d(**{"input_shape": (8, 8, 8, 1), "num_classes": 2, "depth": 3, **kwargs})


# --- sliding-window inference ------------------------------------------------------------------


def reference_starts(size: int, window: int, stride: int) -> list[int]:
    """Window starts along one axis: every `stride`, until a window reaches the end, the last one
    moved back to end at the edge."""
    starts, start = [], 0
    while True:
        starts.append(min(start, size - window))
        if start + window >= size:
            return starts
        start += stride


def reference_weights(window, blend):
    if blend == "constant":
        return np.ones(window)
    grid = np.stack(np.meshgrid(*(np.arange(s) for s in window), indexing="ij"), axis=-1)
    centre = (np.array(window) - 1) / 2
    sigma = np.array(window) / 8
    return np.maximum(np.exp(-0.5 * (((grid - centre) / sigma) ** 2).sum(-1)), 1e-3)


def reference_sliding_window(predict, volumes, window, overlap, blend):
    """One window at a time, in plain NumPy loops."""
    batch, *sizes, _ = volumes.shape
    padded_sizes = [max(s, w) for s, w in zip(sizes, window, strict=True)]
    before = [(p - s) // 2 for p, s in zip(padded_sizes, sizes, strict=True)]
    padded = np.pad(
        volumes,
        [(0, 0)] + [(b, p - s - b) for b, p, s in zip(before, padded_sizes, sizes, strict=True)] + [(0, 0)],
    )
    strides = [max(int(w * (1 - overlap)), 1) for w in window]
    axes = [reference_starts(p, w, s) for p, w, s in zip(padded_sizes, window, strides, strict=True)]
    weights = reference_weights(window, blend)[..., None]
    total = np.zeros((batch, *padded_sizes, K))
    weight_sum = np.zeros((batch, *padded_sizes, 1))
    for b, (z, y, x) in itertools.product(range(batch), itertools.product(*axes)):
        region = (b, slice(z, z + window[0]), slice(y, y + window[1]), slice(x, x + window[2]))
        logits = np.asarray(predict(padded[region][None]), np.float64)[0]
        probabilities = np.exp(logits - logits.max(-1, keepdims=True))
        probabilities /= probabilities.sum(-1, keepdims=True)
        total[region] += weights * probabilities
        weight_sum[region] += weights
    result = total / weight_sum
    return result[
        :,
        before[0] : before[0] + sizes[0],
        before[1] : before[1] + sizes[1],
        before[2] : before[2] + sizes[2],
    ]


def window_model(window, channels=2, seed=0):
    """Logits that depend on the neighbourhood (3x3x3 conv, zero padded at the window's faces) and
    on the position inside the window: a wrong window placement changes them."""
    rng = np.random.default_rng(seed)
    kernel = tf.constant(rng.normal(size=(3, 3, 3, channels, K)).astype(np.float32))
    position = tf.constant(rng.normal(size=(*window, K)).astype(np.float32))

    def predict(windows):
        return tf.nn.conv3d(windows, kernel, [1] * 5, "SAME") + position

    return predict


@pytest.mark.parametrize(
    ("shape", "window", "overlap", "blend", "window_batch"),
    [
        ((1, 4, 5, 6, 2), (4, 5, 6), 0.5, "gaussian", 4),  # volume == window: one window
        ((1, 3, 5, 2, 2), (4, 4, 4), 0.5, "gaussian", 4),  # smaller than the window on two axes
        ((1, 7, 9, 10, 2), (4, 5, 6), 0.5, "gaussian", 3),  # non-multiple sizes, partial last batch
        ((1, 6, 11, 5, 2), (4, 4, 4), 0.25, "constant", 5),
        ((2, 6, 7, 5, 2), (4, 4, 4), 0.5, "gaussian", 4),  # batch of 2: windows of both volumes mix
    ],
)
def test_sliding_window_matches_the_numpy_reference(shape, window, overlap, blend, window_batch):
    volumes = volumes_of(shape)
    predict = window_model(window)
    result = sliding_window_inference(
        predict, volumes, window, overlap, num_classes=K, window_batch=window_batch, blend=blend
    )
    assert tuple(result.shape) == (*shape[:4], K)
    expected = reference_sliding_window(predict, volumes, window, overlap, blend)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.numpy().sum(-1), 1.0, atol=1e-5)


def test_sliding_window_of_a_volume_equal_to_the_window_is_the_plain_prediction():
    volumes = volumes_of((2, 4, 4, 4, 2))
    predict = window_model((4, 4, 4))
    result = sliding_window_inference(predict, volumes, (4, 4, 4), num_classes=K)
    np.testing.assert_allclose(result.numpy(), tf.nn.softmax(predict(volumes)).numpy(), rtol=1e-6, atol=1e-7)


def test_sliding_window_traced_with_dynamic_shapes():
    window = (4, 4, 4)
    predict = window_model(window)
    infer = tf.function(
        lambda x: sliding_window_inference(predict, x, window, 0.5, num_classes=K, window_batch=2),
        input_signature=[DYNAMIC_VOLUMES],
    )
    for shape in [(1, 9, 6, 5, 2), (2, 3, 7, 4, 2)]:
        volumes = volumes_of(shape, seed=shape[1])
        expected = reference_sliding_window(predict, volumes, window, 0.5, "gaussian")
        np.testing.assert_allclose(infer(volumes).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert infer.experimental_get_tracing_count() == 1
    assert infer.get_concrete_function().structured_outputs.shape.as_list() == [None, None, None, None, K]


def test_sliding_window_of_a_voxelwise_predict_equals_predicting_the_whole_volume():
    kernel = tf.constant(volumes_of((1, 1, 1, 2, K), seed=3))

    def voxelwise(x):
        return tf.nn.conv3d(x, kernel, [1] * 5, "VALID")

    for shape in [(2, 9, 7, 6, 2), (1, 3, 2, 5, 2)]:  # bigger than and smaller than the window
        volumes = volumes_of(shape, seed=4)
        for blend in ("gaussian", "constant"):
            result = sliding_window_inference(voxelwise, volumes, (4, 4, 4), 0.75, num_classes=K, blend=blend)
            # Equal up to float32 rounding of the weighted average (a few units in the last place).
            expected = tf.nn.softmax(voxelwise(volumes)).numpy()
            np.testing.assert_allclose(result.numpy(), expected, rtol=2e-6, atol=1e-7)


def test_sliding_window_runs_predict_on_at_most_window_batch_windows_at_a_time():
    shape, window = (2, 7, 5, 6, 2), (4, 4, 4)
    calls = []

    def predict(windows):
        calls.append(windows.shape[0])
        return tf.zeros([windows.shape[0], *window, K])

    sliding_window_inference(predict, volumes_of(shape), window, 0.5, num_classes=K, window_batch=4)
    per_volume = np.prod([len(reference_starts(s, 4, 2)) for s in shape[1:4]])  # 3 * 2 * 2
    assert sum(calls) == 2 * per_volume == 24
    assert calls == [4] * 6


def test_sliding_window_with_a_unet3d_exports_to_a_saved_model(tmp_path):
    model = unet3d((None, None, None, 2), num_classes=K, base_filters=2, depth=1)
    module = tf.Module()
    module.model = model
    module.serve = tf.function(
        lambda x: sliding_window_inference(lambda w: model(w, training=False), x, (4, 4, 4), num_classes=K),
        input_signature=[DYNAMIC_VOLUMES],
    )
    tf.saved_model.save(module, str(tmp_path / "unet3d"))
    restored = tf.saved_model.load(str(tmp_path / "unet3d"))
    volumes = volumes_of((2, 6, 5, 3, 2))
    expected = reference_sliding_window(
        lambda w: model(w, training=False), volumes, (4, 4, 4), 0.5, "gaussian"
    )
    np.testing.assert_allclose(restored.serve(volumes).numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "volume_shape"),
    [
        ({"window": (4, 4)}, (1, 4, 4, 4, 2)),
        ({"window": (4, 0, 4)}, (1, 4, 4, 4, 2)),
        ({"overlap": 1.0}, (1, 4, 4, 4, 2)),
        ({"blend": "triangular"}, (1, 4, 4, 4, 2)),
        ({"window_batch": 0}, (1, 4, 4, 4, 2)),
        ({"num_classes": 2}, (1, 4, 4, 4, 2)),  # predict returns K = 3 logits
        ({}, (4, 4, 4, 2)),  # one volume without the batch axis
    ],
)
def test_sliding_window_rejects_bad_arguments(kwargs, volume_shape):
    arguments = {"window": (4, 4, 4), "num_classes": K, **kwargs}
    with pytest.raises(ValueError, match="Received"):
        sliding_window_inference(window_model((4, 4, 4)), np.zeros(volume_shape, np.float32), **arguments)


# --- normalise_intensity -----------------------------------------------------------------------


def test_zscore_normalises_each_volume_and_channel_over_all_voxels():
    volumes = volumes_of((2, 3, 4, 5, 2)) * np.array([10.0, 0.1], np.float32) + np.array(
        [50.0, -3.0], np.float32
    )
    result = normalise_intensity(volumes, "zscore").numpy()
    for b, c in itertools.product(range(2), range(2)):
        x = volumes[b, ..., c].astype(np.float64)
        np.testing.assert_allclose(result[b, ..., c], (x - x.mean()) / x.std(), rtol=1e-4, atol=1e-5)


def test_nonzero_zscore_keeps_zeros_and_normalises_the_rest():
    volumes = np.abs(volumes_of((2, 4, 4, 4, 1))) + 5.0
    volumes[:, :2] = 0.0  # background
    result = normalise_intensity(volumes).numpy()
    assert (result[:, :2] == 0.0).all()
    for b in range(2):
        x = volumes[b, 2:, ..., 0].astype(np.float64)
        np.testing.assert_allclose(result[b, 2:, ..., 0], (x - x.mean()) / x.std(), rtol=1e-4, atol=1e-5)


def test_normalise_intensity_of_constant_or_empty_channels_is_zero_not_nan():
    volumes = np.zeros((3, 16, 16, 16, 1), np.float32)
    volumes[0] = 1000.3  # the float32 mean of 4096 copies is not exactly 1000.3
    volumes[1, :8] = 7.0  # constant over its nonzero voxels; volume 2 is all zeros
    nonzero = normalise_intensity(volumes, "nonzero_zscore").numpy()
    assert (nonzero == 0.0).all()
    zscore = normalise_intensity(volumes, "zscore").numpy()
    assert (zscore[[0, 2]] == 0.0).all()
    # Over all voxels, volume 1 is half 7s and half 0s: z-scores +1 and -1.
    np.testing.assert_allclose(zscore[1, :8], 1.0, rtol=1e-6)
    np.testing.assert_allclose(zscore[1, 8:], -1.0, rtol=1e-6)


def test_normalise_intensity_takes_one_volume_and_none_mode():
    volumes = volumes_of((1, 3, 4, 5, 2))
    np.testing.assert_allclose(
        normalise_intensity(volumes[0]).numpy(), normalise_intensity(volumes).numpy()[0], rtol=1e-6
    )
    np.testing.assert_array_equal(normalise_intensity(volumes, "none").numpy(), volumes)
    with pytest.raises(ValueError, match="Received"):
        normalise_intensity(volumes, "minmax")


# --- resize_volume -----------------------------------------------------------------------------


def reference_linear_resize(volume, size):
    """Separable linear interpolation with half-pixel centres, edge values past the ends."""
    for axis, new in enumerate(size):
        old = volume.shape[axis]
        coordinates = np.clip((np.arange(new) + 0.5) * old / new - 0.5, 0, old - 1)
        volume = np.apply_along_axis(
            lambda line, c=coordinates, o=old: np.interp(c, np.arange(o), line), axis, volume
        )
    return volume


def test_resize_volume_is_trilinear_with_dynamic_sizes():
    volumes = volumes_of((2, 4, 6, 5, 2))
    resize = tf.function(
        lambda x, size: resize_volume(x, size),
        input_signature=[DYNAMIC_VOLUMES, tf.TensorSpec([3], tf.int32)],
    )
    for size in [(7, 3, 5), (2, 12, 4)]:
        result = resize(volumes, tf.constant(size)).numpy()
        assert result.shape == (2, *size, 2)
        for b, c in itertools.product(range(2), range(2)):
            expected = reference_linear_resize(volumes[b, ..., c].astype(np.float64), size)
            np.testing.assert_allclose(result[b, ..., c], expected, rtol=1e-5, atol=1e-5)


def test_resize_volume_nearest_keeps_labels_and_their_dtype():
    labels = np.random.default_rng(0).integers(0, 4, (1, 2, 3, 4, 1)).astype(np.int32)
    doubled = resize_volume(labels, (4, 6, 8), method="nearest")
    assert doubled.dtype == tf.int32
    expected = labels.repeat(2, axis=1).repeat(2, axis=2).repeat(2, axis=3)
    np.testing.assert_array_equal(doubled.numpy(), expected)
    single = resize_volume(labels[0], (4, 6, 8), method="nearest")  # one volume, no batch axis
    np.testing.assert_array_equal(single.numpy(), expected[0])
    with pytest.raises(ValueError, match="Received"):
        resize_volume(labels, (4, 6, 8), method="bicubic")
    with pytest.raises(ValueError, match="Received"):
        resize_volume(labels, (4, 6))


# --- augmentation ------------------------------------------------------------------------------


def test_random_flip_3d_flips_volume_and_label_alike_and_depends_on_the_seed():
    volume = volumes_of((3, 4, 5, 2))
    label = (volume[..., 0] > 0).astype(np.int32)
    flips = {axes: np.flip(volume, axes) for r in range(4) for axes in itertools.combinations(range(3), r)}
    seen = set()
    for seed in range(16):
        flipped, flipped_label = random_flip_3d(volume, label, tf.constant([seed, 1]))
        flipped = flipped.numpy()
        matches = [axes for axes, candidate in flips.items() if np.array_equal(candidate, flipped)]
        assert len(matches) == 1
        np.testing.assert_array_equal(flipped_label.numpy(), np.flip(label, matches[0]))
        seen.add(matches[0])
        again, _ = random_flip_3d(volume, label, tf.constant([seed, 1]))
        np.testing.assert_array_equal(again.numpy(), flipped)
    # Each axis was flipped for some seeds and not for others.
    for axis in range(3):
        assert any(axis in axes for axes in seen) and any(axis not in axes for axes in seen)


def test_random_intensity_scales_and_shifts_each_channel_within_bounds():
    volume = volumes_of((3, 4, 5, 2))
    result = random_intensity(volume, tf.constant([7, 0]), scale=0.2, shift=0.5).numpy()
    factors, offsets = [], []
    for c in range(2):
        factor, offset = np.polyfit(volume[..., c].ravel(), result[..., c].ravel(), 1)
        np.testing.assert_allclose(result[..., c], volume[..., c] * factor + offset, atol=1e-5)
        factors.append(factor)
        offsets.append(offset)
    assert all(0.8 <= f <= 1.2 for f in factors) and all(-0.5 <= o <= 0.5 for o in offsets)
    assert factors[0] != pytest.approx(factors[1])  # drawn per channel
    np.testing.assert_array_equal(random_intensity(volume, tf.constant([7, 0]), 0.2, 0.5).numpy(), result)
    with pytest.raises(ValueError, match="Received"):
        random_intensity(volume, 0, scale=1.0)


# --- Dice and HD95 -----------------------------------------------------------------------------


def test_dice_per_class_on_a_hand_made_example():
    truth = np.array([[0, 0, 1, 1], [0, 2, 2, 9]])
    prediction = np.array([[0, 1, 1, 1], [0, 2, 0, 9]])
    dice = dice_per_class(truth, prediction, 4)
    # class 0: |A|=3, |B|=3, overlap 2; class 1: 2, 3, 2; class 2: 2, 1, 1; class 3 absent; 9 is no class.
    np.testing.assert_allclose(dice[:3], [4 / 6, 4 / 5, 2 / 3])
    assert np.isnan(dice[3])
    with pytest.raises(ValueError, match="Received"):
        dice_per_class(truth, prediction[:, :3], 4)


def cube(shift=(0, 0, 0)):
    mask = np.zeros((20, 20, 20), bool)
    z, y, x = (5 + s for s in shift)
    mask[z : z + 5, y : y + 5, x : x + 5] = True
    return mask


def test_hd95_of_cubes_shifted_along_one_axis():
    # A 5-voxel cube shifted by 3 voxels: a quarter of the surface voxels (the faces across the
    # shift) are exactly 3 voxels from the other surface and none is farther, so the 95th
    # percentile is 3 voxels, in physical units 3 x the spacing along the shifted axis.
    spacing = (1.0, 1.0, 2.0)
    assert hd95(cube(), cube((3, 0, 0)), spacing) == pytest.approx(3.0)
    assert hd95(cube(), cube((0, 0, 3)), spacing) == pytest.approx(6.0)
    assert hd95(cube(), cube((0, 0, 3))) == pytest.approx(3.0)
    assert hd95(cube(), cube()) == 0.0


def brute_force_hd95(a, b, spacing):
    def surface(mask):
        padded = np.pad(mask, 1)
        inside = np.ones_like(mask)
        for axis in range(mask.ndim):
            for step in (-1, 1):
                inside &= np.roll(padded, step, axis)[1:-1, 1:-1, 1:-1]
        return np.argwhere(mask & ~inside) * np.asarray(spacing)

    sa, sb = surface(a), surface(b)
    distances = np.sqrt(((sa[:, None, :] - sb[None, :, :]) ** 2).sum(-1))
    return np.percentile(np.concatenate([distances.min(1), distances.min(0)]), 95)


def test_hd95_matches_a_brute_force_computation():
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(*(np.arange(12),) * 3, indexing="ij"), -1)
    a = ((grid - 5.5) ** 2).sum(-1) < 16  # a ball
    b = (np.abs(grid - [5, 6, 4]).max(-1) < 3) | (rng.random(a.shape) < 0.02)  # a box and specks
    spacing = (1.5, 0.7, 1.0)
    assert hd95(a, b, spacing) == pytest.approx(brute_force_hd95(a, b, spacing))


def test_hd95_of_empty_masks_and_bad_arguments():
    empty = np.zeros((4, 4, 4), bool)
    assert np.isnan(hd95(empty, empty))
    assert hd95(cube(), np.zeros_like(cube())) == np.inf
    assert hd95(np.zeros_like(cube()), cube()) == np.inf
    with pytest.raises(ValueError, match="Received"):
        hd95(cube(), cube(), spacing=(1.0, 1.0))
    with pytest.raises(ValueError, match="Received"):
        hd95(cube(), cube()[:10])
