"""CenterNet head: target encoding, loss, in-graph decoding and Keras serialisation."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfapps.models.heads.centernet import (
    HEATMAP_PRIOR_BIAS,
    CenterNetLoss,
    centernet_head,
    decode_detections,
    encode_targets,
    gaussian_radius,
)

STRIDE = 4
GRID = (16, 16)  # a 64x64 input image
C = 3

# [ymin, xmin, ymax, xmax], class, then the expected centre cell, size target and offset target.
BOX_A = [10.0, 21.0, 31.0, 45.0]  # centre (20.5, 33) px -> (5.125, 8.25) cells
BOX_B = [40.0, 6.0, 50.0, 14.0]  # centre (45, 10) px -> (11.25, 2.5) cells
ZERO_SIZE = [5.0, 5.0, 5.0, 9.0]
OUTSIDE = [60.0, 60.0, 80.0, 80.0]  # centre (70, 70) px -> cell 17, past the 16-cell grid
PADDING = [0.0, 0.0, 8.0, 8.0]  # a plausible box, but past num_boxes


def reference_radius(height, width, min_overlap=0.7):
    """CornerNet's reference `gaussian_radius`, in plain Python."""
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2**2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def encode(boxes, classes, num_boxes, **kwargs):
    return encode_targets(
        tf.constant(boxes, tf.float32),
        tf.constant(classes, tf.int32),
        num_boxes,
        GRID,
        STRIDE,
        C,
        **kwargs,
    ).numpy()


def sample_targets():
    boxes = [BOX_A, BOX_B, ZERO_SIZE, OUTSIDE, PADDING]
    return encode(boxes, [1, 2, 0, 0, 0], num_boxes=4)


def perfect_prediction(targets: np.ndarray) -> np.ndarray:
    """Head output that matches the targets: logit of the heatmap, copied size and offset."""
    heat = np.clip(targets[..., :C], 1e-4, 1 - 1e-4)
    return np.concatenate([np.log(heat / (1 - heat)), targets[..., C : C + 4]], axis=-1).astype(np.float32)


# --- gaussian_radius and encode_targets ---------------------------------------------------------


@pytest.mark.parametrize(("height", "width"), [(1.0, 1.0), (6.0, 6.0), (3.0, 17.0), (40.0, 12.0)])
def test_gaussian_radius_matches_cornernet_reference(height, width):
    radius = gaussian_radius(tf.constant([height]), tf.constant([width])).numpy()
    np.testing.assert_allclose(radius, [reference_radius(height, width)], rtol=1e-5)


def test_heatmap_peaks_are_exactly_one_at_centre_cells():
    targets = sample_targets()
    assert targets.shape == (*GRID, C + 5)
    assert targets.dtype == np.float32
    heat = targets[..., :C]
    assert heat[5, 8, 1] == 1.0
    assert heat[11, 2, 2] == 1.0
    assert np.argwhere(heat == 1.0).tolist() == [[5, 8, 1], [11, 2, 2]]
    assert heat.max() == 1.0 and heat.min() == 0.0
    assert not heat[..., 0].any()  # class 0 only had ignored boxes


def test_gaussian_uses_cornernet_radius_and_sigma():
    targets = sample_targets()
    # Box A is 21x24 px = 5.25x6 cells -> radius from ceil sizes (6, 6).
    radius = math.floor(reference_radius(6, 6))
    assert radius >= 1
    sigma = (2 * radius + 1) / 6
    expected_neighbour = math.exp(-1 / (2 * sigma**2))
    np.testing.assert_allclose(targets[5, 9, 1], expected_neighbour, rtol=1e-5)
    np.testing.assert_allclose(targets[4, 8, 1], expected_neighbour, rtol=1e-5)
    np.testing.assert_allclose(targets[6, 9, 1], expected_neighbour**2, rtol=1e-5)
    assert targets[5, 8 + radius, 1] > 0.0
    assert targets[5, 8 + radius + 1, 1] == 0.0  # cut off beyond the radius
    assert targets[5 - radius - 1, 8, 1] == 0.0


