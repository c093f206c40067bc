"""Grad-CAM: where the evidence is, equivalence with CAM for linear heads, shapes and range,
dynamic-shape tracing and SavedModel export, in 2D and 3D."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfapps.models.backbones.cnn3d import resnet3d
from tfapps.models.saliency import grad_cam

# --- hand-built models: the evidence of each class sits in a known region ----------------------


def evidence_features(inputs):
    """Channel 0 holds positive intensities, channel 1 negative ones, pooled by 2."""
    inputs = tf.convert_to_tensor(inputs)
    features = tf.concat([tf.nn.relu(inputs), tf.nn.relu(-inputs)], axis=-1)
    if inputs.shape.rank == 4:
        return tf.nn.avg_pool2d(features, 2, 2, "VALID")
    return tf.nn.avg_pool3d(features, 2, 2, "VALID")


def evidence_head(features):
    """Class 0 = mean positive intensity, class 1 = mean negative intensity."""
    return tf.reduce_mean(features, axis=list(range(1, features.shape.rank - 1)))


def traced(rank: int):
    spec = tf.TensorSpec([None] * (rank - 1) + [1], tf.float32)
    return tf.function(
        lambda x, c: grad_cam(evidence_features, evidence_head, x, c),
        input_signature=[spec, tf.TensorSpec([None], tf.int32)],
    )


def test_heat_is_where_the_class_evidence_is_in_2d():
    image = np.zeros((8, 8, 1), np.float32)
    image[1:3, 1:3] = 2.0  # class 0 evidence, top-left quadrant
    image[5:7, 5:7] = -1.0  # class 1 evidence, bottom-right quadrant
    images = np.stack([image, image])
    heatmaps, logits = traced(4)(images, tf.constant([0, 1]))  # batch of 2, different classes
    heatmaps = heatmaps.numpy()
    assert heatmaps.shape == (2, 8, 8)
    np.testing.assert_allclose(logits.numpy(), evidence_head(evidence_features(images)).numpy())
    top_left = np.unravel_index(heatmaps[0].argmax(), (8, 8))
    bottom_right = np.unravel_index(heatmaps[1].argmax(), (8, 8))
    assert max(top_left) < 4 and min(bottom_right) >= 4
    assert heatmaps[0].max() == pytest.approx(1.0) and heatmaps[1].max() == pytest.approx(1.0)
    # Far from any evidence of its class, a map is exactly 0.
    assert heatmaps[0, 7, 7] == 0.0 and heatmaps[1, 0, 0] == 0.0


def test_heat_is_where_the_class_evidence_is_in_3d_and_argmax_is_the_default_class():
    volume = np.zeros((8, 8, 8, 1), np.float32)
    volume[4:6, 0:2, 6:8] = 3.0  # class 0 evidence in octant (1, 0, 1), the stronger class
    volume[0:2, 6:8, 0:2] = -1.0  # class 1 evidence in octant (0, 1, 0)
    volumes = volume[None]
    for classes, octant in [(None, (1, 0, 1)), ([0], (1, 0, 1)), ([1], (0, 1, 0))]:
        heatmaps, logits = grad_cam(evidence_features, evidence_head, volumes, classes)
        heatmap = heatmaps.numpy()[0]
        assert heatmap.shape == (8, 8, 8)
        assert tuple(int(i >= 4) for i in np.unravel_index(heatmap.argmax(), heatmap.shape)) == octant
        assert heatmap.min() >= 0.0 and heatmap.max() == pytest.approx(1.0)
    assert int(np.argmax(logits.numpy()[0])) == 0


def test_maps_without_evidence_are_zero_not_nan():
    heatmaps, _ = traced(5)(np.zeros((2, 4, 6, 4, 1), np.float32), tf.constant([0, 1]))
    assert heatmaps.shape == (2, 4, 6, 4)
    assert (heatmaps.numpy() == 0.0).all()


# --- Keras models: Grad-CAM of a global-average-pool + dense head is CAM -----------------------


def classifier_2d(num_classes=3, pool=True):
    inputs = keras.Input((None, None, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    if pool:
        x = keras.layers.MaxPooling2D(2)(x)
    backbone = keras.Model(inputs, x)
    features = keras.Input((None, None, 4))
    head = keras.Model(
        features, keras.layers.Dense(num_classes)(keras.layers.GlobalAveragePooling2D()(features))
    )
    return backbone, head


def classifier_3d(num_classes=3, widths=(2, 4)):
    backbone = resnet3d((None, None, None, 1), widths=widths)
    features = keras.Input((None, None, None, widths[-1]))
    head = keras.Model(
        features, keras.layers.Dense(num_classes)(keras.layers.GlobalAveragePooling3D()(features))
    )
    return backbone, head


def cam(features, head, classes):
    """Class activation maps (Zhou et al., 2016): ReLU(features . dense kernel of the class)."""
    kernel = head.layers[-1].kernel.numpy()  # [F, K]
    maps = np.maximum(np.einsum("b...f,fb->b...", features, kernel[:, classes]), 0.0)
    peak = maps.reshape(len(maps), -1).max(1)
    assert (peak > 0).all()  # a meaningful comparison needs some positive evidence
    return maps / peak.reshape(-1, *[1] * (maps.ndim - 1))


@pytest.mark.parametrize("rank", [4, 5])
def test_grad_cam_of_a_linear_head_equals_cam(rank):
    # Features at the input resolution, so no upsampling stands between the two.
    keras.utils.set_random_seed(1)
    if rank == 4:
        backbone, head = classifier_2d(pool=False)
        inputs = np.random.default_rng(0).normal(size=(2, 6, 5, 1)).astype(np.float32)
    else:
        backbone, head = classifier_3d(widths=(4,))
        inputs = np.random.default_rng(0).normal(size=(2, 4, 5, 3, 1)).astype(np.float32)
    features = backbone(inputs, training=False).numpy()
    classes = np.array([0, 2])
    heatmaps, logits = grad_cam(
        lambda x: backbone(x, training=False), lambda f: head(f, training=False), inputs, classes
    )
    np.testing.assert_allclose(heatmaps.numpy(), cam(features, head, classes), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(logits.numpy(), head(features).numpy(), rtol=1e-5, atol=1e-6)
    # A different class gives a different map for the same input.
    other, _ = grad_cam(
        lambda x: backbone(x, training=False), lambda f: head(f, training=False), inputs, classes[::-1]
    )
    assert not np.allclose(other.numpy()[0], heatmaps.numpy()[0])


@pytest.mark.parametrize("rank", [4, 5])
def test_grad_cam_exports_with_dynamic_shapes(tmp_path, rank):
    backbone, head = classifier_2d() if rank == 4 else classifier_3d()
    module = tf.Module()
    module.backbone, module.head = backbone, head
    module.explain = tf.function(
        lambda x: grad_cam(lambda v: backbone(v, training=False), lambda f: head(f, training=False), x),
        input_signature=[tf.TensorSpec([None] * (rank - 1) + [1], tf.float32)],
    )
    rng = np.random.default_rng(rank)
    shapes = [(2, 8, 6, 1), (1, 5, 7, 1)] if rank == 4 else [(2, 8, 6, 4, 1), (1, 5, 7, 6, 1)]
    expected = [module.explain(rng.normal(size=shape).astype(np.float32)) for shape in shapes]
    tf.saved_model.save(module, str(tmp_path / "explain"))
    restored = tf.saved_model.load(str(tmp_path / "explain"))
    rng = np.random.default_rng(rank)
    for shape, (heatmaps, logits) in zip(shapes, expected, strict=True):
        restored_heatmaps, restored_logits = restored.explain(rng.normal(size=shape).astype(np.float32))
        assert restored_heatmaps.shape == shape[:-1]
        assert restored_logits.shape == (shape[0], 3)
        np.testing.assert_allclose(restored_heatmaps.numpy(), heatmaps.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(restored_logits.numpy(), logits.numpy(), rtol=1e-5, atol=1e-6)
        values = restored_heatmaps.numpy()
        assert values.min() >= 0.0 and values.max() <= 1.0 + 1e-6
        peaks = values.reshape(shape[0], -1).max(1)
        assert np.all((np.abs(peaks - 1.0) < 1e-6) | (peaks == 0.0))


def test_grad_cam_rejects_mismatched_ranks():
    with pytest.raises(ValueError, match="Received"):
        grad_cam(lambda x: x[..., 0], evidence_head, np.zeros((1, 4, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="Received"):
        grad_cam(evidence_features, lambda f: f, np.zeros((1, 4, 4, 1), np.float32))
