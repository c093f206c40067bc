"""Extractive QA featurization (windows, character offsets), labels, span decoding and answer text."""

from __future__ import annotations

import unicodedata

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfapps.models.preprocessing.qa import QaFeaturizer, answer_token_span, best_spans, extract_answer
from tfapps.models.preprocessing.text import UNK_TOKEN, WordPieceTokenizer, learn_wordpiece_vocabulary

PAD, UNK, CLS, SEP = range(4)
LEXICON = [
    "the", "café", "is", "open", "on", "sunday", "zoé", "played", "football", "in", "paris", "naïve",
    "über", "北京", "中文", "hello", "world", "😀", "it", "was", "great", "who", "what", "where", "did",
    "a", "team", "of", "players",
]  # fmt: skip
# Normalisation that changes lengths (NFC "é" is 2 bytes, becomes "e"; NFD "e" + U+0301 loses the
# accent), CJK characters (split one per token), 4-byte emoji, runs of spaces, a no-break space, a
# tab, punctuation, unknown characters, and an unseen word split into several pieces.
TRICKY = "The  Café (Zoé's) is OPEN on Sunday—naïve über-fans! 北京 hello 😀 🎉 footballworld Cafe\u0301.\u00a0x\tÜBER"
TRICKY_TOKENS = [
    ("the", "The"), ("cafe", "Café"), (UNK_TOKEN, "("), ("zoe", "Zoé"), (UNK_TOKEN, "'"), ("s", "s"),
    (UNK_TOKEN, ")"), ("is", "is"), ("open", "OPEN"), ("on", "on"), ("sunday", "Sunday"), (UNK_TOKEN, "—"),
    ("naive", "naïve"), ("uber", "über"), (UNK_TOKEN, "-"), ("f", "f"), ("##a", "a"), ("##n", "n"),
    ("##s", "s"), ("!", "!"), ("北", "北"), ("京", "京"), ("hello", "hello"), ("😀", "😀"), (UNK_TOKEN, "🎉"),
    ("football", "football"), ("##w", "w"), ("##o", "o"), ("##r", "r"), ("##l", "l"), ("##d", "d"),
    ("cafe", "Cafe\u0301"), (".", "."), (UNK_TOKEN, "x"), ("uber", "ÜBER"),
]  # fmt: skip


def generated_corpus(num_texts: int = 300, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [
        " ".join(rng.choice(LEXICON, size=rng.integers(4, 10)).tolist()).capitalize()
        + str(rng.choice([".", "!", "?", ","]))
        for _ in range(num_texts)
    ]


@pytest.fixture(scope="module")
def vocabulary() -> list[str]:
    return learn_wordpiece_vocabulary(generated_corpus(), vocab_size=150)


def fold(text: str) -> str:
    """Lower-cased, accents stripped: what BERT's normaliser makes of a surface text."""
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if not unicodedata.combining(c))


def context_tokens(features, vocabulary, contexts, window: int) -> list[tuple[str, str]]:
    """(token, context[start:end]) for the context tokens of one window."""
    context = contexts[features["example_index"].numpy()[window]]
    ids, starts, ends = (
        features[k].numpy()[window] for k in ("token_ids", "token_start_char", "token_end_char")
    )
    return [(vocabulary[i], context[s:e]) for i, s, e in zip(ids, starts, ends, strict=True) if s >= 0]


def context_piece_count(vocabulary, context: str) -> int:
    return int(np.sum(WordPieceTokenizer(vocabulary, 4096)([context]).numpy() != PAD)) - 2  # [CLS], [SEP]


# --- QaFeaturizer: offsets -----------------------------------------------------------------------


