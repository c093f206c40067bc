"""SentencePiece learning and the subword tokenizer shared by the translation pipeline and serving."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfapps.models.preprocessing.subword import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    SentencePieceTokenizer,
    decode_model,
    encode_model,
    learn_sentencepiece,
    sentencepiece_vocabulary,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
MULTI30K = SHARED / "datasets" / "machine_translation" / "multi30k_en_de" / "raw"

logger = logging.getLogger(__name__)

# Phrases separated by "|"; sentences are subject + verb + object + ending.
ENGLISH = {
    "subjects": "A man|A woman|Two children|The dog|A young girl|An old man|Three people|A little boy|"
    "Several workers|A brown horse|The musician|A group of tourists",
    "verbs": "rides|is riding|walks along|is sitting on|looks at|plays near|jumps over|is cleaning|"
    "waits beside|is painting|climbs up|runs toward|photographs",
    "objects": "a bicycle|the street|a red car|the beach|a wooden bench|the café|a big ball|a snowy mountain|"
    "the yellow building|an empty playground|a crowded market|the river",
    "ends": ".|.|.|!| in the park.|, smiling.| at night.| while it rains.|?",
}
GERMAN = {
    "subjects": "Ein Mann|Eine Frau|Zwei Kinder|Der Hund|Ein junges Mädchen|Ein älterer Mann|Ein kleiner Junge|"
    "Mehrere Arbeiter|Ein braunes Pferd|Der Musiker|Eine Gruppe Touristen",
    "verbs": "fährt|läuft über|sitzt auf|schaut auf|spielt neben|springt über|grüßt|putzt|wartet neben|malt|"
    "klettert auf|rennt auf|fotografiert",
    "objects": "ein Fahrrad|die Straße|ein rotes Auto|den Strand|eine Holzbank|das Café|einen verschneiten Berg|"
    "das gelbe Gebäude|einen leeren Spielplatz|einen Markt|den Fluss",
    "ends": ".|.|.|!| im Park.|, lächelnd.| in der Nacht.|, während es regnet.|?",
}


def generated_corpus(num_texts: int = 400, seed: int = 0) -> list[str]:
    """English- and German-like captions: case, punctuation attached to words, umlauts, ß, é."""
    rng = np.random.default_rng(seed)
    texts = []
    for index in range(num_texts):
        words = GERMAN if index % 2 else ENGLISH
        parts = [str(rng.choice(words[key].split("|"))) for key in ("subjects", "verbs", "objects", "ends")]
        texts.append(f"{parts[0]} {parts[1]} {parts[2]}{parts[3]}")
    return texts


CORPUS = generated_corpus()
# Unseen sentences made of the corpus' words: in-vocabulary, so they must come back unchanged.
NEW_TEXTS = [
    "Ein Mann fährt Fahrrad.",
    "Zwei Kinder grüßen den Hund, lächelnd!",
    "The dog rides a bicycle at night.",
    "An old man looks at the café in the park.",
    "Eine Frau läuft über die Straße im Park.",
]


@pytest.fixture(scope="module")
def model() -> bytes:
    return learn_sentencepiece(CORPUS, vocab_size=200)


@pytest.fixture(scope="module")
def tokenizer(model) -> SentencePieceTokenizer:
    return SentencePieceTokenizer(model, sequence_length=32)


def decoded(strings: tf.Tensor) -> list[str]:
    return [s.decode("utf-8") for s in strings.numpy().tolist()]


def num_pieces(ids: np.ndarray) -> np.ndarray:
    """Pieces per row, special ids excluded."""
    return np.sum((ids != PAD_ID) & (ids != BOS_ID) & (ids != EOS_ID), axis=-1)


# --- learn_sentencepiece -------------------------------------------------------------------------


def test_learned_model_has_fixed_special_ids_and_a_soft_vocab_size(model):
    vocabulary = sentencepiece_vocabulary(model)
    assert vocabulary[:4] == ["<pad>", "<unk>", "<s>", "</s>"]
    assert len(vocabulary) == len(set(vocabulary))
    assert 150 < len(vocabulary) <= 200
    assert {"ä", "ß", "é", ".", ",", "!"} <= {c for piece in vocabulary for c in piece}
    # More pieces than the corpus can give: a smaller vocabulary, not an error.
    assert len(sentencepiece_vocabulary(learn_sentencepiece(CORPUS[:40], vocab_size=5000))) < 5000
    assert sentencepiece_vocabulary(encode_model(model)) == vocabulary


def digest(model: bytes) -> str:
    """Short failure messages: pytest would print both models' bytes in full."""
    return hashlib.sha256(model).hexdigest()[:16]


