"""CenterNet ("Objects as Points") detection head: targets, loss and in-graph decoding.

An anchor-free one-stage detector: every object is the peak of a per-class heatmap at its centre
cell, with its size and sub-cell offset regressed at that cell. Everything here is stock TensorFlow
ops, so `encode_targets` runs inside `tf.data` and `decode_detections` inside an exported
SavedModel served by stock `tensorflow_model_server`.

Conventions (shared by all functions in this module):

- Boxes are float32 `[ymin, xmin, ymax, xmax]` in pixels of the model's *input* image; classes are
  int32 `0..num_classes-1`. The head's output grid has `stride` input pixels per cell, and cell
  `(i, j)` covers input pixels `[i * stride, (i + 1) * stride)` vertically (likewise horizontally).
- Head output `[batch, h, w, num_classes + 4]`: channels `0..C-1` heatmap logits, `C..C+1`
  `log(height / stride), log(width / stride)`, `C+2..C+3` the centre's offset within its cell
  `(dy, dx)`, regressed directly (no sigmoid; the target is in `[0, 1)`), as in the paper.
- Targets `[h, w, num_classes + 5]`: the same layout with Gaussian heatmaps instead of logits,
  plus a last channel, the mask: 1.0 at the centre cell of each real object, 0 elsewhere.
- A box decodes as centre `((i + dy) * stride, (j + dx) * stride)` and size
  `(exp(log_h) * stride, exp(log_w) * stride)`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfapps.models.checks import check_positive_int

__all__ = [
    "HEATMAP_PRIOR_BIAS",
    "CenterNetLoss",
    "centernet_head",
    "decode_detections",
    "encode_targets",
    "gaussian_radius",
]

# log(0.1 / 0.9) rounded as in the paper: every cell starts at a 10% object probability, so the
# focal loss of the many empty cells does not swamp the first steps (RetinaNet's prior).
HEATMAP_PRIOR_BIAS = -2.19


def centernet_head(features, num_classes: int, head_channels: int = 64, name: str = "centernet"):
    """Add the CenterNet heatmap, size and offset branches to a feature map.

    Each branch is a 3x3 convolution with `head_channels` filters and ReLU, then a 1x1 convolution.
    The 1x1 convolutions run in float32 even under mixed precision, so the output is float32.

    Args:
        features: feature map `[batch, h, w, channels]`, `stride` input pixels per cell.
        num_classes: number of object classes `C`.
        head_channels: width of each branch's hidden 3x3 convolution.
        name: prefix of the branch layers and the name of the output (concatenation) layer.

    Returns:
        float32 tensor `[batch, h, w, C + 4]`: heatmap logits (`C`), `log(size / stride)` as
        (height, width), and the centre offset within the cell (dy, dx). See the module docstring.

    Raises:
        ValueError: when `num_classes` or `head_channels` is not a positive integer.

    Example:
        >>> inputs = keras.Input((256, 256, 3))
        >>> features = backbone(inputs)                       # [B, 64, 64, F], stride 4
        >>> outputs = centernet_head(features, num_classes=3)  # [B, 64, 64, 7]
    """
    check_positive_int(num_classes=num_classes, head_channels=head_channels)

    def branch(x, branch_name, units, bias_initializer):
        x = keras.layers.Conv2D(
            head_channels, 3, padding="same", activation="relu", name=f"{name}_{branch_name}_conv"
        )(x)
        return keras.layers.Conv2D(
            units,
            1,
            bias_initializer=bias_initializer,
            dtype="float32",
            name=f"{name}_{branch_name}",
        )(x)

    heatmap = branch(features, "heatmap", num_classes, keras.initializers.Constant(HEATMAP_PRIOR_BIAS))
    size = branch(features, "size", 2, "zeros")
    offset = branch(features, "offset", 2, "zeros")
    return keras.layers.Concatenate(axis=-1, dtype="float32", name=name)([heatmap, size, offset])


def gaussian_radius(height, width, min_overlap=0.7):
    """CornerNet's Gaussian radius: how far a corner may move and keep IoU >= `min_overlap`.

    Follows the reference implementation used by CornerNet and CenterNet (the smallest of the
    three quadratic cases, with their `(b + sqrt(b^2 - 4ac)) / 2` root), so targets match
    published models.

    Args:
        height: box heights, any shape (usually in output-grid cells).
        width: box widths, same shape as `height`.
        min_overlap: the IoU a box shifted by the radius still has with the original.

    Returns:
        float32 tensor of radii, the shape of `height` (not rounded).
    """
    height = tf.cast(height, tf.float32)
    width = tf.cast(width, tf.float32)
    min_overlap = tf.cast(min_overlap, tf.float32)
    area = height * width

    b1 = height + width
    c1 = area * (1.0 - min_overlap) / (1.0 + min_overlap)
    r1 = (b1 + tf.sqrt(tf.maximum(b1**2 - 4.0 * c1, 0.0))) / 2.0

    a2 = 4.0
    b2 = 2.0 * (height + width)
    c2 = (1.0 - min_overlap) * area
    r2 = (b2 + tf.sqrt(tf.maximum(b2**2 - 4.0 * a2 * c2, 0.0))) / 2.0

    a3 = 4.0 * min_overlap
    b3 = -2.0 * min_overlap * (height + width)
    c3 = (min_overlap - 1.0) * area
    r3 = (b3 + tf.sqrt(tf.maximum(b3**2 - 4.0 * a3 * c3, 0.0))) / 2.0
    return tf.minimum(tf.minimum(r1, r2), r3)


def encode_targets(
    boxes,
    classes,
    num_boxes,
    output_size: tuple[int, int],
    stride: int,
    num_classes: int,
    min_radius: int = 0,
):
    """Build the CenterNet training target of one image (graph-safe, for `tf.data` maps).

    Each real object puts a Gaussian on its class's heatmap, centred on the cell that holds its
    centre (exactly 1.0 there), with radius `max(min_radius, floor(gaussian_radius(ceil(h / stride),
    ceil(w / stride), 0.7)))`, sigma `(2 * radius + 1) / 6`, cut off beyond the radius; objects of
    one class combine by element-wise maximum. The centre cell also gets the size target
    `log(h / stride), log(w / stride)`, the offset target `centre / stride - floor(centre / stride)`
    and mask 1. Vectorised over objects; no Python loop over boxes.

    Ignored objects: padding (index >= `num_boxes`), boxes with zero or negative height or width,
    centres outside the grid, classes outside `0..num_classes-1`. When two kept objects share a
    centre cell, the later one's size and offset win (the heatmap keeps both).

    Args:
        boxes: float `[N, 4]` `[ymin, xmin, ymax, xmax]` in input pixels, padded.
        classes: int `[N]` class ids, padded like `boxes`.
        num_boxes: scalar int, how many leading rows of `boxes` are real.
        output_size: `(h, w)` of the head's output grid.
        stride: input pixels per output cell.
        num_classes: number of classes `C`.
        min_radius: smallest Gaussian radius in cells.

    Returns:
        float32 tensor `[h, w, C + 5]`: heatmaps (`C`), size (2), offset (2), mask (1).

    Raises:
        ValueError: for a bad `output_size`, `stride`, `num_classes` or `min_radius`.
    """
    if len(output_size) != 2:
        raise ValueError(f"output_size must be (height, width). Received: output_size={output_size!r}")
    out_h, out_w = (int(s) for s in output_size)
    check_positive_int(output_height=out_h, output_width=out_w, stride=stride, num_classes=num_classes)
    if isinstance(min_radius, bool) or not isinstance(min_radius, int) or min_radius < 0:
        raise ValueError(f"min_radius must be an integer >= 0. Received: min_radius={min_radius!r}")

    boxes = tf.reshape(tf.cast(boxes, tf.float32), [-1, 4])
    classes = tf.reshape(tf.cast(classes, tf.int32), [-1])
    scale = float(stride)

    ymin, xmin, ymax, xmax = tf.unstack(boxes, 4, axis=-1)
    height = ymax - ymin
    width = xmax - xmin
    centre_y = (ymin + ymax) / (2.0 * scale)  # in output cells
    centre_x = (xmin + xmax) / (2.0 * scale)
    cell_y = tf.floor(centre_y)
    cell_x = tf.floor(centre_x)

    # Comparisons are False for NaN, so NaN boxes drop out too.
    valid = tf.range(tf.shape(boxes)[0]) < tf.cast(num_boxes, tf.int32)
    valid &= (height > 0.0) & (width > 0.0)
    valid &= (cell_y >= 0.0) & (cell_y < out_h) & (cell_x >= 0.0) & (cell_x < out_w)
    valid &= (classes >= 0) & (classes < num_classes)

    height, width, centre_y, centre_x, cell_y, cell_x, classes = (
        tf.boolean_mask(t, valid) for t in (height, width, centre_y, centre_x, cell_y, cell_x, classes)
    )

    # Heatmaps: a separable Gaussian per object [M, h, w], then a max per class.
    radius = tf.floor(gaussian_radius(tf.math.ceil(height / scale), tf.math.ceil(width / scale), 0.7))
    radius = tf.maximum(radius, float(min_radius))
    sigma = (2.0 * radius + 1.0) / 6.0

    def profile(cells, centre_cells):
        d = tf.range(cells, dtype=tf.float32)[None, :] - centre_cells[:, None]  # [M, cells]
        inside = tf.cast(tf.abs(d) <= radius[:, None], tf.float32)
        return tf.exp(-(d * d) / (2.0 * sigma[:, None] ** 2)) * inside

    gaussians = profile(out_h, cell_y)[:, :, None] * profile(out_w, cell_x)[:, None, :]
    # Classes without objects come back as the lowest float; clamp them to 0.
    heatmap = tf.maximum(tf.math.unsorted_segment_max(gaussians, classes, num_classes), 0.0)
    heatmap = tf.transpose(heatmap, [1, 2, 0])  # [h, w, C]

    # Regression targets at centre cells; unique cells so scatter_nd sums nothing (last one wins).
    cells = tf.cast(tf.stack([cell_y, cell_x], axis=-1), tf.int32)  # [M, 2]
    linear = cells[:, 0] * out_w + cells[:, 1]
    order = tf.range(tf.shape(linear)[0])
    shadowed = tf.reduce_any((linear[:, None] == linear[None, :]) & (order[None, :] > order[:, None]), axis=1)
    keep = tf.logical_not(shadowed)
    values = tf.stack(
        [
            tf.math.log(height / scale),
            tf.math.log(width / scale),
            centre_y - cell_y,
            centre_x - cell_x,
            tf.ones_like(height),
        ],
        axis=-1,
    )
    regression = tf.scatter_nd(tf.boolean_mask(cells, keep), tf.boolean_mask(values, keep), [out_h, out_w, 5])
    targets = tf.concat([heatmap, regression], axis=-1)
    targets.set_shape([out_h, out_w, num_classes + 5])
    return targets


@keras.saving.register_keras_serializable(package="tfapps")
class CenterNetLoss(keras.losses.Loss):
    """CenterNet loss: penalty-reduced focal loss on heatmaps plus L1 on size and offset.

    Per image, with `n = max(1, number of objects)` (the sum of the target mask):

    - heatmap: `-(1/n) * sum[pos: (1-p)^2 log p; other cells: (1-y)^4 p^2 log(1-p)]`, `p =
      sigmoid(logit)`, `alpha = 2`, `beta = 4`, positives where the target is exactly 1.0; the
      logs come from `log_sigmoid` of the logits, so saturated logits stay finite;
    - size: L1 between predicted and target `log(size / stride)` at centre cells, averaged over
      objects and the two channels;
    - offset: L1 between the raw predicted offset (no sigmoid) and the target in `[0, 1)`,
      averaged the same way.

    `call` returns one value per image `[batch]`; the default `sum_over_batch_size` reduction then
    averages over the batch, and Keras scales it for `tf.distribute` replicas.

    Args:
        num_classes: number of classes `C`.
        size_weight: weight of the size term.
        offset_weight: weight of the offset term.
        name, reduction, dtype: as for `keras.losses.Loss`.

    Call arguments:
        y_true: `[batch, h, w, C + 5]` targets from `encode_targets`.
        y_pred: `[batch, h, w, C + 4]` output of `centernet_head`.

    Returns:
        The reduced loss (a scalar with the default reduction).
    """

    def __init__(
        self,
        num_classes: int,
        size_weight: float = 0.1,
        offset_weight: float = 1.0,
        name: str = "centernet_loss",
        reduction: str | None = "sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        check_positive_int(num_classes=num_classes)
        self.num_classes = int(num_classes)
        self.size_weight = float(size_weight)
        self.offset_weight = float(offset_weight)

    def call(self, y_true, y_pred):
        c = self.num_classes
        y_true = tf.cast(y_true, tf.float32)
        y_pred = tf.cast(y_pred, tf.float32)
        target_heatmap = y_true[..., :c]
        mask = y_true[..., c + 4 : c + 5]
        logits = y_pred[..., :c]
        num_objects = tf.maximum(tf.reduce_sum(mask, axis=[1, 2, 3]), 1.0)  # [B]

        prob = tf.sigmoid(logits)
        positive = tf.cast(tf.equal(target_heatmap, 1.0), tf.float32)
        pos_loss = tf.square(1.0 - prob) * tf.math.log_sigmoid(logits) * positive
        neg_loss = (
            tf.square(prob)
            * tf.math.log_sigmoid(-logits)
            * tf.pow(1.0 - target_heatmap, 4.0)
            * (1.0 - positive)
        )
        heatmap_loss = -tf.reduce_sum(pos_loss + neg_loss, axis=[1, 2, 3]) / num_objects

        def l1(pred, target):
            # Zero the error, not just weight it: predictions off the centre cells may be inf.
            error = tf.where(mask > 0.0, tf.abs(pred - target), 0.0)
            return tf.reduce_sum(error, axis=[1, 2, 3]) / (2.0 * num_objects)

        size_loss = l1(y_pred[..., c : c + 2], y_true[..., c : c + 2])
        offset_loss = l1(y_pred[..., c + 2 : c + 4], y_true[..., c + 2 : c + 4])
        return heatmap_loss + self.size_weight * size_loss + self.offset_weight * offset_loss

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "size_weight": self.size_weight,
            "offset_weight": self.offset_weight,
        }


def decode_detections(
    head_output,
    num_classes: int,
    stride: int,
    max_detections: int = 100,
    score_threshold: float = 0.05,
    nms_iou_threshold: float = 0.5,
) -> dict:
    """Turn head outputs into boxes, scores and classes (graph-safe, any batch size).

    Peaks are cells whose heatmap equals its 3x3 max-pool (pooled on the logits, which ranks
    cells exactly like the sigmoid but without ties where the sigmoid saturates); the
    `max_detections` best peaks over all cells and classes are decoded (see the module docstring),
    clipped to the input image `(h * stride, w * stride)`, and filtered by class-wise NMS
    (`tf.image.combined_non_max_suppression`) and `score > score_threshold`.

    Args:
        head_output: `[batch, h, w, C + 4]` output of `centernet_head`.
        num_classes: number of classes `C`.
        stride: input pixels per output cell.
        max_detections: `K`, detections per image (the output is padded to it).
        score_threshold: lowest score kept (exclusive), in sigmoid units.
        nms_iou_threshold: IoU above which a lower-scored box of the same class is dropped.

    Returns:
        dict with `boxes` float32 `[batch, K, 4]` (`[ymin, xmin, ymax, xmax]` input pixels),
        `scores` float32 `[batch, K]`, `classes` int32 `[batch, K]` and `num_detections` int32
        `[batch]`. Detections are sorted by score; rows past `num_detections` are zeros.

    Raises:
        ValueError: for bad integer arguments or a last dimension other than `C + 4`.
    """
    check_positive_int(num_classes=num_classes, stride=stride, max_detections=max_detections)
    head_output = tf.convert_to_tensor(head_output)
    channels = head_output.shape[-1]
    if channels is not None and channels != num_classes + 4:
        raise ValueError(
            "head_output must have num_classes + 4 channels. "
            f"Received: head_output.shape={head_output.shape}, num_classes={num_classes}"
        )
    head_output = tf.cast(head_output, tf.float32)
    shape = tf.shape(head_output)
    batch, out_h, out_w = shape[0], shape[1], shape[2]

    logits = head_output[..., :num_classes]
    pooled = tf.nn.max_pool2d(logits, ksize=3, strides=1, padding="SAME")
    peaks = tf.where(tf.equal(logits, pooled), tf.sigmoid(logits), 0.0)

    flat = tf.reshape(peaks, [batch, -1])
    k = tf.minimum(max_detections, out_h * out_w * num_classes)
    scores, index = tf.math.top_k(flat, k=k)  # [B, k]
    cell = index // num_classes
    label = index % num_classes
    row = tf.cast(cell // out_w, tf.float32)
    col = tf.cast(cell % out_w, tf.float32)

    regression = tf.reshape(head_output[..., num_classes:], [batch, -1, 4])
    regression = tf.gather(regression, cell, batch_dims=1)  # [B, k, 4]
    scale = float(stride)
    image_h = tf.cast(out_h, tf.float32) * scale
    image_w = tf.cast(out_w, tf.float32) * scale
    # Any log-size above this already covers the whole image; the cap keeps exp finite.
    max_log_size = tf.math.log(2.0 * tf.cast(tf.maximum(out_h, out_w), tf.float32))
    size = tf.exp(tf.minimum(regression[..., 0:2], max_log_size)) * scale
    centre_y = (row + regression[..., 2]) * scale
    centre_x = (col + regression[..., 3]) * scale
    boxes = tf.stack(
        [
            tf.clip_by_value(centre_y - size[..., 0] / 2.0, 0.0, image_h),
            tf.clip_by_value(centre_x - size[..., 1] / 2.0, 0.0, image_w),
            tf.clip_by_value(centre_y + size[..., 0] / 2.0, 0.0, image_h),
            tf.clip_by_value(centre_x + size[..., 1] / 2.0, 0.0, image_w),
        ],
        axis=-1,
    )

    # One box per candidate, scored only in its own class: NMS then runs within each class.
    class_scores = tf.one_hot(label, num_classes, dtype=tf.float32) * scores[..., None]
    nmsed_boxes, nmsed_scores, nmsed_classes, valid = tf.image.combined_non_max_suppression(
        boxes[:, :, None, :],
        class_scores,
        max_output_size_per_class=max_detections,
        max_total_size=max_detections,
        iou_threshold=nms_iou_threshold,
        score_threshold=score_threshold,
        pad_per_class=False,
        clip_boxes=False,
    )
    return {
        "boxes": nmsed_boxes,
        "scores": nmsed_scores,
        "classes": tf.cast(nmsed_classes, tf.int32),
        "num_detections": tf.cast(valid, tf.int32),
    }