def test_same_class_gaussians_combine_by_maximum():
    boxes = [[8.0, 8.0, 24.0, 24.0], [8.0, 16.0, 24.0, 32.0]]  # centres (4, 4) and (4, 6) cells
    both = encode(boxes, [0, 0], 2)[..., 0]
    first = encode(boxes[:1], [0], 1)[..., 0]
    second = encode(boxes[1:], [0], 1)[..., 0]
    np.testing.assert_array_equal(both, np.maximum(first, second))
    assert both[4, 4] == 1.0 and both[4, 6] == 1.0


def test_size_offset_and_mask_at_centre_cells():
    targets = sample_targets()
    np.testing.assert_allclose(
        targets[5, 8, C:], [math.log(21 / 4), math.log(24 / 4), 0.125, 0.25, 1.0], rtol=1e-6
    )
    np.testing.assert_allclose(
        targets[11, 2, C:], [math.log(10 / 4), math.log(8 / 4), 0.25, 0.5, 1.0], rtol=1e-6
    )
    mask = targets[..., C + 4]
    assert mask.sum() == 2.0  # the zero-size, outside and padded boxes are ignored
    regression = targets[..., C:].copy()
    regression[[5, 11], [8, 2]] = 0.0
    assert not regression.any()  # nothing off the centre cells


def test_no_boxes_gives_all_zero_targets():
    targets = encode(np.zeros((4, 4), np.float32), [0, 0, 0, 0], 0)
    assert targets.shape == (*GRID, C + 5)
    assert not targets.any()
    empty = encode(np.zeros((0, 4), np.float32), np.zeros((0,), np.int32), 0)
    assert not empty.any()


def test_min_radius_widens_small_objects():
    box = [[20.0, 20.0, 22.0, 22.0]]  # under one cell: radius 0, a single hot cell
    assert np.count_nonzero(encode(box, [0], 1)[..., 0]) == 1
    assert np.count_nonzero(encode(box, [0], 1, min_radius=2)[..., 0]) == 25


def test_shared_centre_cell_keeps_one_regression_target():
    boxes = [[10.0, 10.0, 20.0, 20.0], [5.0, 5.0, 25.0, 25.0]]  # same centre, classes 0 and 2
    targets = encode(boxes, [0, 2], 2)
    assert targets[..., C + 4].sum() == 1.0
    np.testing.assert_allclose(targets[3, 3, C : C + 2], [math.log(5.0), math.log(5.0)], rtol=1e-6)
    assert targets[3, 3, 0] == 1.0 and targets[3, 3, 2] == 1.0


def test_encode_runs_inside_tf_data():
    boxes = np.zeros((2, 5, 4), np.float32)
    boxes[0, :2] = [BOX_A, BOX_B]
    boxes[1, :1] = [BOX_B]
    classes = np.array([[1, 2, 0, 0, 0], [0, 0, 0, 0, 0]], np.int32)
    ds = tf.data.Dataset.from_tensor_slices((boxes, classes, np.array([2, 1], np.int32)))
    ds = ds.map(lambda b, c, n: encode_targets(b, c, n, GRID, STRIDE, C)).batch(2)
    assert ds.element_spec.shape.as_list() == [None, *GRID, C + 5]
    batch = next(iter(ds)).numpy()
    assert batch[..., C + 4].sum(axis=(1, 2)).tolist() == [2.0, 1.0]
    assert batch[1, 11, 2, 0] == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [{"stride": 0}, {"num_classes": 0}, {"output_size": (16,)}, {"min_radius": -1}],
)
def test_encode_rejects_bad_arguments(kwargs):
    arguments = {"output_size": GRID, "stride": STRIDE, "num_classes": C, **kwargs}
    with pytest.raises(ValueError, match="Received"):
        encode_targets(tf.zeros([1, 4]), tf.zeros([1], tf.int32), 1, **arguments)


# --- decode_detections ----------------------------------------------------------------------------