def test_learning_is_deterministic(model):
    assert digest(learn_sentencepiece(CORPUS, vocab_size=200)) == digest(model)
    assert digest(learn_sentencepiece(iter(CORPUS), vocab_size=200, seed=0)) == digest(model)
    assert digest(learn_sentencepiece(CORPUS, vocab_size=150)) != digest(model)
    bpe = learn_sentencepiece(CORPUS, vocab_size=200, model_type="bpe")
    assert digest(bpe) == digest(learn_sentencepiece(CORPUS, vocab_size=200, model_type="bpe"))
    assert digest(bpe) != digest(model)


def test_learning_accepts_bytes_and_keeps_case():
    model = learn_sentencepiece([*CORPUS[:100], b"Ein Mann \xff f\xc3\xa4hrt."], vocab_size=150)
    pieces = set(sentencepiece_vocabulary(model))
    assert {"▁Ein", "▁ein"} <= pieces  # both cases, learned apart
    tokenizer = SentencePieceTokenizer(model, sequence_length=16)
    assert decoded(tokenizer.detokenize(tokenizer(["Ein Mann fährt."]))) == ["Ein Mann fährt."]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"vocab_size": 0}, "Received: vocab_size=0"),
        ({"vocab_size": 4}, "Received: vocab_size=4"),
        ({"vocab_size": 20}, "smaller than required_chars.*Received: vocab_size=20"),
        ({"model_type": "wordpiece"}, "Received: model_type='wordpiece'"),
        ({"character_coverage": 0.0}, "Received: character_coverage=0.0"),
        ({"character_coverage": 1.5}, "Received: character_coverage=1.5"),
        ({"seed": -1}, "Received: seed=-1"),
    ],
)
def test_learning_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        learn_sentencepiece(CORPUS[:50], **kwargs)


def test_learning_rejects_bad_texts():
    with pytest.raises(ValueError, match="no text to learn from. Received: 2 texts"):
        learn_sentencepiece(["", "  "], vocab_size=100)
    with pytest.raises(ValueError, match="not a single string. Received: texts="):
        learn_sentencepiece("A man rides a bicycle.", vocab_size=100)
    with pytest.raises(ValueError, match=r"Received: texts\[1\]=3"):
        learn_sentencepiece(["a b", 3], vocab_size=100)
    with pytest.raises(ValueError, match="Received: texts of type int"):
        learn_sentencepiece(7, vocab_size=100)


def test_model_encoding_round_trip_and_errors(model):
    text = encode_model(model)
    assert isinstance(text, str) and text.isascii()
    assert decode_model(text) == model
    assert decode_model("\n".join(text[i : i + 76] for i in range(0, len(text), 76))) == model
    with pytest.raises(ValueError, match="Received: text='not base64!'"):
        decode_model("not base64!")
    with pytest.raises(ValueError, match="Received: text of type bytes"):
        decode_model(model)
    with pytest.raises(ValueError, match="Received: model of type str"):
        encode_model(text)
    with pytest.raises(ValueError, match="not a serialized SentencePiece model"):
        sentencepiece_vocabulary(b"garbage")


# --- SentencePieceTokenizer ----------------------------------------------------------------------


def test_round_trip_gives_back_the_text(tokenizer):
    texts = [*CORPUS[:20], *NEW_TEXTS]
    ids = tokenizer(tf.constant(texts))
    assert ids.dtype == tf.int32
    assert ids.shape == (len(texts), 32)
    assert UNK_ID not in ids.numpy()
    assert decoded(tokenizer.detokenize(ids)) == texts


def test_rows_are_pieces_then_eos_then_padding(tokenizer):
    ids = tokenizer(["Ein Mann fährt Fahrrad.", ""]).numpy()
    length = num_pieces(ids[:1])[0]
    assert 0 < length < 30
    assert ids[0, length] == EOS_ID
    assert (ids[0, length + 1 :] == PAD_ID).all()
    assert ids[1].tolist() == [EOS_ID] + [PAD_ID] * 31
    assert (ids[0, :length] > EOS_ID).all()
    pieces = [tokenizer.id_to_piece(int(i)) for i in ids[0, :length]]
    assert "".join(pieces).replace("▁", " ").strip() == "Ein Mann fährt Fahrrad."


