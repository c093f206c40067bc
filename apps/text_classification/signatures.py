"""Serving signature: UTF-8 texts in; probabilities, best labels and scores out. Tokenization runs
in the graph with the training data's `WordPieceTokenizer` (tensorflow-text ops, which stock
`tensorflow_model_server` links in)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfapps.apps.text_classification.data import tokenizer
from tfapps.models.text_encoders import mean_member_probabilities
from tfapps.serving.export import Signature

__all__ = ["classify_fn", "sample_request", "serving_signatures"]


def classify_fn(model, config):
    """`text [B]` → `{probabilities [B, K], labels [B, k], scores [B, k]}`; probabilities are a
    softmax (single-label) or independent sigmoids (multi-label), averaged over the members of an
    ensemble."""
    layer = tokenizer(config)
    class_names = tf.constant(list(config.data.class_names))
    top_k = min(config.serving.top_k, len(config.data.class_names))
    multi_label = config.data.multi_label
    ensemble = config.model.architecture == "ensemble"
    activation = tf.nn.sigmoid if multi_label else tf.nn.softmax

    def classify(text):
        outputs = tf.cast(model(layer(text), training=False), tf.float32)
        if ensemble:  # member logits [B, M, K]: average the members' probabilities
            probabilities = mean_member_probabilities(outputs, multi_label=multi_label)
        else:
            probabilities = activation(outputs)
        scores, indices = tf.math.top_k(probabilities, k=top_k)
        return {"probabilities": probabilities, "labels": tf.gather(class_names, indices), "scores": scores}

    return classify


def serving_signatures(model, config) -> dict[str, Signature]:
    """`serving_default`: `text` string `[None]` → `probabilities` `[None, K]`, `labels` and
    `scores` `[None, k]` (best first)."""
    classify = classify_fn(model, config)
    return {
        "serving_default": Signature(lambda text: classify(text), {"text": tf.TensorSpec([None], tf.string)})
    }


def sample_request(config) -> dict[str, np.ndarray]:
    """Two short texts, one with non-ASCII characters."""
    return {"text": np.array([b"a short example text", "café crème, très bon !".encode()], dtype=object)}
