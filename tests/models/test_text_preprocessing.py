"""WordPiece vocabulary learning and the tokenizer shared by the tf.data pipeline and serving."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfapps.models.preprocessing.text import (
    RESERVED_TOKENS,
    WordPieceTokenizer,
    learn_wordpiece_vocabulary,
)

PAD, UNK, CLS, SEP, MASK = range(5)
WORDS = ["!", ",", "a", "the", "film", "great", "was", "play", "##ing", "##s", "##ed", "cafe"]
VOCABULARY = [*RESERVED_TOKENS, *WORDS]
ID = {token: index for index, token in enumerate(VOCABULARY)}


def ids_of(*tokens: str) -> list[int]:
    return [ID[token] for token in tokens]


def padded(ids: list[int], length: int) -> list[int]:
    return ids + [PAD] * (length - len(ids))


@pytest.fixture(scope="module")
def tokenizer() -> WordPieceTokenizer:
    return WordPieceTokenizer(VOCABULARY, sequence_length=10)


# --- WordPieceTokenizer ------------------------------------------------------------------------


def test_known_words_round_trip(tokenizer):
    ids = tokenizer(tf.constant(["The film was GREAT!"]))
    assert ids.dtype == tf.int32
    assert ids.shape == (1, 10)
    expected = [CLS, *ids_of("the", "film", "was", "great", "!"), SEP]
    assert ids.numpy()[0].tolist() == padded(expected, 10)
    assert tokenizer.detokenize(ids).numpy().tolist() == [b"the film was great !"]


def test_unknown_words_become_pieces_or_unk(tokenizer):
    ids = tokenizer(["playing films, xyz"]).numpy()[0].tolist()
    expected = [CLS, *ids_of("play", "##ing", "film", "##s", ","), UNK, SEP]
    assert ids == padded(expected, 10)
    assert tokenizer.detokenize([ids]).numpy().tolist() == [b"playing films , [UNK]"]


def test_lower_case_strips_accents_and_cased_keeps_them():
    assert WordPieceTokenizer(VOCABULARY, 4)(["CAFÉ"]).numpy()[0].tolist() == [CLS, ID["cafe"], SEP, PAD]
    assert WordPieceTokenizer(VOCABULARY, 4, lower_case=False)(["CAFÉ"]).numpy()[0].tolist() == [
        CLS,
        UNK,
        SEP,
        PAD,
    ]


def test_long_texts_are_truncated_keeping_sep():
    ids = WordPieceTokenizer(VOCABULARY, sequence_length=5)(["the film was great", "a"]).numpy()
    assert ids.tolist() == [
        [CLS, *ids_of("the", "film", "was"), SEP],
        [CLS, ID["a"], SEP, PAD, PAD],
    ]


def test_empty_and_invalid_utf8_inputs(tokenizer):
    texts = tf.constant([b"", b"   ", b"\xff\xfe film \xc3", b"the \x80film"])
    ids = tokenizer(texts).numpy()
    assert ids[0].tolist() == padded([CLS, SEP], 10)
    assert ids[1].tolist() == padded([CLS, SEP], 10)
    # Invalid bytes become U+FFFD: the word holding one is unknown, the rest tokenizes as usual.
    assert ids[2].tolist() == padded([CLS, UNK, ID["film"], UNK, SEP], 10)
    assert ids[3].tolist() == padded([CLS, ID["the"], UNK, SEP], 10)


def test_empty_batch(tokenizer):
    assert tokenizer(tf.constant([], tf.string)).shape == (0, 10)


def test_same_ids_in_tf_data_and_tf_function(tokenizer):
    texts = ["the film was great", "", "playing a film", "cafe!"]
    eager = tokenizer(tf.constant(texts)).numpy()
    mapped = np.concatenate(list(tf.data.Dataset.from_tensor_slices(texts).batch(3).map(tokenizer)))
    traced = tf.function(tokenizer, input_signature=[tf.TensorSpec([None], tf.string)])
    np.testing.assert_array_equal(mapped, eager)
    np.testing.assert_array_equal(traced(tf.constant(texts)).numpy(), eager)
    assert traced.get_concrete_function().structured_outputs.shape.as_list() == [None, 10]


def test_helpers(tokenizer):
    assert tokenizer.vocabulary_size() == len(VOCABULARY)
    assert tokenizer.get_vocabulary() == VOCABULARY
    assert tokenizer.token_to_id("film") == ID["film"]
    assert tokenizer.id_to_token(ID["##ing"]) == "##ing"
    assert (tokenizer.pad_token_id, tokenizer.unk_token_id) == (PAD, UNK)
    assert (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id) == (CLS, SEP, MASK)
    with pytest.raises(ValueError, match="Received: token='nope'"):
        tokenizer.token_to_id("nope")
    with pytest.raises(ValueError, match="Received: token_id=99"):
        tokenizer.id_to_token(99)


@pytest.mark.parametrize(
    ("vocabulary", "sequence_length", "match"),
    [
        (VOCABULARY[1:], 8, "must start with '\\[PAD\\]'"),
        ([t for t in VOCABULARY if t != "[SEP]"], 8, "missing=\\['\\[SEP\\]'\\]"),
        ([*VOCABULARY, "film"], 8, "duplicates=\\['film'\\]"),
        (VOCABULARY, 1, "sequence_length=1"),
        (VOCABULARY, 0, "sequence_length=0"),
    ],
)
def test_bad_arguments(vocabulary, sequence_length, match):
    with pytest.raises(ValueError, match=match):
        WordPieceTokenizer(vocabulary, sequence_length)


def test_bad_inputs(tokenizer):
    with pytest.raises(ValueError, match="Received: dtype=int32"):
        tokenizer(tf.constant([1, 2]))
    with pytest.raises(ValueError, match="Received: shape="):
        tokenizer(tf.constant([["a"]]))


def test_keras_model_round_trip(tokenizer, tmp_path):
    texts = tf.constant(["the film was great!", "", "playing films"])
    inputs = keras.Input((), dtype="string", name="text")
    model = keras.Model(inputs, tokenizer(inputs))
    assert model.output.shape == (None, 10)
    path = tmp_path / "tokenizer.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(restored(texts).numpy(), model(texts).numpy())
    layer = restored.layers[-1]
    assert isinstance(layer, WordPieceTokenizer)
    assert layer.get_vocabulary() == VOCABULARY


def test_saved_model_reloads_with_only_tensorflow_and_tensorflow_text(
    tokenizer, tmp_path, reload_in_fresh_interpreter
):
    """What TF Serving sees: the SavedModel alone, tensorflow-text ops registered, no tfapps/keras-hub."""
    texts = ["the film was great!", "", "playing films, xyz", "café"]
    module = tf.Module()
    module.tokenizer = tokenizer
    module.tokenize = tf.function(tokenizer, input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path / "saved"), signatures={"serving_default": module.tokenize})

    reloaded = reload_in_fresh_interpreter(tmp_path / "saved", texts)
    assert reloaded.imported == []
    (ids,) = reloaded.outputs["serving_default"].values()
    assert ids == tokenizer(tf.constant(texts)).numpy().tolist()


# --- learn_wordpiece_vocabulary ----------------------------------------------------------------


def generated_corpus(num_texts: int = 400, seed: int = 0) -> list[str]:
    """Sentences over a small lexicon with Zipf-like word frequencies, plus some rare words."""
    rng = np.random.default_rng(seed)
    frequent = ["the", "movie", "is", "good", "bad", "acting", "story", "really", "not", "boring"]
    weights = 1.0 / np.arange(1, len(frequent) + 1)
    texts = []
    for index in range(num_texts):
        words = rng.choice(frequent, size=rng.integers(3, 9), p=weights / weights.sum()).tolist()
        if index % 50 == 0:
            words.append(f"rareword{index}")  # each seen once
        texts.append(" ".join(words).capitalize() + ("!" if index % 3 else "."))
    return texts


def test_learned_vocabulary_has_reserved_tokens_first_and_the_frequent_words():
    texts = generated_corpus()
    vocabulary = learn_wordpiece_vocabulary(texts, vocab_size=200)
    assert vocabulary[: len(RESERVED_TOKENS)] == list(RESERVED_TOKENS)
    assert len(vocabulary) <= 200
    assert len(set(vocabulary)) == len(vocabulary)
    for word in ["the", "movie", "good", "bad", "boring", "!", "."]:
        assert word in vocabulary

    tokenizer = WordPieceTokenizer(vocabulary, sequence_length=16)
    ids = tokenizer([texts[1], "storyteller movie"]).numpy()
    assert UNK not in ids[0]
    assert tokenizer.detokenize(ids[:1]).numpy()[0].decode() == texts[1].lower().replace("!", " !").replace(
        ".", " ."
    )
    # A word outside the vocabulary is pieced together from characters, not lost to [UNK].
    assert UNK not in ids[1]
    assert tokenizer.detokenize(ids[1:]).numpy()[0] == b"storyteller movie"


def test_learner_overshoot_is_trimmed_to_vocab_size_keeping_every_character():
    texts = generated_corpus()
    # On this corpus the learner's threshold search returns 73 tokens for a target of 72.
    vocabulary = learn_wordpiece_vocabulary(texts, vocab_size=72)
    assert len(vocabulary) == 72
    characters = {c for text in texts for c in text.lower() if not c.isspace()}
    assert characters <= set(vocabulary)
    assert {f"##{c}" for c in characters} <= set(vocabulary)
    ids = WordPieceTokenizer(vocabulary, sequence_length=32)(texts).numpy()
    assert UNK not in ids


def test_learning_respects_vocab_size_and_case_and_invalid_bytes():
    texts = [*generated_corpus(), b"the \xff movie"]
    vocabulary = learn_wordpiece_vocabulary(texts, vocab_size=90, lower_case=False)
    assert len(vocabulary) <= 90
    assert "The" in vocabulary  # sentence-initial words keep their capital


def test_learning_rejects_empty_corpus_and_tiny_vocab_size():
    with pytest.raises(ValueError, match="no words"):
        learn_wordpiece_vocabulary(["", "  "], vocab_size=100)
    with pytest.raises(ValueError, match="Received: vocab_size=5"):
        learn_wordpiece_vocabulary(["a b c"], vocab_size=5)
    with pytest.raises(ValueError, match="alphabet"):
        learn_wordpiece_vocabulary(generated_corpus(), vocab_size=12)
    with pytest.raises(ValueError, match="must include '\\[UNK\\]'"):
        learn_wordpiece_vocabulary(["a b"], reserved_tokens=("[PAD]",))