def test_long_texts_are_truncated_keeping_eos(model, tokenizer):
    text = " ".join(NEW_TEXTS)
    full = tokenizer([text]).numpy()[0]
    assert num_pieces(full[None])[0] > 6
    short = SentencePieceTokenizer(model, sequence_length=6)([text, "Ein Mann."]).numpy()
    assert short[0].tolist() == [*full[:5].tolist(), EOS_ID]
    assert short[1, -1] == PAD_ID and EOS_ID in short[1]
    with_bos = SentencePieceTokenizer(model, sequence_length=6, add_bos=True)([text]).numpy()
    assert with_bos[0].tolist() == [BOS_ID, *full[:4].tolist(), EOS_ID]
    # Without </s> every position holds a piece.
    no_eos = SentencePieceTokenizer(model, sequence_length=6, add_eos=False)([text, ""]).numpy()
    assert no_eos.tolist() == [full[:6].tolist(), [PAD_ID] * 6]


def test_add_bos_and_detokenize_drops_it(model, tokenizer):
    bos_tokenizer = SentencePieceTokenizer(model, sequence_length=32, add_bos=True)
    ids = bos_tokenizer(NEW_TEXTS).numpy()
    assert (ids[:, 0] == BOS_ID).all()
    np.testing.assert_array_equal(ids[:, 1:], tokenizer(NEW_TEXTS).numpy()[:, :-1])
    assert decoded(bos_tokenizer.detokenize(ids)) == NEW_TEXTS
    assert decoded(tokenizer.detokenize(ids)) == NEW_TEXTS


def test_detokenize_stops_at_the_first_eos(tokenizer):
    first, second = tokenizer(["Ein Mann fährt Fahrrad.", "The dog rides a bicycle."]).numpy()
    end = num_pieces(first[None])[0]
    # A decoder's row: <s>, the first sentence, </s>, then garbage it produced after finishing.
    row = [BOS_ID, *first[:end], EOS_ID, *second[:4], EOS_ID, UNK_ID]
    early_stop = [*first[:2], EOS_ID, *first[2:end]]
    no_eos = [*second[:end], PAD_ID, PAD_ID]  # no </s>: the whole row
    out_of_range = [first[0], 10_000, -5, EOS_ID]
    ids = np.array([row, [*early_stop, *[PAD_ID] * (len(row) - len(early_stop))]])
    assert decoded(tokenizer.detokenize(ids)) == [
        "Ein Mann fährt Fahrrad.",
        tokenizer.detokenize([first[:2]]).numpy()[0].decode(),
    ]
    assert decoded(tokenizer.detokenize(tf.constant([no_eos], tf.int64)))[0].startswith("The dog")
    assert decoded(tokenizer.detokenize([out_of_range]))[0] == "Ein ⁇  ⁇ "  # <unk> is written " ⁇ "
    assert decoded(tokenizer.detokenize(tf.zeros([2, 0], tf.int32))) == ["", ""]
    assert tokenizer.detokenize(tf.zeros([0, 5], tf.int32)).shape == (0,)


def test_unknown_characters_and_invalid_utf8_do_not_fail_the_batch(tokenizer):
    texts = tf.constant([b"", b"   ", b"Ein \xff Mann \xc3", "Ein Mann ☃ fährt.".encode(), b"\x80"])
    ids = tokenizer(texts).numpy()
    assert ids[0].tolist() == ids[1].tolist() == [EOS_ID] + [PAD_ID] * 31
    # The invalid bytes become U+FFFD, which the NFKC normaliser drops.
    np.testing.assert_array_equal(ids[2], tokenizer(["Ein Mann"]).numpy()[0])
    assert UNK_ID in ids[3]  # a character the corpus never had
    assert decoded(tokenizer.detokenize(ids)) == ["", "", "Ein Mann", "Ein Mann  ⁇  fährt.", ""]


def test_normalisation_is_nfkc_and_whitespace(tokenizer):
    texts = ["Ein  Mann\tfährt ", "Ein Mann fa\u0308hrt.", "Ｅｉｎ Ｍａｎｎ."]
    assert decoded(tokenizer.detokenize(tokenizer(texts))) == [
        "Ein Mann fährt",
        "Ein Mann fährt.",
        "Ein Mann.",
    ]


