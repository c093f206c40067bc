"""Serving signature: a question and its context in; the answer text and its character offsets out.
Tokenization into windows, the reader and the best span across windows all run in the graph (core
TensorFlow and tensorflow-text ops)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfapps.apps.question_answering.data import featurizer
from tfapps.models.preprocessing.qa import best_spans, extract_answer
from tfapps.serving.export import Signature

__all__ = ["answer_fn", "sample_request", "serving_signatures"]


def answer_fn(model, config):
    """`question [B], context [B]` → `{answer [B], start [B], end [B], score [B]}`: the best span
    (character offsets `context[start:end]`) and its start + end logit; with `data.unanswerable`,
    `""` and -1 offsets when the null score wins."""
    layer = featurizer(config)
    s = config.serving

    def answer(question, context):
        features = layer(question, context)
        logits = model(
            {"token_ids": features["token_ids"], "segment_ids": features["segment_ids"]}, training=False
        )
        start, end, score = best_spans(
            logits[:, 0],
            logits[:, 1],
            features["token_start_char"],
            features["token_end_char"],
            features["example_index"],
            tf.shape(question)[0],
            max_answer_length=s.max_answer_length,
            allow_null=config.data.unanswerable,
            null_score_diff_threshold=s.null_score_diff_threshold,
        )
        return {"answer": extract_answer(context, start, end), "start": start, "end": end, "score": score}

    return answer


def serving_signatures(model, config) -> dict[str, Signature]:
    """`serving_default`: `question`, `context` strings `[None]` → `answer` string, `start`,
    `end` int32 (characters), `score` float32, all `[None]`."""
    answer = answer_fn(model, config)
    spec = {"question": tf.TensorSpec([None], tf.string), "context": tf.TensorSpec([None], tf.string)}
    return {"serving_default": Signature(answer, spec)}


def sample_request(config) -> dict[str, np.ndarray]:
    """Two questions, one with non-ASCII characters."""
    return {
        "question": np.array([b"Where does Alice live?", "Who runs the café?".encode()], dtype=object),
        "context": np.array(
            [b"Alice lives in Paris. Bob works in Rome.", "Zoë runs the café near the station.".encode()],
            dtype=object,
        ),
    }
