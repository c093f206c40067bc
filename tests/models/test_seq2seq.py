"""The encoder-decoder Transformer, its loss and metric, and in-graph greedy and beam-search decoding."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tfapps.models.seq2seq import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    MaskedSparseCrossentropy,
    MaskedTokenAccuracy,
    beam_search,
    greedy_decode,
    masked_sparse_crossentropy,
    masked_token_accuracy,
    transformer_seq2seq,
)

TINY = {"hidden_dim": 32, "num_layers": 2, "num_heads": 2, "intermediate_dim": 64, "dropout": 0.0}
VOCAB = 24
LENGTH = 10
# The tiny vocabulary of the brute-force tests: <pad> <unk> <s> </s> and two words. Decoding never
# emits <pad> or <s>, so it chooses among 1, 3 (</s>), 4 and 5.
SMALL_VOCAB = 6
SMALL_WORDS = (1, 4, 5)


def tiny_model(vocabulary_size: int = VOCAB, seed: int = 0, **kwargs) -> keras.Model:
    keras.utils.set_random_seed(seed)
    config = {**TINY, "share_embeddings": True, **kwargs}
    return transformer_seq2seq(vocabulary_size, vocabulary_size, LENGTH, LENGTH, **config)


def pack(tokens, length: int, start=(), end=()) -> np.ndarray:
    row = [*start, *tokens, *end]
    return np.array(row + [PAD_ID] * (length - len(row)), "int32")


def sources(num: int, seed: int, words=range(4, VOCAB), length: int = 6) -> np.ndarray:
    """`num` sources `words... </s> <pad>...` of 1 to `length - 1` words."""
    rng = np.random.default_rng(seed)
    rows = [rng.choice(list(words), rng.integers(1, length)) for _ in range(num)]
    return np.stack([pack(row, length, end=[EOS_ID]) for row in rows])


def inputs(source_ids, decoder_ids) -> dict[str, np.ndarray]:
    return {"source_ids": np.asarray(source_ids, "int32"), "decoder_ids": np.asarray(decoder_ids, "int32")}


def hypothesis_lengths(ids: np.ndarray) -> np.ndarray:
    """Tokens up to and including </s> (or all of them): the count of non-padding ids."""
    return (ids != PAD_ID).sum(axis=-1)


def teacher_forced_scores(model, source_ids, hypotheses, length_penalty: float = 0.0) -> np.ndarray:
    """Length-normalised log-probabilities of `hypotheses [n, L]` (one per row of `source_ids [n, S]`)
    from one full forward pass with `<s> hypothesis` as the decoder input."""
    hypotheses = np.asarray(hypotheses, "int32")
    decoder_ids = np.concatenate([np.full((len(hypotheses), 1), BOS_ID, "int32"), hypotheses[:, :-1]], axis=1)
    log_probs = tf.nn.log_softmax(model(inputs(source_ids, decoder_ids))).numpy()
    token_log_probs = np.take_along_axis(log_probs, hypotheses[..., None], axis=-1)[..., 0]
    lengths = hypothesis_lengths(hypotheses)
    real = np.arange(hypotheses.shape[1]) < lengths[:, None]
    return np.where(real, token_log_probs, 0.0).sum(axis=1) / ((5.0 + lengths) / 6.0) ** length_penalty


def check_hypotheses_are_well_formed(ids: np.ndarray) -> None:
    """At most one </s>, nothing but padding after it, and never <pad> or <s> before the end."""
    for row in ids.reshape(-1, ids.shape[-1]):
        length = hypothesis_lengths(row)
        assert (row[:length] != PAD_ID).all() and (row[length:] == PAD_ID).all(), row
        assert BOS_ID not in row, row
        assert (row == EOS_ID).sum() <= 1 and (EOS_ID not in row or row[length - 1] == EOS_ID), row


@pytest.fixture(scope="module")
def random_model():
    return tiny_model(seed=3)


@pytest.fixture(scope="module")
def small_model():
    """A random model over the tiny vocabulary, where </s> is likely enough to end hypotheses early."""
    return tiny_model(SMALL_VOCAB, seed=1)


# --- the model ---------------------------------------------------------------------------------


@pytest.mark.parametrize("share_embeddings", [True, False])
def test_logits_shape_dtype_and_variable_batch_and_lengths(share_embeddings):
    if share_embeddings:
        model = tiny_model()
    else:
        model = transformer_seq2seq(VOCAB, VOCAB + 5, LENGTH, LENGTH - 2, **TINY)
    for batch, source_length, target_length in [(1, LENGTH, LENGTH - 2), (3, 4, 1), (2, 1, 5)]:
        source_ids = np.full((batch, source_length), 5, "int32")
        decoder_ids = np.full((batch, target_length), 6, "int32")
        logits = model(inputs(source_ids, decoder_ids))
        assert logits.shape == (batch, target_length, model.target_vocabulary_size)
        assert logits.dtype == "float32"
    encoder = model.get_layer("encoder")
    assert encoder(np.ones((2, 7), "int32")).shape == (2, 7, TINY["hidden_dim"])
    model_variables = {id(v) for v in model.weights}
    assert all(id(v) in model_variables for v in encoder.weights)


def test_shared_embeddings_are_one_table_that_also_projects_the_logits():
    shared, separate = tiny_model(), tiny_model(share_embeddings=False)
    assert shared.target_token_embedding is shared.source_token_embedding
    table = shared.source_token_embedding.embeddings
    assert [v.path for v in shared.weights if v.shape == table.shape] == [table.path]
    assert len(separate.weights) == len(shared.weights) + 1
    # The output projection is the transposed target table: zeroing a token's row zeroes its logit.
    table.assign(tf.tensor_scatter_nd_update(table, [[7]], tf.zeros([1, table.shape[1]])))
    logits = shared(inputs([[5, 6, EOS_ID]], [[BOS_ID, 5]])).numpy()
    np.testing.assert_array_equal(logits[..., 7], 0.0)


def test_logits_are_float32_under_mixed_precision():
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = tiny_model()
        logits = model(inputs(sources(2, 0), [[BOS_ID, 5, 6], [BOS_ID, 7, 0]]))
        assert logits.dtype == "float32"
        ids, scores = greedy_decode(model, sources(2, 0), 4)
        assert ids.dtype == tf.int32 and scores.dtype == tf.float32
        assert np.isfinite(scores.numpy()).all()
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def test_padding_does_not_change_the_logits(random_model):
    source_ids, decoder_ids = [5, 6, 7, EOS_ID], [BOS_ID, 8, 9]
    short = random_model(inputs([pack(source_ids, 4)], [pack(decoder_ids, 3)])).numpy()
    padded = random_model(inputs([pack(source_ids, LENGTH)], [pack(decoder_ids, 7)])).numpy()
    np.testing.assert_allclose(padded[:, :3], short, rtol=1e-5, atol=1e-5)
    # A batch padded to its longest member gives each member the logits it gets alone.
    batch = random_model(inputs([pack(source_ids, 8), pack([5, EOS_ID], 8)], [pack(decoder_ids, 5)] * 2))
    np.testing.assert_allclose(batch.numpy()[:1, :3], short, rtol=1e-5, atol=1e-5)


def test_decoder_self_attention_is_causal(random_model):
    source_ids = [pack([5, 6, 7, EOS_ID], 6)]
    before = random_model(inputs(source_ids, [[BOS_ID, 8, 9, 10, 11]])).numpy()
    after = random_model(inputs(source_ids, [[BOS_ID, 8, 9, 12, 11]])).numpy()
    np.testing.assert_allclose(after[:, :3], before[:, :3], rtol=1e-5, atol=1e-5)
    assert not np.allclose(after[:, 3:], before[:, 3:], atol=1e-3)


def test_cached_incremental_decoding_gives_the_full_forward_pass_logits(random_model):
    source_ids = sources(3, 1)
    decoder_ids = np.stack(
        [
            pack([9, 8, 7, 6, 5], 7, start=[BOS_ID]),
            pack([4, 4], 7, start=[BOS_ID]),
            pack([], 7, start=[BOS_ID]),
        ]
    )
    full = random_model(inputs(source_ids, decoder_ids)).numpy()

    encoder_sequence = random_model.encoder(source_ids)
    padding_mask = source_ids != PAD_ID
    self_caches, cross_caches = random_model.empty_caches(3, 7, source_ids.shape[1])
    assert len(self_caches) == TINY["num_layers"]
    # The first call covers positions 0..2 at once and fills the cross-attention caches; the rest go
    # one position at a time.
    logits, self_caches, cross_caches = random_model.call_decoder_with_cache(
        decoder_ids[:, :3], encoder_sequence, padding_mask, self_caches, 0, cross_caches, 0
    )
    steps = [logits.numpy()]
    for index in range(3, 7):
        logits, self_caches, cross_caches = random_model.call_decoder_with_cache(
            decoder_ids[:, index : index + 1],
            encoder_sequence,
            padding_mask,
            self_caches,
            index,
            cross_caches,
        )
        steps.append(logits.numpy())
    incremental = np.concatenate(steps, axis=1)
    assert incremental.shape == full.shape and incremental.dtype == np.float32
    real = decoder_ids != PAD_ID
    np.testing.assert_allclose(incremental[real], full[real], rtol=1e-4, atol=1e-4)


def test_keras_round_trip_keeps_the_embeddings_tied(tmp_path):
    model = tiny_model()
    path = tmp_path / "seq2seq.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(model) and restored.get_config() == model.get_config()
    assert restored.target_token_embedding is restored.source_token_embedding
    batch = inputs(sources(2, 0), [[BOS_ID, 5, 6], [BOS_ID, 7, 0]])
    np.testing.assert_array_equal(restored(batch).numpy(), model(batch).numpy())
    np.testing.assert_array_equal(
        greedy_decode(restored, sources(2, 0), 5)[0], greedy_decode(model, sources(2, 0), 5)[0]
    )


# --- loss and metric ---------------------------------------------------------------------------


def test_loss_ignores_padding_and_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 5)).astype("float32")
    labels = np.array([[1, 4, 3, 0], [2, 3, 0, 0]], "int32")
    smoothing = 0.1
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    per_token = [
        (1 - smoothing) * -log_probs[b, t, labels[b, t]] + smoothing * -log_probs[b, t].mean()
        for b, t in zip(*np.nonzero(labels), strict=True)
    ]
    loss = masked_sparse_crossentropy(smoothing)
    assert float(loss(labels, logits)) == pytest.approx(np.mean(per_token), rel=1e-5)
    # Keras' own smoothed cross-entropy over the real tokens says the same.
    real = labels != PAD_ID
    keras_loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)
    assert float(loss(labels, logits)) == pytest.approx(
        float(keras_loss(np.eye(5)[labels[real]], logits[real])), rel=1e-5
    )
    # Logits at padding labels do not matter.
    changed = np.where(real[..., None], logits, 100.0 * rng.normal(size=logits.shape)).astype("float32")
    assert float(loss(labels, changed)) == pytest.approx(float(loss(labels, logits)), rel=1e-6)
    # Sample weights weight each sentence's tokens; the mean is over the weighted real tokens.
    weighted = float(loss(labels, logits, sample_weight=np.array([1.0, 0.0], "float32")))
    assert weighted == pytest.approx(np.mean(per_token[:3]), rel=1e-5)
    assert float(masked_sparse_crossentropy(0.0)(labels, logits)) == pytest.approx(
        np.mean([-log_probs[b, t, labels[b, t]] for b, t in zip(*np.nonzero(labels), strict=True)]), rel=1e-5
    )


def test_token_accuracy_counts_only_real_labels():
    labels = np.array([[1, 4, 3, 0], [2, 3, 0, 0]], "int32")
    predicted = np.array([[1, 2, 3, 0], [2, 1, 5, 5]])
    logits = np.eye(6, dtype="float32")[predicted]
    metric = masked_token_accuracy()
    metric.update_state(labels, logits)
    assert float(metric.result()) == pytest.approx(3 / 5)
    metric.update_state(labels, logits, sample_weight=np.array([0.0, 1.0], "float32"))
    assert float(metric.result()) == pytest.approx(4 / 7)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_loss_and_metric_serialize():
    loss = keras.losses.deserialize(keras.losses.serialize(masked_sparse_crossentropy(0.25)))
    assert isinstance(loss, MaskedSparseCrossentropy) and loss.label_smoothing == 0.25
    metric = keras.metrics.deserialize(keras.metrics.serialize(masked_token_accuracy()))
    assert isinstance(metric, MaskedTokenAccuracy) and metric.name == "token_accuracy"


# --- learning and greedy decoding --------------------------------------------------------------


def copy_task(num: int, seed: int):
    """Sources `w... </s>`, decoder inputs `<s> w...`, labels `w... </s>`: translate by copying."""
    rng = np.random.default_rng(seed)
    words = [rng.integers(4, VOCAB, rng.integers(1, LENGTH - 1)) for _ in range(num)]
    source_ids = np.stack([pack(w, LENGTH, end=[EOS_ID]) for w in words])
    decoder_ids = np.stack([pack(w, LENGTH, start=[BOS_ID]) for w in words])
    labels = np.stack([pack(w, LENGTH, end=[EOS_ID]) for w in words])
    return source_ids, decoder_ids, labels


@pytest.fixture(scope="module")
def copy_model():
    model = tiny_model(seed=0, num_layers=1)
    model.compile(
        keras.optimizers.Adam(1e-2), masked_sparse_crossentropy(0.0), metrics=[masked_token_accuracy()]
    )
    source_ids, decoder_ids, labels = copy_task(64 * 400, seed=0)
    model.fit(inputs(source_ids, decoder_ids), labels, batch_size=64, epochs=1, verbose=0)
    return model


def test_model_learns_to_copy_and_greedy_decoding_reproduces_the_source(copy_model):
    source_ids, _, labels = copy_task(64, seed=1)  # unseen sentences
    ids, scores = greedy_decode(copy_model, source_ids, LENGTH)
    ids = ids.numpy()
    # The loop stops once every translation has ended: the longest one decides the width.
    assert ids.shape == (64, hypothesis_lengths(labels).max())
    np.testing.assert_array_equal(ids, labels[:, : ids.shape[1]])
    assert (scores.numpy() > np.log(0.5)).all()
    beams, beam_scores = beam_search(copy_model, source_ids[:8], beam_size=3, max_length=LENGTH)
    np.testing.assert_array_equal(beams[:, 0], labels[:8, : beams.shape[2]])
    assert (np.diff(beam_scores.numpy(), axis=1) <= 0).all()


def test_greedy_scores_are_the_teacher_forced_log_probabilities(random_model, small_model):
    for model, source_ids in [(random_model, sources(4, 2)), (small_model, sources(4, 2, SMALL_WORDS))]:
        for alpha in (0.0, 0.6):
            ids, scores = greedy_decode(model, source_ids, 6, length_penalty=alpha)
            check_hypotheses_are_well_formed(ids.numpy())
            expected = teacher_forced_scores(model, source_ids, ids.numpy(), alpha)
            np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_max_length_is_capped_at_the_decoders_positions_and_may_be_a_tensor(random_model):
    source_ids = sources(2, 0)
    ids, _ = greedy_decode(random_model, source_ids, tf.constant(LENGTH + 20))
    assert ids.shape[1] <= LENGTH
    short, _ = greedy_decode(random_model, source_ids, tf.shape(source_ids)[1] - 3)
    np.testing.assert_array_equal(short, ids[:, : short.shape[1]])
    assert short.shape[1] <= source_ids.shape[1] - 3


# --- beam search -------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_search_with_one_beam_is_greedy_decoding(random_model, small_model, alpha):
    for model, source_ids in [(random_model, sources(5, 4)), (small_model, sources(5, 4, SMALL_WORDS))]:
        greedy_ids, greedy_scores = greedy_decode(model, source_ids, 7, length_penalty=alpha)
        beam_ids, beam_scores = beam_search(
            model, source_ids, beam_size=1, max_length=7, length_penalty=alpha
        )
        np.testing.assert_array_equal(beam_ids[:, 0], greedy_ids)
        np.testing.assert_allclose(beam_scores[:, 0], greedy_scores, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_search_finds_at_least_greedys_score(random_model, small_model, alpha):
    for model, source_ids in [(random_model, sources(8, 5)), (small_model, sources(8, 5, SMALL_WORDS))]:
        _, greedy_scores = greedy_decode(model, source_ids, 7, length_penalty=alpha)
        _, beam_scores = beam_search(model, source_ids, beam_size=4, max_length=7, length_penalty=alpha)
        assert (beam_scores.numpy()[:, 0] >= greedy_scores.numpy() - 1e-5).all()


def test_beam_scores_are_the_teacher_forced_normalised_log_probabilities(random_model):
    source_ids = sources(3, 6)
    ids, scores = beam_search(random_model, source_ids, beam_size=4, max_length=6, length_penalty=0.6)
    ids, scores = ids.numpy(), scores.numpy()
    assert ids.shape[:2] == scores.shape == (3, 4) and ids.dtype == np.int32
    check_hypotheses_are_well_formed(ids)
    assert (np.diff(scores, axis=1) <= 0).all()  # best first
    expected = teacher_forced_scores(random_model, np.repeat(source_ids, 4, axis=0), ids.reshape(12, -1), 0.6)
    np.testing.assert_allclose(scores.reshape(-1), expected, rtol=1e-4, atol=1e-4)
    # Distinct hypotheses per example.
    for example in ids:
        assert len({tuple(row) for row in example}) == 4


def all_hypotheses(max_length: int) -> np.ndarray:
    """Every translation of at most `max_length` tokens over the tiny vocabulary: words then </s>,
    or `max_length` words (cut off)."""
    rows = [
        pack(words, max_length, end=[EOS_ID])
        for length in range(max_length)
        for words in itertools.product(SMALL_WORDS, repeat=length)
    ]
    rows += [np.array(words, "int32") for words in itertools.product(SMALL_WORDS, repeat=max_length)]
    return np.stack(rows)


def test_a_wide_beam_finds_the_best_translations_that_brute_force_finds(small_model):
    """With 40 beams nothing is pruned until the last of 4 steps (at most 40 candidates), which then
    keeps the 40 best of all 121 translations: beam search must return exactly those."""
    max_length, beam_size, alpha = 4, 40, 0.6
    source_ids = sources(2, 7, SMALL_WORDS)
    hypotheses = all_hypotheses(max_length)
    assert len(hypotheses) == 121
    ids, scores = beam_search(
        small_model, source_ids, beam_size=beam_size, max_length=max_length, length_penalty=alpha
    )
    ids, scores = ids.numpy(), scores.numpy()
    for example in range(2):
        exact = teacher_forced_scores(
            small_model,
            np.repeat(source_ids[example : example + 1], len(hypotheses), axis=0),
            hypotheses,
            alpha,
        )
        order = np.argsort(-exact, kind="stable")
        np.testing.assert_allclose(scores[example], exact[order[:beam_size]], rtol=1e-4, atol=1e-4)
        found = {tuple(row): score for row, score in zip(hypotheses.tolist(), exact, strict=True)}
        for row, score in zip(ids[example], scores[example], strict=True):
            assert found[tuple(np.pad(row, (0, max_length - len(row))))] == pytest.approx(score, abs=1e-4)
        if exact[order[0]] - exact[order[1]] > 1e-3:
            np.testing.assert_array_equal(
                np.pad(ids[example, 0], (0, max_length - ids.shape[2])), hypotheses[order[0]]
            )


def test_a_larger_length_penalty_prefers_longer_translations(small_model):
    source_ids = sources(6, 8, SMALL_WORDS)
    best_lengths = []
    for alpha in (0.0, 0.6, 1.5, 5.0):
        # Exact search (see the brute-force test), so the preferred length can only grow with alpha.
        ids, _ = beam_search(small_model, source_ids, beam_size=40, max_length=4, length_penalty=alpha)
        best_lengths.append(hypothesis_lengths(ids.numpy()[:, 0]))
    best_lengths = np.array(best_lengths)
    assert (np.diff(best_lengths, axis=0) >= 0).all(), best_lengths
    assert best_lengths[-1].sum() > best_lengths[0].sum(), best_lengths


def test_finished_hypotheses_keep_their_score_and_are_not_extended(small_model):
    source_ids = sources(4, 9, SMALL_WORDS)
    ids, scores = beam_search(small_model, source_ids, beam_size=6, max_length=6, length_penalty=1.0)
    ids, scores = ids.numpy(), scores.numpy()
    check_hypotheses_are_well_formed(ids)
    lengths = hypothesis_lengths(ids)
    finished = (ids == EOS_ID).any(axis=-1)
    # Hypotheses that ended early survived while others went on: the case under test happened.
    assert (finished & (lengths < ids.shape[2])).any() and (lengths == ids.shape[2]).any()
    expected = teacher_forced_scores(small_model, np.repeat(source_ids, 6, axis=0), ids.reshape(24, -1), 1.0)
    np.testing.assert_allclose(scores.reshape(-1), expected, rtol=1e-4, atol=1e-4)


def test_a_tiny_vocabulary_leaves_empty_beams_at_minus_infinity(small_model):
    # One step, four emittable tokens, six beams: two beams stay empty.
    ids, scores = beam_search(small_model, sources(2, 0, SMALL_WORDS), beam_size=6, max_length=1)
    assert ids.shape == (2, 6, 1)
    assert np.isneginf(scores.numpy()[:, 4:]).all() and np.isfinite(scores.numpy()[:, :4]).all()
    assert (ids.numpy()[:, 4:] == PAD_ID).all()
    assert sorted(ids.numpy()[0, :4, 0]) == [1, EOS_ID, 4, 5]


# --- serving -----------------------------------------------------------------------------------


class Translator(tf.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def max_length(self, source_ids):
        return tf.minimum(self.model.max_target_length, tf.shape(source_ids)[1] + 2)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def greedy(self, source_ids):
        ids, scores = greedy_decode(self.model, source_ids, self.max_length(source_ids))
        return {"ids": ids, "scores": scores}

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def beam(self, source_ids):
        ids, scores = beam_search(self.model, source_ids, beam_size=3, max_length=self.max_length(source_ids))
        return {"ids": ids, "scores": scores}


def test_decoding_saves_in_a_saved_model_with_core_ops_only(tmp_path, random_model):
    path = str(tmp_path / "translator")
    tf.saved_model.save(Translator(random_model), path)
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((tmp_path / "translator" / "saved_model.pb").read_bytes())
    graph = saved.meta_graphs[0].graph_def
    op_types = {node.op for node in graph.node} | {
        node.op for function in graph.library.function for node in function.node_def
    }
    assert "While" in op_types or "StatelessWhile" in op_types
    # XlaDynamicUpdateSlice (keras.ops.slice_update) and friends need an XLA compiler that stock
    # tensorflow_model_server lacks; PyFunc cannot be served at all.
    assert not [op for op in op_types if op.startswith("Xla") or "PyFunc" in op]

    loaded = tf.saved_model.load(path)
    for source_ids in (sources(1, 10, length=3), sources(3, 11, length=LENGTH)):
        max_length = min(LENGTH, source_ids.shape[1] + 2)
        ids, scores = greedy_decode(random_model, source_ids, max_length)
        served = loaded.greedy(tf.constant(source_ids))
        np.testing.assert_array_equal(served["ids"], ids)
        np.testing.assert_allclose(served["scores"], scores, rtol=1e-5, atol=1e-5)
        ids, scores = beam_search(random_model, source_ids, beam_size=3, max_length=max_length)
        served = loaded.beam(tf.constant(source_ids))
        np.testing.assert_array_equal(served["ids"], ids)
        np.testing.assert_allclose(served["scores"], scores, rtol=1e-5, atol=1e-5)


# --- errors ------------------------------------------------------------------------------------


def test_bad_arguments(random_model):
    with pytest.raises(ValueError, match="Received: hidden_dim=30"):
        transformer_seq2seq(VOCAB, VOCAB, LENGTH, LENGTH, hidden_dim=30, num_heads=4)
    with pytest.raises(ValueError, match="Received: max_target_length=0"):
        transformer_seq2seq(VOCAB, VOCAB, LENGTH, 0)
    with pytest.raises(ValueError, match="Received: dropout=1.0"):
        transformer_seq2seq(VOCAB, VOCAB, LENGTH, LENGTH, dropout=1.0)
    with pytest.raises(ValueError, match="Received: source_vocabulary_size=20, target_vocabulary_size=30"):
        transformer_seq2seq(20, 30, LENGTH, LENGTH, share_embeddings=True)
    with pytest.raises(ValueError, match="Received: label_smoothing=1.0"):
        masked_sparse_crossentropy(1.0)
    source_ids = sources(2, 0)
    with pytest.raises(ValueError, match="Received: beam_size=0"):
        beam_search(random_model, source_ids, beam_size=0)
    with pytest.raises(ValueError, match="Received: max_length=0"):
        greedy_decode(random_model, source_ids, 0)
    with pytest.raises(ValueError, match="Received: max_length=2.5"):
        beam_search(random_model, source_ids, max_length=2.5)
    with pytest.raises(ValueError, match="Received: length_penalty=-1"):
        beam_search(random_model, source_ids, length_penalty=-1)
    with pytest.raises(ValueError, match=r"Received: source_ids=\(6,\) int32"):
        greedy_decode(random_model, source_ids[0], 4)
    with pytest.raises(ValueError, match="Received: source_ids=.*float32"):
        greedy_decode(random_model, source_ids.astype("float32"), 4)
    with pytest.raises(ValueError, match="Received: model=Functional"):
        greedy_decode(random_model.get_layer("encoder"), source_ids, 4)
