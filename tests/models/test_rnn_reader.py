"""The DrQA-style reader: span logits only where an answer can be, padding and batch invariance, the
question reaching the context logits, its layers' masking, and the `.keras` round trip."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfapps.models.rnn_reader import (
    AlignedQuestionEmbedding,
    LeadingTokens,
    ReaderMasks,
    SelfAttentivePooling,
    drqa_reader,
)

VOCAB, LENGTH = 30, 16
# [CLS] q q [SEP] c c c c [SEP] [PAD]...; id 1 is [UNK], a real token on either side.
IDS = np.array([[2, 7, 1, 3, 9, 7, 10, 11, 3] + [0] * 7], np.int32)
SEGMENTS = np.array([[0, 0, 0, 0, 1, 1, 1, 1, 1] + [0] * 7], np.int32)
# A second window with a longer question and a shorter context.
IDS_2 = np.array([[2, 12, 13, 14, 15, 3, 12, 16, 3] + [0] * 7], np.int32)
SEGMENTS_2 = np.array([[0, 0, 0, 0, 0, 0, 1, 1, 1] + [0] * 7], np.int32)


def tiny_reader(**kw) -> keras.Model:
    kw = {"embedding_dim": 8, "rnn_units": 6, "rnn_layers": 2, "dropout": 0.3, **kw}
    return drqa_reader(VOCAB, LENGTH, **kw)


def _feeds(ids, segments):
    return {"token_ids": ids, "segment_ids": segments}


def test_only_cls_and_context_tokens_can_start_or_end_an_answer():
    logits = tiny_reader()(_feeds(IDS, SEGMENTS)).numpy()
    assert logits.shape == (1, 2, LENGTH) and logits.dtype == np.float32
    allowed = np.zeros(LENGTH, bool)
    allowed[[0, 4, 5, 6, 7]] = True  # [CLS] and the four context pieces; not the final [SEP]
    assert (logits[0][:, ~allowed] == -1e4).all()
    assert (logits[0][:, allowed] > -1e3).all()


def test_continuation_pieces_neither_start_nor_end_an_answer():
    logits = tiny_reader(continuation_ids=[10])(_feeds(IDS, SEGMENTS)).numpy()[0]
    np.testing.assert_array_equal(np.flatnonzero(logits[0] > -1e3), [0, 4, 5, 7])
    np.testing.assert_array_equal(np.flatnonzero(logits[1] > -1e3), [0, 4, 6, 7])


def test_padding_and_the_rest_of_the_batch_do_not_change_the_logits():
    model = tiny_reader(rnn_layers=3)
    alone = model(_feeds(IDS[:, :9], SEGMENTS[:, :9])).numpy()
    padded = model(_feeds(IDS, SEGMENTS)).numpy()
    np.testing.assert_allclose(padded[:, :, :9], alone, rtol=1e-5, atol=1e-5)
    # In a batch with another window (longer question: the question encoder's steps change).
    both = model(_feeds(np.concatenate([IDS, IDS_2]), np.concatenate([SEGMENTS, SEGMENTS_2]))).numpy()
    np.testing.assert_allclose(both[:1], padded, rtol=1e-5, atol=1e-5)


def test_the_question_changes_the_context_logits():
    model = tiny_reader()
    other = IDS.copy()
    other[0, 1:3] = [10, 12]
    a = model(_feeds(IDS, SEGMENTS)).numpy()[0][:, 4:8]
    b = model(_feeds(other, SEGMENTS)).numpy()[0][:, 4:8]
    assert not np.allclose(a, b)


def test_dropout_only_in_training():
    model = tiny_reader(dropout=0.5)
    feeds = _feeds(IDS, SEGMENTS)
    np.testing.assert_array_equal(model(feeds).numpy(), model(feeds).numpy())
    assert not np.allclose(model(feeds, training=True).numpy(), model(feeds, training=True).numpy())


def test_reader_round_trips(tmp_path):
    model = tiny_reader(continuation_ids=[10, 11])
    path = tmp_path / "reader.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    feeds = _feeds(np.concatenate([IDS, IDS_2]), np.concatenate([SEGMENTS, SEGMENTS_2]))
    np.testing.assert_array_equal(restored(feeds).numpy(), model(feeds).numpy())


def test_masks_split_question_and_context_tokens():
    question, context = ReaderMasks()(IDS, SEGMENTS)
    assert np.flatnonzero(question.numpy()[0]).tolist() == [1, 2]
    assert np.flatnonzero(context.numpy()[0]).tolist() == [4, 5, 6, 7]


def test_leading_tokens_cut_after_the_batchs_last_question_token():
    x = np.arange(2 * 6 * 1, dtype=np.float32).reshape(2, 6, 1)
    mask = np.array([[0, 1, 1, 0, 0, 0], [0, 1, 1, 1, 0, 0]], bool)
    cut, cut_mask = LeadingTokens()(x, mask)
    np.testing.assert_array_equal(cut.numpy(), x[:, :4])
    np.testing.assert_array_equal(cut_mask.numpy(), mask[:, :4])
    # No question token anywhere: one position is kept.
    assert LeadingTokens()(x, np.zeros_like(mask))[0].shape == (2, 1, 1)


def test_attention_layers_use_only_the_masked_in_positions():
    rng = np.random.default_rng(0)
    context = rng.normal(size=(2, 5, 4)).astype(np.float32)
    question = rng.normal(size=(2, 3, 4)).astype(np.float32)
    mask = np.array([[1, 1, 0], [0, 0, 0]], bool)
    changed = question.copy()
    changed[0, 2] += 100.0  # a masked-out position
    aligned_layer = AlignedQuestionEmbedding(6)
    aligned = aligned_layer(context, question, mask).numpy()
    np.testing.assert_allclose(aligned_layer(context, changed, mask).numpy(), aligned, atol=1e-6)
    np.testing.assert_array_equal(aligned[1], 0.0)  # no question token
    assert AlignedQuestionEmbedding.from_config(aligned_layer.get_config()).units == 6
    pooling = SelfAttentivePooling()
    pooled = pooling(question, mask).numpy()
    np.testing.assert_allclose(pooling(changed, mask).numpy(), pooled, atol=1e-6)
    np.testing.assert_array_equal(pooled[1], 0.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="Received: rnn_layers=0"):
        tiny_reader(rnn_layers=0)
    with pytest.raises(ValueError, match="Received: dropout=1.5"):
        tiny_reader(dropout=1.5)
