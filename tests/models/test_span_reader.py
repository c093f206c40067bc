"""The span reader: logits only where an answer can be, padding invariance, the encoder sub-model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfapps.models.span_reader import span_reader

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