def test_empty_batch(tokenizer):
    assert tokenizer(tf.constant([], tf.string)).shape == (0, 32)


def test_same_ids_eagerly_in_tf_data_and_tf_function(tokenizer):
    texts = [*NEW_TEXTS, "", "Ein \xff Mann"]
    eager = tokenizer(tf.constant(texts)).numpy()
    mapped = np.concatenate(list(tf.data.Dataset.from_tensor_slices(texts).batch(3).map(tokenizer)))
    traced = tf.function(tokenizer, input_signature=[tf.TensorSpec([None], tf.string)])
    np.testing.assert_array_equal(mapped, eager)
    np.testing.assert_array_equal(traced(tf.constant(texts)).numpy(), eager)
    assert traced.get_concrete_function().structured_outputs.shape.as_list() == [None, 32]
    detokenize = tf.function(tokenizer.detokenize, input_signature=[tf.TensorSpec([None, None], tf.int32)])
    assert decoded(detokenize(tf.constant(eager))) == decoded(tokenizer.detokenize(eager))


def test_helpers(model, tokenizer):
    vocabulary = sentencepiece_vocabulary(model)
    assert tokenizer.vocabulary_size() == len(vocabulary)
    assert tokenizer.get_vocabulary() == vocabulary
    assert (tokenizer.pad_id, tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id) == (0, 1, 2, 3)
    assert [tokenizer.id_to_piece(i) for i in range(4)] == ["<pad>", "<unk>", "<s>", "</s>"]
    assert tokenizer.id_to_piece(np.int64(5)) == vocabulary[5]
    assert tokenizer.piece_to_id(vocabulary[7]) == 7
    assert tokenizer.piece_to_id("<unk>") == UNK_ID
    with pytest.raises(ValueError, match="Received: piece='nope'"):
        tokenizer.piece_to_id("nope")
    with pytest.raises(ValueError, match=f"Received: piece_id={len(vocabulary)}"):
        tokenizer.id_to_piece(len(vocabulary))
    with pytest.raises(ValueError, match="Received: piece_id=True"):
        tokenizer.id_to_piece(True)


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="Received: sequence_length=1"):
        SentencePieceTokenizer(model, sequence_length=1)
    with pytest.raises(ValueError, match="Received: sequence_length=2"):
        SentencePieceTokenizer(model, sequence_length=2, add_bos=True)
    with pytest.raises(ValueError, match="Received: sequence_length=0"):
        SentencePieceTokenizer(model, sequence_length=0, add_eos=False)
    with pytest.raises(ValueError, match="Received: model=b''"):
        SentencePieceTokenizer(b"", sequence_length=8)
    with pytest.raises(ValueError, match="not a serialized SentencePiece model"):
        SentencePieceTokenizer(b"\x00garbage", sequence_length=8)
    with pytest.raises(ValueError, match="not valid base64"):
        SentencePieceTokenizer("/path/to/model.spm", sequence_length=8)
    with pytest.raises(ValueError, match="Received: model of type list"):
        SentencePieceTokenizer(["<pad>"], sequence_length=8)


