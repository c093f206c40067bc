"""Text classifiers over token ids and masked-LM pretraining of the shared Transformer encoder."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfapps.models.text_encoders import (
    HashedBigrams,
    bag_of_embeddings_classifier,
    bigru_classifier,
    cnn_classifier,
    ensemble_classifier,
    masked_lm_loss,
    masked_lm_pretrainer,
    mean_member_probabilities,
    member_loss,
    mlm_dataset,
    transformer_classifier,
    transformer_encoder,
)

PAD, UNK, CLS, SEP, MASK = range(5)
VOCAB = 40
LENGTH = 16
TINY_TRANSFORMER = {"hidden_dim": 32, "num_layers": 1, "num_heads": 2, "intermediate_dim": 64, "dropout": 0.0}

BUILDERS = {
    "transformer": lambda **kw: transformer_classifier(VOCAB, LENGTH, **TINY_TRANSFORMER, **kw),
    "transformer_cls": lambda **kw: transformer_classifier(
        VOCAB, LENGTH, **TINY_TRANSFORMER, pooling="cls", **kw
    ),
    "bag": lambda **kw: bag_of_embeddings_classifier(VOCAB, LENGTH, embedding_dim=16, **kw),
    "bag_bigrams": lambda **kw: bag_of_embeddings_classifier(
        VOCAB, LENGTH, embedding_dim=16, ngram_buckets=101, **kw
    ),
    "cnn": lambda **kw: cnn_classifier(VOCAB, LENGTH, embedding_dim=16, filters=8, **kw),
    "bigru": lambda **kw: bigru_classifier(VOCAB, LENGTH, embedding_dim=16, units=8, **kw),
}


def pack(pieces, length: int = LENGTH) -> np.ndarray:
    """`[CLS] pieces [SEP]` padded with [PAD] to `length`, as the tokenizer packs them."""
    row = [CLS, *pieces, SEP]
    return np.array(row + [PAD] * (length - len(row)), "int32")


def synthetic_task(num_examples: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class 0 texts mostly use ids 5..21, class 1 texts ids 22..39 (a sentiment-like lexicon)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, num_examples).astype("int32")
    rows = []
    for label in labels:
        own = rng.integers(5, 22, 6) if label == 0 else rng.integers(22, VOCAB, 6)
        other = rng.integers(5, VOCAB, 2)
        pieces = rng.permutation(np.concatenate([own, other]))[: rng.integers(4, 9)]
        rows.append(pack(pieces.tolist()))
    return np.stack(rows), labels


# --- shapes, dtypes, padding -------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_logits_shape_dtype_and_variable_batch_and_length(kind):
    model = BUILDERS[kind](num_outputs=3)
    for batch, length in [(1, LENGTH), (4, LENGTH), (2, 7)]:
        ids = np.stack([pack([5, 6, 7], length)] * batch)
        logits = model(ids)
        assert logits.shape == (batch, 3)
        assert logits.dtype == "float32"


def test_logits_are_float32_under_mixed_precision():
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        ids = np.stack([pack([5, 6, 7])] * 2)
        for kind in ("transformer", "bag_bigrams", "cnn"):
            model = BUILDERS[kind](num_outputs=2)
            assert model(ids).dtype == "float32", kind
        encoder = transformer_encoder(VOCAB, LENGTH, **TINY_TRANSFORMER)
        assert encoder(ids).dtype == "float16"
        pretrainer = masked_lm_pretrainer(encoder)
        logits = pretrainer({"token_ids": ids, "mask_positions": np.array([[1, 2]] * 2, "int32")})
        assert logits.dtype == "float32"
        assert logits.shape == (2, 2, VOCAB)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_padding_does_not_change_the_logits(kind):
    model = BUILDERS[kind](num_outputs=2)
    short = np.stack([pack([5, 9, 30], 6), pack([7, 7, 8, 20], 6)])
    long = np.pad(short, [(0, 0), (0, LENGTH - 6)])  # the same texts with ten more [PAD]
    np.testing.assert_allclose(model(short), model(long), rtol=1e-5, atol=1e-5)


def test_encoder_is_a_named_sub_model_with_the_sequence_output():
    model = BUILDERS["transformer"](num_outputs=2)
    encoder = model.get_layer("encoder")
    assert isinstance(encoder, keras.Model)
    ids = np.stack([pack([5, 9, 30]), pack([5, 9, 31])])
    sequence = encoder(ids).numpy()
    assert sequence.shape == (2, LENGTH, TINY_TRANSFORMER["hidden_dim"])
    # Attention mixes tokens: changing the last word changes the first word's representation too.
    assert not np.allclose(sequence[0, 1], sequence[1, 1])


def test_hashed_bigrams_mask_padding_and_stay_in_range():
    ids = np.array([[CLS, 5, 6, SEP, PAD, PAD], [CLS, 39, 38, 37, 36, SEP]], "int32")
    buckets = HashedBigrams(7)(ids).numpy()
    assert buckets.shape == (2, 5)
    assert buckets[0, 3:].tolist() == [0, 0]  # pairs touching [PAD]
    assert (buckets[0, :3] > 0).all()
    assert ((buckets >= 0) & (buckets <= 7)).all()
    # (a, b) and (b, a) are different bigrams.
    assert (
        HashedBigrams(1000)(np.array([[5, 6, 5]], "int32")).numpy()[0, 0]
        != (HashedBigrams(1000)(np.array([[6, 5, 6]], "int32")).numpy()[0, 0])
    )


# --- learning ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["transformer", "bag_bigrams", "cnn", "bigru"])
def test_each_classifier_learns_a_trivial_task(kind):
    keras.utils.set_random_seed(1)
    ids, labels = synthetic_task()
    model = BUILDERS[kind](num_outputs=2)
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.evaluate(ids, labels, verbose=0)
    model.fit(ids, labels, batch_size=32, epochs=6, verbose=0)
    after = model.evaluate(ids, labels, verbose=0)
    assert after < 0.5 * before, (before, after)


# --- ensembles ---------------------------------------------------------------------------------


def tiny_ensemble(num_outputs: int = 2) -> keras.Model:
    return ensemble_classifier([BUILDERS[kind](num_outputs=num_outputs) for kind in ("bag", "cnn", "bigru")])


def test_ensemble_returns_each_members_logits_in_order():
    model = tiny_ensemble(3)
    ids, _ = synthetic_task(5)
    member_logits = model(ids).numpy()
    assert member_logits.shape == (5, 3, 3)
    for i, member in enumerate(model.layers[1:4]):
        np.testing.assert_allclose(member_logits[:, i], member(ids).numpy(), rtol=1e-6, atol=1e-6)


def test_mean_member_probabilities_average_softmaxes_or_sigmoids():
    logits = np.array([[[2.0, 0.0], [0.0, 1.0]]], "float32")  # one example, two members
    softmax = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(mean_member_probabilities(logits), softmax.mean(axis=1), rtol=1e-6)
    sigmoid = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(
        mean_member_probabilities(logits, multi_label=True), sigmoid.mean(axis=1), rtol=1e-6
    )


def test_member_loss_is_the_mean_of_each_members_own_loss():
    targets = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    logits = np.random.default_rng(0).normal(size=(2, 3, 2)).astype("float32")
    base = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    expected = np.mean([float(base(targets, logits[:, m])) for m in range(3)])
    assert float(member_loss(base)(targets, logits)) == pytest.approx(expected, rel=1e-5)


def test_ensemble_members_train_as_they_would_alone():
    """Each member's gradient under the member loss is its own loss's gradient (divided by the
    member count): the members do not co-adapt as a summed-logits model would."""
    model = tiny_ensemble()
    ids, labels = synthetic_task(16)
    targets = np.eye(2, dtype="float32")[labels]
    base = keras.losses.CategoricalCrossentropy(from_logits=True)
    member = model.layers[2]
    with tf.GradientTape() as tape:
        joint = member_loss(base)(targets, model(ids, training=False))
    with tf.GradientTape() as alone_tape:
        alone = base(targets, member(ids, training=False))
    for joint_grad, alone_grad in zip(
        tape.gradient(joint, member.trainable_weights),
        alone_tape.gradient(alone, member.trainable_weights),
        strict=True,
    ):
        np.testing.assert_allclose(
            tf.convert_to_tensor(joint_grad).numpy() * 3, tf.convert_to_tensor(alone_grad).numpy(), atol=1e-6
        )


def test_ensemble_learns_and_round_trips(tmp_path):
    keras.utils.set_random_seed(1)
    ids, labels = synthetic_task()
    targets = np.eye(2, dtype="float32")[labels]
    model = tiny_ensemble()
    model.compile(
        keras.optimizers.Adam(1e-2), member_loss(keras.losses.CategoricalCrossentropy(from_logits=True))
    )
    before = model.evaluate(ids, targets, verbose=0)
    model.fit(ids, targets, batch_size=32, epochs=6, verbose=0)
    assert model.evaluate(ids, targets, verbose=0) < 0.5 * before
    path = tmp_path / "ensemble.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(restored(ids).numpy(), model(ids).numpy())


def test_ensemble_rejects_bad_members():
    with pytest.raises(ValueError, match="at least two members. Received: 1"):
        ensemble_classifier([BUILDERS["bag"](num_outputs=2)])
    with pytest.raises(ValueError, match="distinct names"):
        ensemble_classifier([BUILDERS["bag"](num_outputs=2), BUILDERS["bag"](num_outputs=2)])
    with pytest.raises(ValueError, match="same number of logits"):
        ensemble_classifier([BUILDERS["bag"](num_outputs=2), BUILDERS["cnn"](num_outputs=3)])


def template_corpus(num_rows: int = 64) -> np.ndarray:
    """Four fixed 'sentences' repeated: every masked token is predictable from its context."""
    templates = [
        [10, 11, 12, 13, 14, 15],
        [20, 21, 22, 23, 24],
        [30, 31, 32, 33, 34, 35, 36],
        [16, 17, 18, 19],
    ]
    return np.stack([pack(templates[i % len(templates)]) for i in range(num_rows)])


def test_mlm_dataset_masks_only_real_tokens():
    ids = template_corpus(32)
    dataset = mlm_dataset(tf.data.Dataset.from_tensor_slices(ids).batch(8), VOCAB, mask_token_id=MASK)
    features, targets, weights = next(iter(dataset))
    masks = int(np.ceil(0.15 * LENGTH))
    assert features["token_ids"].shape == (8, LENGTH)
    assert features["mask_positions"].shape == targets.shape == weights.shape == (8, masks)
    assert features["token_ids"].dtype == features["mask_positions"].dtype == targets.dtype == tf.int32
    assert weights.dtype == tf.float32
    masked, positions, targets, weights = (
        features["token_ids"].numpy(),
        features["mask_positions"].numpy(),
        targets.numpy(),
        weights.numpy(),
    )
    assert set(np.unique(weights)) <= {0.0, 1.0}
    assert (weights.sum(axis=1) >= 1).all()
    for row in range(8):
        real = positions[row][weights[row] == 1]
        assert (ids[row, real] == targets[row][weights[row] == 1]).all()
        assert not np.isin(ids[row, real], [PAD, CLS, SEP]).any()
        untouched = np.setdiff1d(np.arange(LENGTH), real)
        np.testing.assert_array_equal(masked[row, untouched], ids[row, untouched])


def test_mlm_dataset_rejects_unbatched_ids():
    with pytest.raises(ValueError, match="Received: element_spec="):
        mlm_dataset(tf.data.Dataset.from_tensor_slices(template_corpus(4)), VOCAB, mask_token_id=MASK)
    with pytest.raises(ValueError, match="Received: mask_token_id=40"):
        mlm_dataset(
            tf.data.Dataset.from_tensor_slices(template_corpus(4)).batch(2), VOCAB, mask_token_id=VOCAB
        )


def test_mlm_pretraining_learns_and_the_classifier_reuses_the_pretrained_encoder():
    keras.utils.set_random_seed(2)
    classifier = BUILDERS["transformer"](num_outputs=2)
    encoder = classifier.get_layer("encoder")
    pretrainer = masked_lm_pretrainer(encoder)
    embedding = encoder.get_layer("embeddings").token_embedding
    head = pretrainer.get_layer("mlm_head")
    assert head.token_embedding is embedding  # output projection tied to the input embedding
    assert [v.path for v in head.weights if v.shape == embedding.embeddings.shape] == [
        embedding.embeddings.path
    ]

    probe = template_corpus(4)
    encoder_before = {v.path: v.numpy().copy() for v in encoder.weights}
    logits_before = classifier(probe).numpy()
    ids = tf.data.Dataset.from_tensor_slices(template_corpus()).batch(16)
    examples = mlm_dataset(ids, VOCAB, mask_token_id=MASK)
    features, targets, weights = next(iter(examples))
    loss = masked_lm_loss()
    loss_before = float(loss(targets, pretrainer(features), weights))
    pretrainer.compile(keras.optimizers.Adam(5e-3), loss=loss)
    # One epoch of 64 steps: each epoch has a fixed cost (iterators, callbacks) worth several steps.
    pretrainer.fit(examples.repeat(), steps_per_epoch=64, epochs=1, shuffle=False, verbose=0)
    loss_after = float(loss(targets, pretrainer(features), weights))
    assert loss_after < 0.5 * loss_before, (loss_before, loss_after)

    encoder_after = {v.path: v.numpy() for v in encoder.weights}
    assert [path for path, value in encoder_before.items() if np.allclose(value, encoder_after[path])] == []
    # The classifier built before pretraining sees the pretrained weights: they are its variables.
    assert not np.allclose(classifier(probe).numpy(), logits_before)
    # So does one built around the encoder afterwards; no variable is copied.
    rebuilt = transformer_classifier(VOCAB, LENGTH, 2, encoder=encoder)
    assert rebuilt.get_layer("encoder") is encoder
    rebuilt_variables = {id(v) for v in rebuilt.weights}
    assert all(id(v) in rebuilt_variables for v in encoder.weights)


# --- errors and saving -------------------------------------------------------------------------


def test_bad_arguments():
    with pytest.raises(ValueError, match="Received: hidden_dim=30"):
        transformer_classifier(VOCAB, LENGTH, 2, hidden_dim=30, num_heads=4)
    with pytest.raises(ValueError, match="Received: pooling='max'"):
        transformer_classifier(VOCAB, LENGTH, 2, pooling="max")
    with pytest.raises(ValueError, match="Received: vocabulary_size=41, sequence_length=16"):
        transformer_classifier(
            VOCAB + 1, LENGTH, 2, encoder=transformer_encoder(VOCAB, LENGTH, **TINY_TRANSFORMER)
        )
    with pytest.raises(ValueError, match="Received: num_outputs=0"):
        bag_of_embeddings_classifier(VOCAB, LENGTH, 0)
    with pytest.raises(ValueError, match="Received: ngram_buckets=-1"):
        bag_of_embeddings_classifier(VOCAB, LENGTH, 2, ngram_buckets=-1)
    with pytest.raises(ValueError, match="Received: dropout=1.0"):
        cnn_classifier(VOCAB, LENGTH, 2, dropout=1.0)
    with pytest.raises(ValueError, match="Received: units=0"):
        bigru_classifier(VOCAB, LENGTH, 2, units=0)
    with pytest.raises(ValueError, match="Received: embedding_dropout=-0.1"):
        bigru_classifier(VOCAB, LENGTH, 2, embedding_dropout=-0.1)
    with pytest.raises(ValueError, match="TokenAndPositionEmbedding"):
        masked_lm_pretrainer(cnn_classifier(VOCAB, LENGTH, 2))


@pytest.mark.parametrize("kind", ["transformer", "transformer_cls", "bag_bigrams", "cnn", "bigru"])
def test_keras_round_trip(kind, tmp_path):
    model = BUILDERS[kind](num_outputs=3)
    ids, _ = synthetic_task(6)
    path = tmp_path / f"{kind}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(restored(ids).numpy(), model(ids).numpy())
    if kind == "transformer":
        assert restored.get_layer("encoder").output.shape == (None, None, TINY_TRANSFORMER["hidden_dim"])