def test_offsets_are_exact_on_tricky_text(vocabulary):
    featurizer = QaFeaturizer(vocabulary, sequence_length=64, max_question_length=8)
    features = featurizer(tf.constant(["who?"]), tf.constant([TRICKY]))
    assert features["token_ids"].shape == (1, 64)
    assert context_tokens(features, vocabulary, [TRICKY], 0) == TRICKY_TOKENS
    # Each surface is the next occurrence of that text in the context: the offsets are the ones a
    # left-to-right search in the Python string finds.
    expected, end = [], 0
    for _, surface in TRICKY_TOKENS:
        start = TRICKY.index(surface, end)
        end = start + len(surface)
        expected.append((start, end))
    starts, ends = features["token_start_char"].numpy()[0], features["token_end_char"].numpy()[0]
    assert list(zip(starts[starts >= 0].tolist(), ends[ends >= 0].tolist(), strict=True)) == expected
    assert expected[-4] == (80, 85)  # "Cafe" + U+0301: five characters, including the dropped accent


@pytest.mark.parametrize(
    "context",
    [
        TRICKY,
        "Zoé played football in Paris on Sunday.",
        "   leading and trailing spaces   ",
        "ÉCRIT PAR ZOÉ. Ça marche ? Oui !!! 中文中文 😀😀 a😀b",
        "NFD: Zoe\u0301 cafe\u0301 nai\u0308ve. NFC: Zoé café naïve.",
        "playersfootball,worldhello...the",
    ],
)
def test_every_context_token_spans_its_surface_text(vocabulary, context):
    featurizer = QaFeaturizer(vocabulary, sequence_length=128, max_question_length=8)
    features = featurizer(tf.constant(["what"]), tf.constant([context]))
    tokens = context_tokens(features, vocabulary, [context], 0)
    assert len(tokens) == context_piece_count(vocabulary, context)
    starts = features["token_start_char"].numpy()[0]
    starts = starts[starts >= 0]
    assert np.all(np.diff(starts) > 0)
    for token, surface in tokens:
        assert surface and surface == surface.strip()
        if token != UNK_TOKEN:
            assert fold(surface) == token.removeprefix("##")
    # The pieces of one word tile it: each "##" piece starts where the piece before it ended.
    ends = features["token_end_char"].numpy()[0]
    ends = ends[ends >= 0]
    suffix = np.array([token.startswith("##") for token, _ in tokens])
    np.testing.assert_array_equal(starts[1:][suffix[1:]], ends[:-1][suffix[1:]])


def test_context_pieces_match_the_wordpiece_tokenizer(vocabulary):
    contexts = [TRICKY, "hello world", ""]
    features = QaFeaturizer(vocabulary, sequence_length=64, max_question_length=8)(["a"] * 3, contexts)
    expected = WordPieceTokenizer(vocabulary, 64)(contexts).numpy()
    for row, ids in zip(features["token_ids"].numpy(), expected, strict=True):
        # [CLS] a [SEP] context... [SEP] against [CLS] context... [SEP]
        np.testing.assert_array_equal(row[3:][: np.sum(ids > 0) - 1], ids[1 : np.sum(ids > 0)])


def test_invalid_utf8_counts_one_character_per_replaced_sequence(vocabulary):
    context = b"\xff\xfe hello \xc3 world"
    features = QaFeaturizer(vocabulary, sequence_length=16, max_question_length=4)(
        ["a"], tf.constant([context])
    )
    replaced = context.decode("utf-8", "replace")
    tokens = context_tokens(features, vocabulary, [replaced], 0)
    assert [surface for _, surface in tokens] == [replaced[:2], "hello", "\ufffd", "world"]


# --- QaFeaturizer: rows and windows --------------------------------------------------------------


