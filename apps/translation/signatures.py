"""Serving signatures: UTF-8 source texts in, translations out. Tokenization, beam search and
detokenization all run in the graph (core TensorFlow and tensorflow-text's SentencePiece ops)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfapps.apps.translation.data import tokenizers
from tfapps.models.seq2seq import beam_search, greedy_decode
from tfapps.serving.export import Signature

__all__ = ["sample_request", "serving_signatures", "translate_fn"]


def translate_fn(model, config, layers=None):
    """`text [B]` → `{translations [B, N], scores [B, N]}`: the N = `serving.beam_size` best
    translations (best first) and their length-normalised log-probabilities. `layers`: the
    (source, target) tokenizers to use; built from the config when omitted."""
    source_layer, target_layer = layers or tokenizers(config)
    s = config.serving
    limit = config.data.target_sequence_length

    def translate(text):
        source_ids = source_layer(text)
        lengths = tf.reduce_sum(tf.cast(source_ids != 0, tf.int32), axis=1)
        # The batch's longest source decides how long the translations may grow.
        source_ids = source_ids[:, : tf.maximum(tf.reduce_max(lengths), 1)]
        max_length = tf.minimum(tf.reduce_max(lengths) + s.max_extra_tokens, limit)
        if s.beam_size == 1:
            ids, scores = greedy_decode(model, source_ids, max_length)
            ids, scores = ids[:, tf.newaxis, :], scores[:, tf.newaxis]
        else:
            ids, scores = beam_search(
                model,
                source_ids,
                beam_size=s.beam_size,
                max_length=max_length,
                length_penalty=s.length_penalty,
            )
        batch = tf.shape(ids)[0]
        flat = tf.reshape(ids, tf.stack([-1, tf.shape(ids)[2]]))
        texts = tf.reshape(target_layer.detokenize(flat), tf.stack([batch, tf.shape(ids)[1]]))
        return {"translations": texts, "scores": scores}

    return translate


def serving_signatures(model, config) -> dict[str, Signature]:
    """`serving_default`: `text` string `[None]` → `translation` string `[None]` (the best beam);
    `nbest`: `text` → `translations` `[None, N]` and `scores` `[None, N]`, best first."""
    layers = tokenizers(config)
    translate = translate_fn(model, config, layers)
    spec = {"text": tf.TensorSpec([None], tf.string)}

    def best(text):
        return {"translation": translate(text)["translations"][:, 0]}

    # The SentencePiece layers own TF resources outside the model: the export must track them.
    return {
        "serving_default": Signature(best, spec, resources=layers),
        "nbest": Signature(lambda text: translate(text), spec, resources=layers),
    }


def sample_request(config) -> dict[str, np.ndarray]:
    """Two short sentences, one with non-ASCII characters."""
    return {"text": np.array([b"A man sees a dog.", "The café is small.".encode()], dtype=object)}
