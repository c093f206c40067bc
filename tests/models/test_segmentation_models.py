"""Segmentation models, loss and metrics: shapes, serialisation, void handling, distribution."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfapps.models.segmentation import (
    MeanIoUIgnoringVoid,
    SegmentationLoss,
    confusion_matrix,
    deeplab_v3,
    median_frequency_weights,
    segmentation_metrics,
    unet,
)

C = 3
VOID = 255


def tiny_unet(size=16, channels=3, **kwargs):
    return unet((size, size, channels), C, base_filters=4, depth=2, **kwargs)


def sample_batch(seed=0, batch=2, size=16):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, (batch, size, size)).astype(np.int32)
    labels[:, :3, :3] = VOID
    labels[:, -1, -1] = C + 1  # an id past the classes: void too
    logits = rng.normal(size=(batch, size, size, C)).astype(np.float32)
    return labels, logits


# --- models ------------------------------------------------------------------------------------


def test_unet_outputs_float32_logits_at_input_resolution():
    model = unet((32, 48, 1), num_classes=5, base_filters=4, depth=3, dropout=0.1)
    out = model(np.zeros((2, 32, 48, 1), np.float32))
    assert tuple(out.shape) == (2, 32, 48, 5)
    assert out.dtype == tf.float32


def test_unet_accepts_unknown_sizes():
    model = unet((None, None, 3), num_classes=2, base_filters=4, depth=2)
    assert tuple(model(np.zeros((1, 24, 40, 3), np.float32)).shape) == (1, 24, 40, 2)


def test_unet_logits_stay_float32_under_mixed_precision():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = tiny_unet()
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.get_layer("enc0_block0_conv").compute_dtype == "float16"
    assert model(np.zeros((1, 16, 16, 3), np.float32)).dtype == tf.float32


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_shape": (30, 32, 3)},  # not a multiple of 2**depth
        {"num_classes": 0},
        {"depth": 0},
        {"dropout": 1.0},
        {"input_shape": (32, 32)},
    ],
)
def test_unet_rejects_bad_arguments(kwargs):
    arguments = {"input_shape": (32, 32, 3), "num_classes": 2, "depth": 2, **kwargs}
    with pytest.raises(ValueError, match="Received"):
        unet(**arguments)


def test_unet_keras_file_round_trip(tmp_path):
    model = tiny_unet(dropout=0.2)
    model.compile(
        optimizer="sgd",  # no slot variables: an untrained model saves and reloads without warnings
        loss=SegmentationLoss(C, class_weights=[1.0, 2.0, 0.5], dice_weight=0.5),
        metrics=[MeanIoUIgnoringVoid(C)],
    )
    path = tmp_path / "unet.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    images = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_array_equal(restored(images).numpy(), model(images).numpy())
    assert isinstance(restored.loss, SegmentationLoss)
    assert restored.loss.class_weights == [1.0, 2.0, 0.5]
    assert restored.loss.dice_weight == 0.5


def test_deeplab_v3_resnet18_outputs_logits_at_input_size_and_survives_saved_model(tmp_path):
    model = deeplab_v3((64, 64, 3), num_classes=4, backbone="resnet18")
    images = np.random.default_rng(2).normal(size=(2, 64, 64, 3)).astype(np.float32)
    out = model(images, training=False)
    assert tuple(out.shape) == (2, 64, 64, 4)
    assert out.dtype == tf.float32

    module = tf.Module()
    module.model = model
    module.serve = tf.function(
        lambda x: model(x, training=False), input_signature=[tf.TensorSpec([None, 64, 64, 3], tf.float32)]
    )
    tf.saved_model.save(module, str(tmp_path / "deeplab"))
    restored = tf.saved_model.load(str(tmp_path / "deeplab"))
    np.testing.assert_allclose(restored.serve(images).numpy(), out.numpy(), rtol=1e-5, atol=1e-5)


def test_deeplab_v3_resnet50_matches_the_keras_hub_preset_architecture():
    model = deeplab_v3((64, 64, 3), num_classes=2, backbone="resnet50")
    assert tuple(model(np.zeros((1, 64, 64, 3), np.float32)).shape) == (1, 64, 64, 2)
    # keras-hub's deeplab_v3_plus_resnet50_pascalvoc backbone has 39,190,656 parameters; the
    # classifier adds 256 x num_classes (no bias).
    assert model.count_params() == 39_190_656 + 256 * 2


@pytest.mark.parametrize("kwargs", [{"backbone": "vgg16"}, {"input_shape": (48, 64, 3)}])
def test_deeplab_v3_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        deeplab_v3(**{"input_shape": (64, 64, 3), "num_classes": 2, **kwargs})


# --- loss --------------------------------------------------------------------------------------


def test_loss_is_mean_cross_entropy_over_non_void_pixels_per_image():
    labels, logits = sample_batch()
    per_image = SegmentationLoss(C, reduction=None)(labels, logits).numpy()
    assert per_image.shape == (2,)
    log_probs = tf.nn.log_softmax(logits).numpy()
    for b in range(2):
        valid = labels[b] < C
        picked = np.take_along_axis(log_probs[b], np.where(valid, labels[b], 0)[..., None], -1)[..., 0]
        np.testing.assert_allclose(per_image[b], -picked[valid].mean(), rtol=1e-5)
    reduced = SegmentationLoss(C)(labels, logits).numpy()
    np.testing.assert_allclose(reduced, per_image.mean(), rtol=1e-6)
    # [B, H, W, 1] labels give the same value.
    np.testing.assert_allclose(SegmentationLoss(C)(labels[..., None], logits).numpy(), reduced, rtol=1e-6)


@pytest.mark.parametrize("dice_weight", [0.0, 1.0])
def test_loss_ignores_logits_at_void_pixels(dice_weight):
    labels, logits = sample_batch()
    loss = SegmentationLoss(C, dice_weight=dice_weight, label_smoothing=0.1)
    changed = logits.copy()
    void = labels >= C
    changed[void] = np.random.default_rng(9).normal(scale=50.0, size=changed[void].shape)
    np.testing.assert_allclose(loss(labels, changed).numpy(), loss(labels, logits).numpy(), rtol=1e-6)
    # ...while changing a labelled pixel does change it.
    changed[0, 5, 5, 0] += 5.0
    assert not np.isclose(loss(labels, changed).numpy(), loss(labels, logits).numpy())


def test_loss_of_an_all_void_image_is_zero():
    labels = np.full((1, 4, 4), VOID, np.int32)
    logits = np.random.default_rng(0).normal(size=(1, 4, 4, C)).astype(np.float32)
    assert SegmentationLoss(C, dice_weight=1.0, reduction=None)(labels, logits).numpy()[0] == 0.0


def test_class_weights_change_the_loss():
    labels, logits = sample_batch()
    plain = SegmentationLoss(C)(labels, logits).numpy()
    weighted = SegmentationLoss(C, class_weights=[1.0, 5.0, 1.0])(labels, logits).numpy()
    ones = SegmentationLoss(C, class_weights=[1.0, 1.0, 1.0])(labels, logits).numpy()
    assert weighted > plain
    np.testing.assert_allclose(ones, plain, rtol=1e-6)


def test_dice_term_is_near_zero_for_a_perfect_prediction_and_positive_otherwise():
    labels, _ = sample_batch()
    perfect = 30.0 * tf.one_hot(np.where(labels < C, labels, 0), C).numpy()
    dice_only = SegmentationLoss(C, dice_weight=1.0)(labels, perfect).numpy()
    assert dice_only < 1e-6  # cross-entropy is ~0 too
    wrong = 30.0 * tf.one_hot((np.where(labels < C, labels, 0) + 1) % C, C).numpy()
    ce = SegmentationLoss(C)(labels, wrong).numpy()
    with_dice = SegmentationLoss(C, dice_weight=2.0)(labels, wrong).numpy()
    np.testing.assert_allclose(with_dice - ce, 2.0, rtol=1e-4)  # Dice of a fully wrong prediction: 1


def test_loss_gradients_are_finite():
    labels, logits = sample_batch()
    logits = tf.Variable(logits)
    loss_fn = SegmentationLoss(C, class_weights=[0.5, 1.0, 2.0], dice_weight=1.0, label_smoothing=0.1)
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, logits)
    gradient = tape.gradient(loss, logits).numpy()
    assert np.isfinite(gradient).all()
    assert np.abs(gradient[labels >= C]).max() == 0.0  # void pixels get no gradient


def test_loss_config_round_trip():
    loss = SegmentationLoss(
        4, ignore_index=0, class_weights=[1, 2, 3, 4], dice_weight=0.3, label_smoothing=0.05
    )
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, SegmentationLoss)
    assert restored.get_config() == loss.get_config()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"class_weights": [1.0, 2.0]},
        {"class_weights": [1.0, -1.0, 1.0]},
        {"dice_weight": -0.1},
        {"label_smoothing": 1.0},
        {"num_classes": 0},
    ],
)
def test_loss_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="Received"):
        SegmentationLoss(**{"num_classes": C, **kwargs})


# --- class weights -----------------------------------------------------------------------------


def test_median_frequency_weights():
    np.testing.assert_allclose(median_frequency_weights([900, 90, 10]), [0.1, 1.0, 9.0])
    # An absent class gets the neutral weight 1; the median runs over present classes only.
    np.testing.assert_allclose(median_frequency_weights([600, 0, 200, 100]), [1 / 3, 1.0, 1.0, 2.0])
    # SegNet's definition: frequency within the images that contain the class.
    np.testing.assert_allclose(median_frequency_weights([100, 50, 10], [1000, 100, 100]), [1.0, 0.2, 1.0])
    with pytest.raises(ValueError, match="Received"):
        median_frequency_weights([0, 0])
    with pytest.raises(ValueError, match="Received"):
        median_frequency_weights([1, -1])


# --- confusion matrix and metrics --------------------------------------------------------------


def hand_made():
    # true:                       predicted:
    #   0 0 1 1                     0 0 1 0
    #   0 0 1 1                     0 1 1 1
    #   2 2 V V                     2 0 1 2
    y_true = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, VOID, VOID]])
    y_pred = np.array([[0, 0, 1, 0], [0, 1, 1, 1], [2, 0, 1, 2]])
    return y_true, y_pred


def test_confusion_matrix_on_a_hand_made_example():
    y_true, y_pred = hand_made()
    expected = np.array([[3, 1, 0], [1, 3, 0], [1, 0, 1]])
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, C, VOID), expected)
    # ids past the classes are void too; [.., 1] labels are accepted.
    y_true_other_void = np.where(y_true == VOID, 7, y_true)
    np.testing.assert_array_equal(confusion_matrix(y_true_other_void[..., None], y_pred, C, VOID), expected)


def test_confusion_matrix_rejects_predictions_out_of_range():
    with pytest.raises(ValueError, match="Received"):
        confusion_matrix(np.array([0, 1]), np.array([0, 3]), C, VOID)


def test_segmentation_metrics_on_a_hand_made_example():
    y_true, y_pred = hand_made()
    metrics = segmentation_metrics(confusion_matrix(y_true, y_pred, C, VOID), ["bg", "cat", "dog"])
    # IoU = TP / (TP + FP + FN): bg 3 / (3 + 2 + 1), cat 3 / (3 + 1 + 1), dog 1 / (1 + 0 + 1).
    assert metrics["iou/bg"] == pytest.approx(0.5)
    assert metrics["iou/cat"] == pytest.approx(0.6)
    assert metrics["iou/dog"] == pytest.approx(0.5)
    assert metrics["mean_iou"] == pytest.approx((0.5 + 0.6 + 0.5) / 3)
    assert metrics["pixel_accuracy"] == pytest.approx(7 / 10)


def test_mean_iou_skips_classes_absent_from_truth_and_predictions():
    confusion = np.array([[4, 0, 0], [0, 0, 0], [2, 0, 2]])
    metrics = segmentation_metrics(confusion, ["a", "b", "c"])
    assert "iou/b" not in metrics
    assert metrics["mean_iou"] == pytest.approx((4 / 6 + 2 / 4) / 2)
    # A class predicted but never true has IoU 0 and counts.
    confusion[0, 1] = 1
    assert segmentation_metrics(confusion, ["a", "b", "c"])["iou/b"] == 0.0
    assert segmentation_metrics(np.zeros((2, 2)), ["a", "b"]) == {"mean_iou": 0.0, "pixel_accuracy": 0.0}


def test_keras_metric_matches_the_numpy_metrics():
    metric = MeanIoUIgnoringVoid(C, ignore_index=VOID)
    names = ["a", "b", "c"]
    y_true, y_pred = hand_made()
    metric.update_state(y_true[None], tf.one_hot(y_pred[None], C))
    expected = segmentation_metrics(confusion_matrix(y_true, y_pred, C, VOID), names)["mean_iou"]
    assert float(metric.result()) == pytest.approx(expected)

    labels, logits = sample_batch(seed=5)
    metric.update_state(labels[..., None], logits)
    total = confusion_matrix(y_true, y_pred, C, VOID) + confusion_matrix(labels, logits.argmax(-1), C, VOID)
    np.testing.assert_array_equal(metric.confusion.numpy(), total)
    assert float(metric.result()) == pytest.approx(segmentation_metrics(total, names)["mean_iou"])

    metric.reset_state()
    assert float(metric.result()) == 0.0
    restored = MeanIoUIgnoringVoid.from_config(metric.get_config())
    assert (restored.num_classes, restored.ignore_index, restored.name) == (C, VOID, "mean_iou")


# --- volumes (3D) -------------------------------------------------------------------------------


def sample_volumes(seed=0, batch=2, shape=(3, 4, 5)):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, (batch, *shape)).astype(np.int32)
    labels[:, 0, :2, :2] = VOID
    labels[0, -1, -1, -1] = C + 2
    logits = rng.normal(size=(batch, *shape, C)).astype(np.float32)
    return labels, logits


def numpy_loss(labels, logits, class_weights, dice_weight, smoothing):
    """CE + Dice per example over non-void voxels, for any spatial rank (float64)."""
    losses = []
    for y, z in zip(labels, logits.astype(np.float64), strict=True):
        valid = y < C
        y, z = y[valid], z[valid]  # [n], [n, C]: the spatial layout does not matter
        log_p = z - z.max(-1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
        onehot = np.eye(C)[y]
        target = onehot * (1 - smoothing) + smoothing / C
        ce = (-(target * log_p).sum(-1) * np.asarray(class_weights)[y]).mean()
        p = np.exp(log_p)
        present = onehot.sum(0) > 0
        dice = 2 * (p * onehot).sum(0) / (p.sum(0) + onehot.sum(0))
        losses.append(ce + dice_weight * (1 - dice[present].mean()))
    return np.array(losses)


def test_loss_on_volumes_matches_numpy_and_the_same_voxels_laid_out_as_images():
    labels, logits = sample_volumes()
    kwargs = {"class_weights": [0.5, 1.0, 2.0], "dice_weight": 0.7, "label_smoothing": 0.1}
    per_volume = SegmentationLoss(C, reduction=None, **kwargs)(labels, logits).numpy()
    assert per_volume.shape == (2,)
    np.testing.assert_allclose(
        per_volume,
        numpy_loss(labels, logits, class_weights=[0.5, 1.0, 2.0], dice_weight=0.7, smoothing=0.1),
        rtol=1e-5,
    )
    # Every term is a per-example sum over voxels: a [B, D, H, W] volume and the same voxels as a
    # [B, D * H, W] image score the same (the 2D path is unchanged and tested above).
    as_images = SegmentationLoss(C, reduction=None, **kwargs)(
        labels.reshape(2, 12, 5), logits.reshape(2, 12, 5, C)
    ).numpy()
    np.testing.assert_allclose(per_volume, as_images, rtol=1e-6)
    # [B, D, H, W, 1] labels give the same values.
    np.testing.assert_allclose(
        SegmentationLoss(C, reduction=None, **kwargs)(labels[..., None], logits).numpy(),
        per_volume,
        rtol=1e-6,
    )


def test_loss_on_volumes_ignores_void_voxels_and_gives_finite_gradients():
    labels, logits = sample_volumes(seed=3)
    loss_fn = SegmentationLoss(C, dice_weight=1.0)
    variable = tf.Variable(logits)
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, variable)
    gradient = tape.gradient(loss, variable).numpy()
    assert np.isfinite(gradient).all()
    assert np.abs(gradient[labels >= C]).max() == 0.0
    assert np.abs(gradient[labels < C]).max() > 0.0


def test_keras_metric_on_volumes_matches_the_numpy_confusion_matrix():
    labels, logits = sample_volumes(seed=4)
    metric = MeanIoUIgnoringVoid(C, ignore_index=VOID)
    metric.update_state(labels, logits)
    expected = confusion_matrix(labels, logits.argmax(-1), C, VOID)
    np.testing.assert_array_equal(metric.confusion.numpy(), expected)
    names = ["a", "b", "c"]
    assert float(metric.result()) == pytest.approx(segmentation_metrics(expected, names)["mean_iou"])
    # Per-volume sample weights: weight 0 drops the second volume, [.., 1] labels work too.
    metric.reset_state()
    metric.update_state(labels[..., None], logits, sample_weight=np.array([1.0, 0.0]))
    np.testing.assert_array_equal(
        metric.confusion.numpy(), confusion_matrix(labels[0], logits[0].argmax(-1), C, VOID)
    )


# --- distributed training ----------------------------------------------------------------------


def test_one_step_fit_of_a_tiny_unet_under_mirrored_strategy():
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = tiny_unet()
        model.compile(
            optimizer="adam",
            loss=SegmentationLoss(C, class_weights=[1.0, 2.0, 1.0], dice_weight=0.5),
            metrics=[MeanIoUIgnoringVoid(C)],
        )
    labels, _ = sample_batch(seed=7, batch=4)
    images = np.random.default_rng(8).normal(size=(4, 16, 16, 3)).astype(np.float32)
    history = model.fit(images, labels, batch_size=4, epochs=1, validation_data=(images, labels), verbose=0)
    assert np.isfinite(history.history["loss"]).all()

    # Validation ran after the step: the metric, summed over the two replicas, equals the numpy
    # metric of the trained model's predictions on the whole set.
    predicted = model.predict(images, batch_size=4, verbose=0).argmax(-1)
    expected = segmentation_metrics(confusion_matrix(labels, predicted, C, VOID), ["a", "b", "c"])
    assert history.history["val_mean_iou"][0] == pytest.approx(expected["mean_iou"], abs=1e-5)