def test_row_layout_segments_and_question_truncation(vocabulary):
    featurizer = QaFeaturizer(vocabulary, sequence_length=16, max_question_length=3)
    question = "who played football in paris"  # five pieces, cut to three
    features = featurizer(tf.constant([question, ""]), tf.constant(["hello world!", "it was great"]))
    ids = features["token_ids"].numpy()
    v = {token: index for index, token in enumerate(vocabulary)}
    assert ids[0].tolist() == [
        CLS, v["who"], v["played"], v["football"], SEP, v["hello"], v["world"], v["!"], SEP, *[PAD] * 7
    ]  # fmt: skip
    assert ids[1].tolist() == [CLS, SEP, v["it"], v["was"], v["great"], SEP, *[PAD] * 10]
    assert features["segment_ids"].numpy()[0].tolist() == [0] * 5 + [1] * 4 + [0] * 7
    assert features["segment_ids"].numpy()[1].tolist() == [0] * 2 + [1] * 4 + [0] * 10
    assert features["example_index"].numpy().tolist() == [0, 1]
    for key in ("token_start_char", "token_end_char"):
        values = features[key].numpy()
        assert (values[0, :5] == -1).all() and (values[0, 8:] == -1).all() and (values[0, 5:8] >= 0).all()


@pytest.mark.parametrize(("stride", "step"), [(4, 4), (1, 1), (100, 10)])
def test_windows_step_by_stride_and_cover_the_whole_context(vocabulary, stride, step):
    # 16 - 3 - 3 question pieces leaves room for 10 context pieces; a stride beyond that is capped.
    featurizer = QaFeaturizer(vocabulary, sequence_length=16, max_question_length=3, stride=stride)
    context = " ".join(generated_corpus(4, seed=1))
    num_pieces = context_piece_count(vocabulary, context)
    assert num_pieces > 10
    features = featurizer(tf.constant(["who played football"]), tf.constant([context]))
    num_windows = 1 + -(-(num_pieces - 10) // step)
    assert features["token_ids"].shape[0] == num_windows
    assert features["example_index"].numpy().tolist() == [0] * num_windows

    whole = QaFeaturizer(vocabulary, sequence_length=num_pieces + 6, max_question_length=3)
    all_starts = whole(["who played football"], [context])["token_start_char"].numpy()[0]
    all_starts = all_starts[all_starts >= 0].tolist()
    seen = set()
    for window, starts in enumerate(features["token_start_char"].numpy()):
        starts = starts[starts >= 0].tolist()
        first = window * step
        assert starts == all_starts[first : first + 10]
        seen.update(range(first, first + len(starts)))
    assert seen == set(range(num_pieces))
    assert len(starts) >= 1 and starts[-1] == all_starts[-1]


def test_batch_of_contexts_of_different_lengths(vocabulary):
    featurizer = QaFeaturizer(vocabulary, sequence_length=24, max_question_length=4, stride=8)
    long_context = " ".join(generated_corpus(6, seed=2))
    contexts = ["Zoé played.", long_context, "", TRICKY, "hello"]
    questions = ["who?", "what did the team play", "where", "", "hello world"]
    features = featurizer(tf.constant(questions), tf.constant(contexts))
    example_index = features["example_index"].numpy()
    counts = np.bincount(example_index, minlength=len(contexts))
    assert example_index.tolist() == sorted(example_index.tolist())
    assert counts[0] == counts[2] == counts[4] == 1 and counts[1] > 2 and counts[3] > 1
    # Each example's windows, in order, together hold its pieces; one example at a time agrees.
    for index, (question, context) in enumerate(zip(questions, contexts, strict=True)):
        alone = featurizer(tf.constant([question]), tf.constant([context]))
        for key in ("token_ids", "segment_ids", "token_start_char", "token_end_char"):
            np.testing.assert_array_equal(features[key].numpy()[example_index == index], alone[key].numpy())
        for window in np.flatnonzero(example_index == index):
            for token, surface in context_tokens(features, vocabulary, contexts, window):
                assert token == UNK_TOKEN or fold(surface) == token.removeprefix("##")
    # The empty context still gets its row: [CLS] where [SEP] [SEP].
    where = vocabulary.index("where")
    assert features["token_ids"].numpy()[example_index == 2][0, :4].tolist() == [CLS, where, SEP, SEP]


def test_empty_batch_and_graph_modes_agree(vocabulary):
    featurizer = QaFeaturizer(vocabulary, sequence_length=16, max_question_length=4, stride=4)
    empty = featurizer(tf.constant([], tf.string), tf.constant([], tf.string))
    assert empty["token_ids"].shape == (0, 16) and empty["example_index"].shape == (0,)

    questions = ["who played?", "", "what"]
    contexts = [" ".join(generated_corpus(3, seed=3)), "hello", TRICKY]
    eager = featurizer(tf.constant(questions), tf.constant(contexts))
    traced = tf.function(featurizer, input_signature=[tf.TensorSpec([None], tf.string)] * 2)
    assert traced.get_concrete_function().structured_outputs["token_ids"].shape.as_list() == [None, 16]
    mapped = next(iter(tf.data.Dataset.from_tensor_slices((questions, contexts)).batch(3).map(featurizer)))
    for key, value in eager.items():
        np.testing.assert_array_equal(traced(tf.constant(questions), tf.constant(contexts))[key], value)
        np.testing.assert_array_equal(mapped[key], value)


def test_config_round_trip_and_bad_arguments(vocabulary):
    featurizer = QaFeaturizer(
        vocabulary, sequence_length=32, max_question_length=5, stride=7, lower_case=True
    )
    config = featurizer.get_config()
    assert config["vocabulary"] == vocabulary
    restored = keras.layers.deserialize(keras.layers.serialize(featurizer))
    assert isinstance(restored, QaFeaturizer)
    assert (restored.sequence_length, restored.max_question_length, restored.stride) == (32, 5, 7)
    out, again = featurizer(["who"], [TRICKY]), restored(["who"], [TRICKY])
    for key in out:
        np.testing.assert_array_equal(out[key], again[key])

    with pytest.raises(ValueError, match="Received: sequence_length=12"):
        QaFeaturizer(vocabulary, sequence_length=12, max_question_length=9)
    with pytest.raises(ValueError, match="Received: stride=0"):
        QaFeaturizer(vocabulary, stride=0)
    with pytest.raises(ValueError, match="must start with"):
        QaFeaturizer(vocabulary[1:])
    with pytest.raises(ValueError, match="Received: dtype=int32"):
        featurizer(tf.constant([1]), tf.constant(["a"]))


# --- answer_token_span ---------------------------------------------------------------------------

# Two windows of "[CLS] q [SEP] <context> [SEP] [PAD]"; context "ab cd ef gh" tokens ab|cd|e|##f|gh.
STARTS = np.array([[-1, -1, -1, 0, 3, 6, 7, -1, -1], [-1, -1, -1, 6, 7, 9, -1, -1, -1]])
ENDS = np.array([[-1, -1, -1, 2, 5, 7, 8, -1, -1], [-1, -1, -1, 7, 8, 11, -1, -1, -1]])


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ((3, 5), [(4, 4), (0, 0)]),  # "cd": only in the first window
        ((0, 8), [(3, 6), (0, 0)]),  # "ab cd ef"
        ((6, 8), [(5, 6), (3, 4)]),  # "ef": in both windows
        ((7, 8), [(6, 6), (4, 4)]),  # "f": a suffix piece
        ((6, 11), [(0, 0), (3, 5)]),  # "ef gh": runs past the first window
        ((9, 11), [(0, 0), (5, 5)]),  # "gh"
        ((4, 5), [(4, 4), (0, 0)]),  # "d": inside a piece, which is labelled whole
        ((-1, -1), [(0, 0), (0, 0)]),  # unanswerable
        ((5, 5), [(0, 0), (0, 0)]),  # empty
    ],
)
def test_answer_token_span_hand_cases(answer, expected):
    starts, ends = answer_token_span(STARTS, ENDS, [answer[0]] * 2, [answer[1]] * 2)
    assert starts.dtype == tf.int32
    assert list(zip(starts.numpy().tolist(), ends.numpy().tolist(), strict=True)) == expected