def test_bad_inputs(tokenizer):
    with pytest.raises(ValueError, match="Received: dtype=int32"):
        tokenizer(tf.constant([1, 2]))
    with pytest.raises(ValueError, match="Received: shape="):
        tokenizer(tf.constant([["Ein Mann"]]))
    with pytest.raises(ValueError, match="Received: shape="):
        tokenizer(tf.constant("Ein Mann"))
    with pytest.raises(ValueError, match="Received: dtype=float32"):
        tokenizer.detokenize(tf.constant([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="Received: shape="):
        tokenizer.detokenize(tf.constant([4, 5, 3]))


def test_keras_model_round_trip(model, tmp_path):
    tokenizer = SentencePieceTokenizer(model, sequence_length=16, add_bos=True, name="subword")
    config = tokenizer.get_config()
    assert decode_model(config["model"]) == model
    assert json.loads(json.dumps(config)) == config
    inputs = keras.Input((), dtype="string", name="text")
    keras_model = keras.Model(inputs, tokenizer(inputs))
    assert keras_model.output.shape == (None, 16)
    path = tmp_path / "tokenizer.keras"
    keras_model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        restored(tf.constant(NEW_TEXTS)).numpy(), keras_model(tf.constant(NEW_TEXTS)).numpy()
    )
    layer = restored.get_layer("subword")
    assert isinstance(layer, SentencePieceTokenizer)
    assert (layer.model, layer.sequence_length, layer.add_bos, layer.add_eos) == (model, 16, True, True)


def test_saved_model_reloads_with_only_tensorflow_and_tensorflow_text(
    tokenizer, tmp_path, reload_in_fresh_interpreter
):
    """What TF Serving sees: the SavedModel alone, tensorflow-text ops registered, no tfapps/sentencepiece."""
    texts = [*NEW_TEXTS, "", "Ein \ufffd ☃ Mann"]
    module = tf.Module()
    module.tokenizer = tokenizer
    module.tokenize = tf.function(tokenizer, input_signature=[tf.TensorSpec([None], tf.string)])
    module.round_trip = tf.function(
        lambda texts: {"text": tokenizer.detokenize(tokenizer(texts))},
        input_signature=[tf.TensorSpec([None], tf.string)],
    )
    path = tmp_path / "saved"
    tf.saved_model.save(
        module,
        str(path),
        signatures={"serving_default": module.tokenize, "round_trip": module.round_trip},
    )

    reloaded = reload_in_fresh_interpreter(path, texts, signatures=("serving_default", "round_trip"))
    assert reloaded.imported == []
    (ids,) = reloaded.outputs["serving_default"].values()
    assert ids == tokenizer(tf.constant(texts)).numpy().tolist()
    assert reloaded.outputs["round_trip"]["text"] == [*NEW_TEXTS, "", "Ein  ⁇  Mann"]


def test_keras_export_archive_tracks_the_model_resource(tokenizer, tmp_path):
    """`serving.export` writes through `keras.export.ExportArchive`, tracking the Keras model."""
    inputs = keras.Input((), dtype="string", name="text")
    keras_model = keras.Model(inputs, tokenizer(inputs))
    archive = keras.export.ExportArchive()
    archive.track(keras_model)
    archive.add_endpoint(
        "serving_default",
        lambda texts: keras_model(texts),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )
    archive.write_out(str(tmp_path / "export"), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "export"))
    (ids,) = reloaded.signatures["serving_default"](tf.constant(NEW_TEXTS)).values()
    np.testing.assert_array_equal(ids.numpy(), tokenizer(NEW_TEXTS).numpy())


# --- Multi30k ------------------------------------------------------------------------------------


def read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as file:
        return file.read().splitlines()


@pytest.mark.shared_data
def test_multi30k_shared_vocabulary():
    english, german = read_lines(MULTI30K / "train.en.gz"), read_lines(MULTI30K / "train.de.gz")
    assert len(english) == len(german) == 29_000
    start = time.perf_counter()
    model = learn_sentencepiece(english + german, vocab_size=8000)
    learned = time.perf_counter() - start
    tokenizer = SentencePieceTokenizer(model, sequence_length=128)
    assert tokenizer.vocabulary_size() == 8000

    for side, train in (("en", english), ("de", german)):
        start = time.perf_counter()
        ids = tokenizer(tf.constant(train)).numpy()
        tokenized = time.perf_counter() - start
        val = read_lines(MULTI30K / f"val.{side}.gz")
        val_ids = tokenizer(tf.constant(val)).numpy()
        train_pieces, val_pieces = num_pieces(ids), num_pieces(val_ids)
        logger.info(
            "Multi30k %s: learned 8000 pieces in %.1f s; %d train sentences tokenized in %.2f s, "
            "%.1f pieces each (max %d); val %.1f pieces each",
            side,
            learned,
            len(train),
            tokenized,
            train_pieces.mean(),
            train_pieces.max(),
            val_pieces.mean(),
        )
        # Captions of ~12 words: whole words for the frequent ones, a few pieces for the rest.
        assert 10 < train_pieces.mean() < 20 and 10 < val_pieces.mean() < 22
        assert train_pieces.max() < 127  # nothing truncated at sequence_length 128
        assert (val_ids == UNK_ID).sum() == 0  # every val character was seen in training
        restored = decoded(tokenizer.detokenize(val_ids))
        # Lossless up to whitespace: SentencePiece strips the ends and makes runs one space (one
        # German val line has a double space).
        expected = [" ".join(text.split()) for text in val]
        mismatches = [(a, b) for a, b in zip(restored, expected, strict=True) if a != b]
        assert mismatches == []
