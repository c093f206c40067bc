"""Graph helpers shared by the tokenizer layers (`preprocessing.text`, `preprocessing.subword`):
checking their string input and replacing invalid UTF-8 before it reaches a tokenizer kernel.

Core TensorFlow ops only, so they run in tf.data maps and in SavedModels served by stock
`tensorflow_model_server`.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["checked_string_vector", "replace_invalid_utf8"]


def checked_string_vector(texts, layer_name: str) -> tf.Tensor:
    """`texts` as a string tensor `[batch]`, the input every tokenizer layer takes.

    Args:
        texts: a string tensor, or anything `tf.convert_to_tensor` takes (a list of `str`).
        layer_name: the calling layer's class name, for the messages.

    Returns:
        The string tensor (its batch size may be unknown while tracing).

    Raises:
        ValueError: `texts` are not strings, or not a vector.
    """
    texts = tf.convert_to_tensor(texts)
    if texts.dtype != tf.string:
        raise ValueError(f"{layer_name} expects strings. Received: dtype={texts.dtype.name}")
    if texts.shape.rank is not None and texts.shape.rank != 1:
        raise ValueError(f"{layer_name} expects a vector of strings [batch]. Received: shape={texts.shape}")
    return texts


def replace_invalid_utf8(texts: tf.Tensor) -> tf.Tensor:
    """`texts` with every invalid UTF-8 sequence replaced by U+FFFD.

    The tokenizers' kernels fail on invalid UTF-8; replacing it first means one bad string (of a
    training batch, or of a serving request) changes only its own tokens instead of failing the
    whole batch.

    Args:
        texts: a string tensor of any shape.

    Returns:
        A string tensor of the same shape, valid UTF-8.
    """
    return tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