def test_answer_token_span_labels_windows_in_a_tf_data_map(vocabulary):
    featurizer = QaFeaturizer(vocabulary, sequence_length=16, max_question_length=4, stride=4)
    contexts = [
        "Zoé played football in Paris on Sunday. It was great, the team of players was great.",
        "Where is the café? The café is open on Sunday.",
    ]
    answers = ["the team of players", "open on Sunday"]
    answer_starts = [context.index(answer) for context, answer in zip(contexts, answers, strict=True)]
    answer_ends = [start + len(answer) for start, answer in zip(answer_starts, answers, strict=True)]

    def windows_with_labels(question, context, answer_start, answer_end):
        features = featurizer(question, context)
        features["start_token"], features["end_token"] = answer_token_span(
            features["token_start_char"],
            features["token_end_char"],
            tf.gather(answer_start, features["example_index"]),
            tf.gather(answer_end, features["example_index"]),
        )
        return features

    dataset = (
        tf.data.Dataset.from_tensor_slices((["who played?", "when?"], contexts, answer_starts, answer_ends))
        .batch(2)
        .map(windows_with_labels)
        .unbatch()  # one element per window
    )
    windows = list(dataset.as_numpy_iterator())
    assert len(windows) > 4
    labelled = 0
    for window in windows:
        # The same labels from one window alone, [L] offsets and scalar answers.
        example = window["example_index"]
        alone = answer_token_span(
            window["token_start_char"], window["token_end_char"], answer_starts[example], answer_ends[example]
        )
        assert (alone[0].numpy(), alone[1].numpy()) == (window["start_token"], window["end_token"])
        if window["start_token"] == 0:
            assert window["end_token"] == 0
            continue
        labelled += 1
        first = window["token_start_char"][window["start_token"]]
        last = window["token_end_char"][window["end_token"]]
        assert contexts[example][first:last] == answers[example]
    assert labelled >= 2


