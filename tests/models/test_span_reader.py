"""The span reader: logits only where an answer can be (whole words with continuation ids), padding
invariance, the encoder sub-model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfapps.models.span_reader import SpanLogits, continuation_piece_ids, span_reader

VOCAB, LENGTH = 30, 16
# [CLS] q q [SEP] c c c c [SEP] [PAD]...
IDS = np.array([[2, 7, 8, 3, 9, 7, 10, 11, 3] + [0] * 7], np.int32)
SEGMENTS = np.array([[0, 0, 0, 0, 1, 1, 1, 1, 1] + [0] * 7], np.int32)


def tiny_reader(**kw) -> keras.Model:
    return span_reader(VOCAB, LENGTH, hidden_dim=16, num_layers=1, num_heads=2, intermediate_dim=32, **kw)


def test_only_cls_and_context_tokens_can_start_or_end_an_answer():
    logits = tiny_reader()({"token_ids": IDS, "segment_ids": SEGMENTS}).numpy()
    assert logits.shape == (1, 2, LENGTH) and logits.dtype == np.float32
    allowed = np.zeros(LENGTH, bool)
    allowed[[0, 4, 5, 6, 7]] = True  # [CLS] and the four context pieces; not the final [SEP]
    assert (logits[0][:, ~allowed] == -1e4).all()
    assert (logits[0][:, allowed] > -1e3).all()


def test_padding_does_not_change_the_logits():
    model = tiny_reader(fusion_layers=2)
    full = model({"token_ids": IDS, "segment_ids": SEGMENTS}).numpy()
    cut = model({"token_ids": IDS[:, :9], "segment_ids": SEGMENTS[:, :9]}).numpy()
    np.testing.assert_allclose(full[:, :, :9], cut, rtol=1e-5, atol=1e-5)


def test_the_question_changes_the_context_logits():
    # The same context with another question: the fusion layers see which context tokens match.
    model = tiny_reader()
    other = IDS.copy()
    other[0, 1:3] = [10, 12]
    a = model({"token_ids": IDS, "segment_ids": SEGMENTS}).numpy()[0][:, 4:8]
    b = model({"token_ids": other, "segment_ids": SEGMENTS}).numpy()[0][:, 4:8]
    assert not np.allclose(a, b)


def test_encoder_is_a_named_sub_model_and_the_reader_round_trips(tmp_path):
    model = tiny_reader()
    assert model.get_layer("encoder").output.shape == (None, None, 16)
    path = tmp_path / "reader.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    feeds = {"token_ids": IDS, "segment_ids": SEGMENTS}
    np.testing.assert_array_equal(restored(feeds).numpy(), model(feeds).numpy())


def test_bad_arguments():
    with pytest.raises(ValueError, match="Received: fusion_layers=-1"):
        tiny_reader(fusion_layers=-1)
    with pytest.raises(ValueError, match="Received: dropout=1.5"):
        tiny_reader(dropout=1.5)


def _allowed(logits: np.ndarray) -> np.ndarray:
    """Bool `[2, L]` of the positions a span may start (row 0) and end (row 1) at."""
    return logits[0] > -1e3


def test_continuation_pieces_neither_start_nor_end_inside_a_word():
    # [CLS] q q [SEP] c ##c ##c c ##c [SEP]: ids 20 and 21 are continuation pieces.
    ids = np.array([[2, 7, 8, 3, 9, 20, 21, 10, 20, 3, 0, 0]], np.int32)
    segments = np.array([[0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0]], np.int32)
    logits = np.zeros((1, 12, 2), np.float32)
    layer = SpanLogits(continuation_ids=[20, 21], vocabulary_size=VOCAB)
    allowed = _allowed(layer(logits, ids, segments).numpy())
    # Words: positions 4-6 and 7-8; [CLS] (0) always stays.
    np.testing.assert_array_equal(np.flatnonzero(allowed[0]), [0, 4, 7])
    np.testing.assert_array_equal(np.flatnonzero(allowed[1]), [0, 6, 8])
    # Without continuation ids every context piece may start and end an answer.
    plain = _allowed(SpanLogits()(logits, ids, segments).numpy())
    np.testing.assert_array_equal(np.flatnonzero(plain[0]), [0, 4, 5, 6, 7, 8])
    np.testing.assert_array_equal(plain[0], plain[1])


def test_a_window_that_starts_inside_a_word_cannot_start_there_but_ends_at_its_last_piece():
    # The window's context begins with a continuation piece; its last piece is followed by [SEP].
    ids = np.array([[2, 7, 3, 20, 9, 21, 3]], np.int32)
    segments = np.array([[0, 0, 0, 1, 1, 1, 1]], np.int32)
    layer = SpanLogits(continuation_ids=[20, 21], vocabulary_size=VOCAB)
    allowed = _allowed(layer(np.zeros((1, 7, 2), np.float32), ids, segments).numpy())
    np.testing.assert_array_equal(np.flatnonzero(allowed[0]), [0, 4])
    np.testing.assert_array_equal(np.flatnonzero(allowed[1]), [0, 3, 5])


def test_span_logits_config_round_trips_and_checks_its_ids():
    layer = SpanLogits(continuation_ids=[21, 20, 20], vocabulary_size=VOCAB, name="spans")
    config = layer.get_config()
    assert config["continuation_ids"] == [20, 21] and config["vocabulary_size"] == VOCAB
    assert SpanLogits.from_config(config).continuation_ids == [20, 21]
    with pytest.raises(ValueError, match="Received: vocabulary_size=None"):
        SpanLogits(continuation_ids=[5])
    with pytest.raises(ValueError, match="Received: continuation_ids"):
        SpanLogits(continuation_ids=[VOCAB], vocabulary_size=VOCAB)


def test_continuation_piece_ids_are_the_double_hash_pieces():
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "#", "###", "in", "##6", "106"]
    assert continuation_piece_ids(vocabulary) == [6, 8]


def test_reader_with_continuation_ids_masks_inside_words_and_round_trips(tmp_path):
    ids = IDS.copy()
    ids[0, 6] = 20  # the third context piece continues the second
    model = tiny_reader(continuation_ids=[20])
    feeds = {"token_ids": ids, "segment_ids": SEGMENTS}
    allowed = _allowed(model(feeds).numpy())
    np.testing.assert_array_equal(np.flatnonzero(allowed[0]), [0, 4, 5, 7])
    np.testing.assert_array_equal(np.flatnonzero(allowed[1]), [0, 4, 6, 7])
    path = tmp_path / "reader.keras"
    model.save(path)
    np.testing.assert_array_equal(keras.saving.load_model(path)(feeds).numpy(), model(feeds).numpy())