def test_round_trip_recovers_boxes_and_pads_with_zeros():
    partly_outside = [-10.0, 50.0, 20.0, 70.0]  # centre (5, 60) px is inside: kept, decoded clipped
    targets = np.stack(
        [
            encode([BOX_A, BOX_B, partly_outside, PADDING], [1, 2, 0, 0], 3),
            encode(np.zeros((1, 4), np.float32), [0], 0),
        ]
    )
    out = decode_detections(perfect_prediction(targets), C, STRIDE, max_detections=10)
    assert out["boxes"].shape == (2, 10, 4) and out["boxes"].dtype == tf.float32
    assert out["scores"].shape == (2, 10) and out["classes"].dtype == tf.int32
    assert out["num_detections"].numpy().tolist() == [3, 0]

    boxes, classes = out["boxes"].numpy()[0, :3], out["classes"].numpy()[0, :3]
    order = np.argsort(classes)
    assert classes[order].tolist() == [0, 1, 2]
    expected = [[0.0, 50.0, 20.0, 64.0], BOX_A, BOX_B]
    np.testing.assert_allclose(boxes[order], expected, atol=1e-3)
    np.testing.assert_allclose(out["scores"].numpy()[0, :3], 1 - 1e-4, rtol=1e-5)

    for key in ("boxes", "scores", "classes"):
        padded = out[key].numpy()
        assert not padded[0, 3:].any() and not padded[1].any()


def test_nms_is_class_wise():
    head = np.full((1, *GRID, C + 4), -10.0, np.float32)
    head[..., C : C + 2] = math.log(6.0)  # 24x24 px boxes
    head[..., C + 2 :] = 0.5
    head[0, 5, 5, 0] = 5.0
    head[0, 5, 7, 0] = 4.0  # two cells apart: both survive the max-pool, then NMS drops it (IoU 0.5)
    head[0, 5, 7, 1] = 3.0  # another class at the same place: kept
    out = decode_detections(head, C, STRIDE, max_detections=5, nms_iou_threshold=0.3)
    assert out["num_detections"].numpy().tolist() == [2]
    assert out["classes"].numpy()[0, :2].tolist() == [0, 1]
    np.testing.assert_allclose(out["boxes"].numpy()[0, 0], [10.0, 10.0, 34.0, 34.0], atol=1e-4)
    everything = decode_detections(head, C, STRIDE, max_detections=5, nms_iou_threshold=0.9)
    assert everything["num_detections"].numpy().tolist() == [3]


def test_max_pool_keeps_only_local_peaks_and_threshold_applies():
    head = np.full((1, *GRID, C + 4), -10.0, np.float32)
    head[0, 5, 5, 0] = 3.0
    head[0, 5, 6, 0] = 2.0  # a neighbour of a higher peak: not a peak
    head[0, 10, 10, 2] = -3.5  # sigmoid 0.029: under the 0.05 threshold
    out = decode_detections(head, C, STRIDE)
    assert out["num_detections"].numpy().tolist() == [1]
    assert out["boxes"].shape == (1, 100, 4)
    low = decode_detections(head, C, STRIDE, score_threshold=0.01)
    assert low["num_detections"].numpy().tolist() == [2]


def test_decode_in_tf_function_with_unknown_batch():
    decode = tf.function(
        lambda x: decode_detections(x, C, STRIDE, max_detections=7),
        input_signature=[tf.TensorSpec([None, *GRID, C + 4], tf.float32)],
    )
    concrete = decode.get_concrete_function()
    assert concrete.structured_outputs["boxes"].shape.as_list() == [None, 7, 4]
    targets = sample_targets()
    for batch in (1, 3):
        out = decode(np.repeat(perfect_prediction(targets)[None], batch, axis=0))
        assert out["num_detections"].numpy().tolist() == [2] * batch
        assert out["boxes"].shape == (batch, 7, 4)


def test_decode_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match="num_classes \\+ 4"):
        decode_detections(tf.zeros([1, 4, 4, C + 5]), C, STRIDE)


# --- CenterNetLoss -----------------------------------------------------------------------------------


def test_loss_is_near_zero_for_a_perfect_prediction():
    targets = np.stack([sample_targets(), encode([BOX_B], [0], 1)])
    loss = CenterNetLoss(C)
    perfect = float(loss(targets, perfect_prediction(targets)))
    random = float(loss(targets, np.random.default_rng(0).normal(size=(2, *GRID, C + 4)).astype(np.float32)))
    assert 0.0 <= perfect < 0.05
    assert random > 100 * perfect
    assert random > 1.0