# --- best_spans ----------------------------------------------------------------------------------


def reference_spans(
    start, end, token_start, token_end, example_index, num_examples, max_length, allow_null, threshold
):
    """Every valid span of every window, one at a time (BERT's rules, without its top-20 cut)."""
    results = []
    for example in range(num_examples):
        best, null = (-np.inf, -1, -1), np.inf
        for window in np.flatnonzero(example_index == example):
            null = min(null, start[window, 0] + end[window, 0])
            for i in np.flatnonzero(token_start[window] >= 0):
                for j in range(i, min(i + max_length, start.shape[1])):
                    score = start[window, i] + end[window, j]
                    if token_start[window, j] >= 0 and score > best[0]:
                        best = (score, token_start[window, i], token_end[window, j])
        if best[1] < 0 or (allow_null and null - best[0] > threshold):
            results.append((-1, -1, null))
        else:
            results.append((best[1], best[2], best[0]))
    return results


@pytest.mark.parametrize(
    ("max_length", "allow_null", "threshold"), [(30, False, 0.0), (2, True, 0.0), (4, True, -1.0)]
)
def test_best_spans_matches_an_exhaustive_search(vocabulary, max_length, allow_null, threshold):
    featurizer = QaFeaturizer(vocabulary, sequence_length=20, max_question_length=4, stride=5)
    contexts = [" ".join(generated_corpus(3, seed=4)), "", "hello world", TRICKY]
    features = featurizer(tf.constant(["who", "what", "where", "who played"]), tf.constant(contexts))
    rng = np.random.default_rng(0)
    shape = features["token_ids"].shape
    start, end = rng.normal(size=(2, *shape)).astype(np.float32)
    start[:, 0] += 1.5  # so the null answer wins sometimes
    args = [features[k].numpy() for k in ("token_start_char", "token_end_char", "example_index")]
    start_char, end_char, score = best_spans(
        start,
        end,
        *args,
        len(contexts),
        max_length,
        allow_null=allow_null,
        null_score_diff_threshold=threshold,
    )
    expected = reference_spans(start, end, *args, len(contexts), max_length, allow_null, threshold)
    assert list(zip(start_char.numpy().tolist(), end_char.numpy().tolist(), strict=True)) == [
        e[:2] for e in expected
    ]
    np.testing.assert_allclose(score.numpy(), [e[2] for e in expected], rtol=1e-6)
    assert start_char.numpy()[1] == -1  # the empty context has no span


