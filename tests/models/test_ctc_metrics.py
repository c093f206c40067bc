"""The greedy CTC word error rate metric against jiwer on the same decoded words."""

from __future__ import annotations

import jiwer
import numpy as np
import pytest
import tensorflow as tf

from tfapps.models.ctc_metrics import GreedyWordErrorRate, greedy_ctc_labels

ALPHABET = "abc "  # ids 0..3, blank = 4


def _logits_for(frames: list[int], classes: int = 5) -> np.ndarray:
    logits = np.full((len(frames), classes), -5.0, np.float32)
    logits[np.arange(len(frames)), frames] = 5.0
    return logits


def _spell(ids) -> str:
    return "".join(ALPHABET[i] for i in ids)


def _collapse(frames, blank=4):
    out, previous = [], None
    for f in frames:
        if f != previous and f != blank:
            out.append(f)
        previous = f
    return out


def test_greedy_labels_merge_repeats_and_drop_blanks():
    frames = [0, 0, 4, 0, 1, 1, 4, 4, 2, 3, 3]
    labels = greedy_ctc_labels(tf.constant(_logits_for(frames)[None]))
    assert labels.to_list() == [[0, 0, 1, 2, 3]]


def test_word_error_rate_matches_jiwer_on_random_batches():
    rng = np.random.default_rng(0)
    metric = GreedyWordErrorRate(vocabulary_size=4, separator_ids=[3])
    references_text, hypotheses_text = [], []
    for _ in range(4):
        batch_frames = [list(rng.integers(0, 5, size=12)) for _ in range(3)]
        batch_labels = [list(rng.integers(0, 4, size=int(rng.integers(1, 8)))) for _ in range(3)]
        # Every reference needs a word for jiwer; separators only inside.
        batch_labels = [[0, *labels, 1] for labels in batch_labels]
        longest = max(len(labels) for labels in batch_labels)
        y_true = np.array([labels + [-1] * (longest - len(labels)) for labels in batch_labels], np.int32)
        y_pred = np.stack([_logits_for(frames) for frames in batch_frames])
        metric.update_state(tf.constant(y_true), tf.constant(y_pred))
        references_text += [" ".join(_spell(labels).split()) for labels in batch_labels]
        hypotheses_text += [" ".join(_spell(_collapse(frames)).split()) for frames in batch_frames]
    expected = jiwer.wer(references_text, hypotheses_text)
    assert float(metric.result()) == pytest.approx(expected, abs=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_perfect_and_empty_hypotheses():
    metric = GreedyWordErrorRate(vocabulary_size=4, separator_ids=[3])
    y_true = tf.constant([[0, 1, 3, 2, -1]], tf.int32)  # "ab c": two words
    metric.update_state(y_true, tf.constant(_logits_for([0, 4, 1, 3, 2])[None]))
    assert float(metric.result()) == 0.0
    metric.update_state(y_true, tf.constant(_logits_for([4, 4, 4, 4, 4])[None]))
    assert float(metric.result()) == pytest.approx(2 / 4)  # two deletions out of four words


def test_word_start_ids_split_subword_pieces():
    # Pieces 0 and 2 start words ("▁a", "▁c"); 1 continues one: [0, 1, 2] = two words.
    metric = GreedyWordErrorRate(vocabulary_size=4, word_start_ids=[0, 2])
    y_true = tf.constant([[0, 1, 2]], tf.int32)
    metric.update_state(y_true, tf.constant(_logits_for([0, 1, 4, 0])[None]))  # words: "01", "0"
    assert float(metric.result()) == pytest.approx(1 / 2)


def test_bad_ids_and_config_round_trip():
    with pytest.raises(ValueError, match="Received: \\[7\\]"):
        GreedyWordErrorRate(vocabulary_size=4, separator_ids=[7])
    metric = GreedyWordErrorRate(vocabulary_size=4, separator_ids=[3], name="wer")
    clone = GreedyWordErrorRate.from_config(metric.get_config())
    assert clone.get_config() == metric.get_config()