def test_loss_is_per_image_and_finite_without_objects():
    targets = np.stack([sample_targets(), np.zeros((*GRID, C + 5), np.float32)])
    prediction = np.random.default_rng(1).normal(size=(2, *GRID, C + 4)).astype(np.float32)
    per_image = CenterNetLoss(C, reduction=None)(targets, prediction).numpy()
    assert per_image.shape == (2,)
    assert np.isfinite(per_image).all()
    np.testing.assert_allclose(float(CenterNetLoss(C)(targets, prediction)), per_image.mean(), rtol=1e-6)
    alone = CenterNetLoss(C, reduction=None)(targets[1:], prediction[1:]).numpy()
    np.testing.assert_allclose(alone, per_image[1:], rtol=1e-6)  # normalised by its own objects


def test_loss_gradients_are_finite_even_for_saturated_logits():
    targets = tf.constant(np.stack([sample_targets(), np.zeros((*GRID, C + 5), np.float32)]))
    prediction = np.random.default_rng(2).normal(size=(2, *GRID, C + 4)).astype(np.float32)
    prediction[0, 5, 8, 1] = -200.0  # a missed peak
    prediction[0, 0, 0, 0] = 200.0  # a confident false positive
    prediction = tf.Variable(prediction)
    with tf.GradientTape() as tape:
        value = CenterNetLoss(C)(targets, prediction)
    gradient = tape.gradient(value, prediction).numpy()
    assert np.isfinite(float(value)) and np.isfinite(gradient).all()
    assert np.abs(gradient).sum() > 0.0


def test_loss_config_round_trip():
    loss = CenterNetLoss(C, size_weight=0.5, offset_weight=2.0, name="det")
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, CenterNetLoss)
    assert restored.get_config() == loss.get_config()


# --- centernet_head -------------------------------------------------------------------------------


def tiny_model() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(8, 3, strides=STRIDE, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, centernet_head(features, C, head_channels=8))


def test_head_output_layout_and_prior_bias():
    model = tiny_model()
    assert model.output.shape == (None, 8, 8, C + 4)
    np.testing.assert_allclose(model.get_layer("centernet_heatmap").bias.numpy(), HEATMAP_PRIOR_BIAS)
    out = model(np.zeros((1, 32, 32, 3), np.float32)).numpy()
    np.testing.assert_allclose(out[..., :C], HEATMAP_PRIOR_BIAS, atol=1e-6)  # zero features: prior only


def test_head_outputs_float32_under_mixed_precision():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        inputs = keras.Input((32, 32, 3))
        features = keras.layers.Conv2D(8, 3, strides=STRIDE, padding="same")(inputs)
        assert features.dtype == "bfloat16"
        assert centernet_head(features, C, head_channels=8).dtype == "float32"
    finally:
        keras.config.set_dtype_policy(previous)


def test_head_rejects_bad_num_classes():
    with pytest.raises(ValueError, match="num_classes"):
        centernet_head(keras.Input((8, 8, 4)), 0)


def test_model_with_head_and_loss_reloads_from_keras_file(tmp_path):
    model = tiny_model()
    model.compile(optimizer="sgd", loss=CenterNetLoss(C, size_weight=0.2))
    path = tmp_path / "centernet.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    images = np.random.default_rng(3).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(restored(images).numpy(), model(images).numpy())
    assert isinstance(restored.loss, CenterNetLoss)
    assert restored.loss.size_weight == 0.2


def test_training_step_under_mirrored_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = tiny_model()
        model.compile(optimizer="sgd", loss=CenterNetLoss(C))
    boxes = np.zeros((4, 2, 4), np.float32)
    boxes[:, 0] = [4.0, 4.0, 20.0, 24.0]
    targets = np.stack([encode_targets(b, tf.constant([1, 0]), 1, (8, 8), STRIDE, C).numpy() for b in boxes])
    images = np.random.default_rng(4).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    history = model.fit(images, targets, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