def hand_logits():
    """Windows 0 and 1 of example 0 (the layouts of STARTS/ENDS), window 2 of example 1."""
    token_start = np.concatenate([STARTS, STARTS[:1]])
    token_end = np.concatenate([ENDS, ENDS[:1]])
    start = np.full(token_start.shape, -10.0, np.float32)
    end = np.full(token_start.shape, -10.0, np.float32)
    return start, end, token_start, token_end, np.array([0, 0, 1])


def spans(start, end, token_start, token_end, example_index, **kwargs):
    result = best_spans(start, end, token_start, token_end, example_index, 2, **kwargs)
    return [tuple(values) for values in zip(*(t.numpy().tolist() for t in result), strict=True)]


def test_best_spans_picks_the_best_window_of_each_example():
    start, end, token_start, token_end, example_index = hand_logits()
    start[0, 3], end[0, 4] = 2.0, 1.0  # window 0: "ab cd", 3
    start[1, 3], end[1, 5] = 3.0, 3.0  # window 1: "ef gh", 6
    start[2, 5], end[2, 6] = 1.0, 0.5  # example 1: "ef", 1.5
    assert spans(start, end, token_start, token_end, example_index) == [(6, 11, 6.0), (6, 8, 1.5)]
    # Three tokens is too long: the best two-token span is window 0's.
    assert spans(start, end, token_start, token_end, example_index, max_answer_length=2) == [
        (0, 5, 3.0),
        (6, 8, 1.5),
    ]
    # A one-token answer at most: the best start + end on the same token.
    assert spans(start, end, token_start, token_end, example_index, max_answer_length=1)[0] == (6, 7, -7.0)


def test_best_spans_ignores_reversed_spans_and_non_context_tokens():
    start, end, token_start, token_end, example_index = hand_logits()
    start[:, :3] = end[:, :3] = 100.0  # [CLS], question and [SEP]
    start[:, 7:] = end[:, 7:] = 100.0  # last [SEP] and padding
    start[0, 6], end[0, 3] = 50.0, 50.0  # end before start: the only spans that would score high
    start[0, 3], end[0, 6] = -100.0, -100.0
    start[0, 4], end[0, 5] = 1.0, 1.0
    assert spans(start, end, token_start, token_end, example_index)[0] == (3, 7, 2.0)


def test_best_spans_null_answer():
    start, end, token_start, token_end, example_index = hand_logits()
    start[0, 4], end[0, 4] = 2.0, 2.0  # example 0's best span: "cd", 4
    start[2, 5], end[2, 6] = 1.0, 1.0  # example 1's: "ef", 2
    start[:, 0] = [4.0, 1.0, 2.0]
    end[:, 0] = [4.0, 2.0, 1.5]  # null scores: min(8, 3) = 3 for example 0, 3.5 for example 1
    assert spans(start, end, token_start, token_end, example_index) == [(3, 5, 4.0), (6, 8, 2.0)]
    assert spans(start, end, token_start, token_end, example_index, allow_null=True) == [
        (3, 5, 4.0),
        (-1, -1, 3.5),
    ]
    assert spans(
        start, end, token_start, token_end, example_index, allow_null=True, null_score_diff_threshold=1.5
    ) == [(3, 5, 4.0), (6, 8, 2.0)]
    assert spans(
        start, end, token_start, token_end, example_index, allow_null=True, null_score_diff_threshold=-1.5
    ) == [(-1, -1, 3.0), (-1, -1, 3.5)]
    with pytest.raises(ValueError, match="Received: max_answer_length=0"):
        spans(start, end, token_start, token_end, example_index, max_answer_length=0)


