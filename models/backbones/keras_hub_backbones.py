"""keras-hub backbones built from their architecture configs (no preset download).

The configs follow the published architectures (ResNet-18/50 v1, EfficientNet-B0,
MobileNetV3-Small) so that a user's locally saved keras-hub weights of the same architecture load
with `train.init_weights=PATH`.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import keras_hub

__all__ = ["KERAS_HUB_BACKBONES"]


def _resnet18(input_shape: tuple[int, int, int]) -> keras.Model:
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=[2, 2, 2, 2],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block",
        image_shape=input_shape,
    )


def _resnet50(input_shape: tuple[int, int, int]) -> keras.Model:
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=[3, 4, 6, 3],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="bottleneck_block",
        image_shape=input_shape,
    )


def _efficientnet_b0(input_shape: tuple[int, int, int]) -> keras.Model:
    return keras_hub.models.EfficientNetBackbone(
        stackwise_width_coefficients=[1.0] * 7,
        stackwise_depth_coefficients=[1.0] * 7,
        stackwise_kernel_sizes=[3, 3, 5, 3, 5, 5, 3],
        stackwise_num_repeats=[1, 2, 2, 3, 3, 4, 1],
        stackwise_input_filters=[32, 16, 24, 40, 80, 112, 192],
        stackwise_output_filters=[16, 24, 40, 80, 112, 192, 320],
        stackwise_expansion_ratios=[1, 6, 6, 6, 6, 6, 6],
        stackwise_squeeze_and_excite_ratios=[0.25] * 7,
        stackwise_strides=[1, 2, 2, 2, 1, 2, 1],
        stackwise_block_types=["v1"] * 7,
        input_shape=input_shape,
    )


def _mobilenet_v3_small(input_shape: tuple[int, int, int]) -> keras.Model:
    return keras_hub.models.MobileNetBackbone(
        stackwise_expansion=[[72, 88], [96, 240, 240], [120, 144], [288, 576, 576]],
        stackwise_num_blocks=[2, 3, 2, 3],
        stackwise_num_filters=[[24, 24], [40, 40, 40], [48, 48], [96, 96, 96]],
        stackwise_kernel_size=[[3, 3], [5, 5, 5], [5, 5], [5, 5, 5]],
        stackwise_num_strides=[[2, 1], [2, 1, 1], [1, 1], [2, 1, 1]],
        stackwise_se_ratio=[[None, None], [0.25, 0.25, 0.25], [0.25, 0.25], [0.25, 0.25, 0.25]],
        stackwise_activation=[
            ["relu", "relu"],
            ["hard_swish"] * 3,
            ["hard_swish"] * 2,
            ["hard_swish"] * 3,
        ],
        stackwise_padding=[[1, 1], [2, 2, 2], [2, 2], [2, 2, 2]],
        output_num_filters=576,
        depthwise_filters=16,
        depthwise_stride=2,
        depthwise_residual=False,
        last_layer_filter=288,
        squeeze_and_excite=0.5,
        input_activation="hard_swish",
        output_activation="hard_swish",
        input_num_filters=16,
        image_shape=input_shape,
    )


KERAS_HUB_BACKBONES: dict[str, Callable[[tuple[int, int, int]], keras.Model]] = {
    "resnet18": _resnet18,
    "resnet50": _resnet50,
    "efficientnet_b0": _efficientnet_b0,
    "mobilenet_v3_small": _mobilenet_v3_small,
}
