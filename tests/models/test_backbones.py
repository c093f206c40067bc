"""Backbones by name: each maps a batch of images to a 4-D feature map with the expected stride."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfapps.models.backbones import build_backbone, is_imagenet_style
from tfapps.models.heads.classification import classification_head

# Published architectures: final stride 32 and these feature widths.
KERAS_HUB = {"resnet18": 512, "resnet50": 2048, "efficientnet_b0": 1280, "mobilenet_v3_small": 288}


@pytest.mark.parametrize("name", sorted(KERAS_HUB))
def test_keras_hub_backbone_feature_map(name):
    # 64×64 keeps these quick; each architecture (resnet50 included) is built once.
    backbone = build_backbone(name, (64, 64, 3))
    assert backbone.output_shape == (None, 2, 2, KERAS_HUB[name])
    features = backbone(
        np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32"), training=False
    )
    assert features.shape == (2, 2, 2, KERAS_HUB[name])
    assert np.isfinite(keras.ops.convert_to_numpy(features)).all()
    assert is_imagenet_style(name)


def test_keras_hub_backbone_takes_grayscale_and_other_sizes():
    backbone = build_backbone("resnet18", (96, 64, 1))
    assert backbone.output_shape == (None, 3, 2, 512)


@pytest.mark.parametrize(
    ("widths", "convs", "input_shape", "expected"),
    [
        ((8, 16), 1, (32, 32, 3), (None, 16, 16, 16)),  # one pooling between two stages
        ((4, 8, 16), 2, (28, 28, 1), (None, 7, 7, 16)),  # two poolings: 28 → 14 → 7
        ((6,), 3, (10, 12, 3), (None, 10, 12, 6)),  # one stage: no pooling
    ],
)
def test_simple_cnn_shape(widths, convs, input_shape, expected):
    backbone = build_backbone("simple_cnn", input_shape, widths=widths, convs_per_stage=convs)
    assert backbone.output_shape == expected
    convolutions = [layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convolutions] == [w for w in widths for _ in range(convs)]
    assert not is_imagenet_style("simple_cnn")


def test_simple_cnn_rejects_empty_shapes():
    with pytest.raises(ValueError, match="at least one stage"):
        build_backbone("simple_cnn", (32, 32, 3), widths=())
    with pytest.raises(ValueError, match="convs_per_stage=0"):
        build_backbone("simple_cnn", (32, 32, 3), convs_per_stage=0)


def test_unknown_backbone_names_the_choices():
    with pytest.raises(ValueError, match="Received: backbone='vgg16'") as info:
        build_backbone("vgg16", (32, 32, 3))
    for name in ("simple_cnn", *KERAS_HUB):
        assert name in str(info.value)


def test_classification_head_maps_features_to_float32_logits():
    features = keras.Input((4, 4, 8))
    logits = classification_head(features, 5, dropout=0.5)
    model = keras.Model(features, logits)
    assert model.output_shape == (None, 5)
    assert model.get_layer("logits").dtype_policy.compute_dtype == "float32"
    assert any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
    # Pooling averages over space: a feature map constant in space gives the dense layer of that vector.
    vector = np.random.default_rng(0).normal(size=(1, 8)).astype("float32")
    kernel, bias = model.get_layer("logits").get_weights()
    out = model(np.broadcast_to(vector[:, None, None, :], (1, 4, 4, 8)), training=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), vector @ kernel + bias, rtol=1e-5, atol=1e-6)
    no_dropout = keras.Model(features, classification_head(features, 3, name="other"))
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in no_dropout.layers)