# --- extract_answer ------------------------------------------------------------------------------


def test_extract_answer_slices_characters():
    contexts = [
        "Zoé a 3 chats 😀 à Paris",
        "北京 hello",
        "Cafe\u0301 au lait",
        "short",
        b"\xff ok".decode("latin-1"),
    ]
    answers = ["chats 😀 à", "北京", "Cafe\u0301", "", ""]
    starts = [contexts[0].index("chats"), 0, 0, -1, 100]
    ends = [start + len(answer) for start, answer in zip(starts, answers, strict=True)]
    ends[3:] = [-1, 105]
    result = extract_answer(tf.constant(contexts), starts, ends).numpy()
    assert [text.decode() for text in result] == answers
    # Invalid UTF-8 counts as one U+FFFD character, as in QaFeaturizer's offsets.
    result = extract_answer(tf.constant([b"\xff ok", b"\xc3\xa9t\xc3"]), [0, 1], [4, 3]).numpy()
    assert [text.decode() for text in result] == ["\ufffd ok", "t\ufffd"]


# --- the served graph ----------------------------------------------------------------------------


def test_saved_model_round_trip_question_context_to_answer(vocabulary, tmp_path):
    featurizer = QaFeaturizer(vocabulary, sequence_length=24, max_question_length=6, stride=6)
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    segment_ids = keras.Input((None,), dtype="int32", name="segment_ids")
    hidden = keras.layers.Embedding(len(vocabulary), 8)(token_ids) + keras.layers.Embedding(2, 8)(segment_ids)
    logits = keras.layers.Dense(2)(keras.layers.Dense(8, activation="tanh")(hidden))
    model = keras.Model([token_ids, segment_ids], logits)

    module = tf.Module()
    module.featurizer, module.model = featurizer, model

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="question"),
            tf.TensorSpec([None], tf.string, name="context"),
        ]
    )
    def answer(question, context):
        features = featurizer(question, context)
        logits = model([features["token_ids"], features["segment_ids"]])
        start, end, score = best_spans(
            logits[..., 0],
            logits[..., 1],
            features["token_start_char"],
            features["token_end_char"],
            features["example_index"],
            tf.shape(question)[0],
            max_answer_length=5,
        )
        return {"answer": extract_answer(context, start, end), "start": start, "end": end, "score": score}

    module.answer = answer
    path = str(tmp_path / "qa")
    tf.saved_model.save(module, path, signatures={"serving_default": answer})
    served = tf.saved_model.load(path).signatures["serving_default"]

    questions = ["who played football?", "", "où?", "what is open", "hello"]
    contexts = [" ".join(generated_corpus(4, seed=5)), "Zoé 😀 à Paris", TRICKY, "", "hello world"]
    for size in (1, len(questions)):  # ends with the whole batch, checked below
        expected = answer(tf.constant(questions[:size]), tf.constant(contexts[:size]))
        got = served(question=tf.constant(questions[:size]), context=tf.constant(contexts[:size]))
        assert set(got) == {"answer", "start", "end", "score"}
        for key in ("answer", "start", "end"):
            np.testing.assert_array_equal(got[key].numpy(), expected[key].numpy())
        np.testing.assert_allclose(got["score"].numpy(), expected["score"].numpy(), rtol=1e-5)
    starts, ends = got["start"].numpy(), got["end"].numpy()
    for context, text, start, end in zip(contexts, got["answer"].numpy(), starts, ends, strict=True):
        assert text.decode() == (context[start:end] if start >= 0 else "")
    # Without allow_null, only the empty context has no span.
    assert (starts >= 0).tolist() == [True, True, True, False, True]
    assert np.all(ends[starts >= 0] > starts[starts >= 0])
    assert (starts[3], ends[3]) == (-1, -1)
