"""The official SQuAD evaluation: answer normalization, exact match, token-overlap F1 (max over the
references), corpus averages ×100, and v2.0's unanswerable questions. Hand-computed cases, the
official scripts' known behaviours, and a line-by-line restatement of `evaluate-v1.1.py` as an
oracle on generated and (shared_data) real predictions."""

from __future__ import annotations

import random
import re
import string
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import pytest

from tfapps.models.qa_metrics import exact_match, f1, normalize_answer, squad_metrics

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SQUAD_DEV = SHARED / "datasets" / "question_answering" / "squad_v1.1" / "dev-v1.1.json"


class Example(NamedTuple):
    id: str
    answers: tuple[str, ...]
    is_impossible: bool = False


# --- normalization ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("  A  cat,\tan apple!  ", "cat apple"),
        ("Theatre and anthem", "theatre and anthem"),  # only whole words are articles
        ("the-end", "theend"),  # punctuation goes first: no word is left to remove
        ("The The", ""),
        ("$1,000.50", "100050"),
        ("“Quoted” – café", "“quoted” – café"),  # only ASCII punctuation is removed
        ("", ""),
    ],
)
def test_normalize_answer_is_the_official_normalization(text, normalized):
    assert normalize_answer(text) == normalized


# --- exact match and F1 -------------------------------------------------------------------------


def test_exact_match_ignores_case_articles_punctuation_and_spacing():
    assert exact_match("The Eiffel Tower", "eiffel tower") == 1.0
    assert exact_match("Eiffel Tower.", "the  eiffel tower") == 1.0
    assert exact_match("'Eiffel' Tower!", "Eiffel Tower") == 1.0
    # A hyphen is removed, not replaced by a space: the words join.
    assert exact_match("Eiffel-Tower", "Eiffel Tower") == 0.0
    assert exact_match("Eiffel", "Eiffel Tower") == 0.0
    assert exact_match("Denver", ["Carolina", "denver.", "Broncos"]) == 1.0


def test_f1_is_token_overlap_computed_by_hand():
    # prediction "big red fox jumped" (4 tokens), reference "red fox" (2): 2 shared, P 1/2, R 1.
    assert f1("the big red fox jumped", "a red fox") == pytest.approx(2 * 0.5 * 1 / 1.5)
    # Tokens count as often as they occur on both sides: 1 shared "red", P 1/3, R 1/2 → 0.4.
    assert f1("red red red", "red fox") == pytest.approx(0.4)
    assert f1("Denver Broncos team", "the Denver Broncos") == pytest.approx(0.8)
    assert f1("Carolina", "Denver Broncos") == 0.0
    assert f1("Denver Broncos", "Denver Broncos!") == 1.0


def test_f1_takes_the_best_reference():
    # "red fox jumps": P 1, R 2/3 → 0.8; "fox": P 1/2, R 1 → 2/3; "blue whale": 0.
    assert f1("red fox", ["blue whale", "red fox jumps", "fox"]) == pytest.approx(0.8)
    assert f1("red fox", ("fox",)) == pytest.approx(2 / 3)


def test_v11_scores_answers_that_normalize_to_nothing_em_1_f1_0():
    # The official v1.1 script: both sides normalize to "" (equal: EM 1) and share no token (F1 0).
    assert exact_match(".", "the") == 1.0 and f1(".", "the") == 0.0
    assert exact_match("", "Denver") == 0.0 and f1("", "Denver") == 0.0


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match=r"non-empty sequence.*Received: ground_truths=\[\]"):
        f1("x", [])
    with pytest.raises(ValueError, match=r"Received: ground_truths=\['a', 3\]"):
        exact_match("x", ["a", 3])
    with pytest.raises(ValueError, match=r"Received: prediction=None"):
        exact_match(None, "x")


# --- corpus scores (v1.1) -----------------------------------------------------------------------


def test_squad_metrics_averages_per_question_maxima_times_100():
    examples = [
        Example("q1", ("Denver Broncos", "the Denver Broncos")),
        Example("q2", ("Carolina Panthers",)),
        Example("q3", ("Santa Clara, California", "Levi's Stadium")),
        Example("q4", ("February 7, 2016",)),
    ]
    predictions = {
        "q1": "denver broncos",  # EM 1, F1 1
        "q2": "the Panthers",  # EM 0, F1: P 1, R 1/2 → 2/3
        # EM 0; 5 tokens "levis stadium in santa clara": vs "levis stadium" P 2/5, R 1 → 4/7, better
        # than vs "santa clara california" P 2/5, R 2/3 → 1/2.
        "q3": "Levi's Stadium in Santa Clara",
        # q4 missing: scores 0
        "unknown": "ignored",
    }

    metrics = squad_metrics(predictions, examples)

    assert metrics == {
        "exact_match": pytest.approx(100 * 1 / 4),
        "f1": pytest.approx(100 * (1 + 2 / 3 + 4 / 7 + 0) / 4),
        "examples": 4.0,
        "missing_predictions": 1.0,
    }
    assert list(metrics) == ["exact_match", "f1", "examples", "missing_predictions"]


def test_squad_metrics_takes_answer_objects():
    class Answer(NamedTuple):
        text: str
        start: int

    class Question(NamedTuple):
        id: str
        answers: tuple[Answer, ...]

    metrics = squad_metrics({"q1": "Broncos"}, [Question("q1", (Answer("Denver Broncos", 0),))])
    assert metrics["exact_match"] == 0.0 and metrics["f1"] == pytest.approx(100 * 2 / 3)


# --- v2.0: unanswerable questions ---------------------------------------------------------------


def test_v20_empty_prediction_for_an_unanswerable_question_scores_1():
    examples = [
        Example("a1", ("Denver Broncos",)),
        Example("a2", ("Carolina Panthers",)),
        Example("n1", (), True),
        Example("n2", (), True),
        Example("n3", (), True),
    ]
    predictions = {"a1": "Denver Broncos", "a2": "", "n1": "", "n2": "The.", "n3": "Denver"}

    metrics = squad_metrics(predictions, examples)

    # a1 1/1, a2 0/0 (abstained), n1 1/1, n2 1/1 (normalizes to nothing), n3 0/0.
    assert metrics == {
        "exact_match": pytest.approx(60.0),
        "f1": pytest.approx(60.0),
        "examples": 5.0,
        "missing_predictions": 0.0,
        "HasAns_exact_match": pytest.approx(50.0),
        "HasAns_f1": pytest.approx(50.0),
        "HasAns_examples": 2.0,
        "NoAns_exact_match": pytest.approx(200 / 3),
        "NoAns_f1": pytest.approx(200 / 3),
        "NoAns_examples": 3.0,
    }


def test_v20_groups_appear_only_where_they_have_questions():
    only_impossible = squad_metrics({"n1": ""}, [Example("n1", (), True)])
    assert only_impossible == {
        "exact_match": 100.0,
        "f1": 100.0,
        "examples": 1.0,
        "missing_predictions": 0.0,
        "NoAns_exact_match": 100.0,
        "NoAns_f1": 100.0,
        "NoAns_examples": 1.0,
    }
    answerable = squad_metrics({"a1": "Denver"}, [Example("a1", ("Denver",))], version="2.0")
    assert answerable["HasAns_f1"] == 100.0 and "NoAns_f1" not in answerable
    # A missing prediction is wrong, also for an unanswerable question (it is not an abstention).
    missing = squad_metrics({}, [Example("n1", (), True)])
    assert (missing["exact_match"], missing["NoAns_f1"], missing["missing_predictions"]) == (0.0, 0.0, 1.0)


def test_v20_ignores_references_that_normalize_to_nothing():
    examples = [Example("q1", (".", "Denver"))]
    # v1.1 scores "." against "." as EM 1, F1 0; v2.0 drops the "." reference.
    assert squad_metrics({"q1": "."}, examples) == {
        "exact_match": 100.0,
        "f1": 0.0,
        "examples": 1.0,
        "missing_predictions": 0.0,
    }
    v2 = squad_metrics({"q1": "."}, examples, version="2.0")
    assert (v2["exact_match"], v2["f1"]) == (0.0, 0.0)
    # Only references that normalize to nothing: the question counts as unanswerable's reference "".
    v2_only_dot = squad_metrics({"q1": "the"}, [Example("q1", (".",))], version="2.0")
    assert (v2_only_dot["exact_match"], v2_only_dot["f1"], v2_only_dot["HasAns_f1"]) == (100.0, 100.0, 100.0)


def test_squad_metrics_rejects_bad_input():
    with pytest.raises(ValueError, match=r"No examples to score.*Received: examples=\[\]"):
        squad_metrics({}, [])
    with pytest.raises(ValueError, match=r"Received: id 'q1' more than once"):
        squad_metrics({}, [Example("q1", ("a",)), Example("q1", ("b",))])
    with pytest.raises(ValueError, match=r"Received: predictions\['q1'\]=3"):
        squad_metrics({"q1": 3}, [Example("q1", ("a",))])
    with pytest.raises(ValueError, match=r"Received: version='3'"):
        squad_metrics({}, [Example("q1", ("a",))], version="3")
    with pytest.raises(ValueError, match=r"Received: predictions of type list"):
        squad_metrics(["a"], [Example("q1", ("a",))])
    with pytest.raises(ValueError, match=r"Expected version='2.0'.*Received: example 'n1' without answers"):
        squad_metrics({"n1": ""}, [Example("n1", (), True)], version="1.1")


# --- against the official v1.1 script -----------------------------------------------------------


def official_v11(predictions: dict[str, str], examples: list[Example]) -> dict[str, float]:
    """`evaluate-v1.1.py`'s `evaluate`, restated step by step (its normalize, F1, max, ×100)."""

    def normalize(s):
        s = s.lower()
        exclude = set(string.punctuation)
        s = "".join(ch for ch in s if ch not in exclude)
        s = re.sub(r"\b(a|an|the)\b", " ", s)
        return " ".join(s.split())

    def f1_score(prediction, ground_truth):
        prediction_tokens, ground_truth_tokens = (
            normalize(prediction).split(),
            normalize(ground_truth).split(),
        )
        num_same = sum((Counter(prediction_tokens) & Counter(ground_truth_tokens)).values())
        if num_same == 0:
            return 0
        precision, recall = num_same / len(prediction_tokens), num_same / len(ground_truth_tokens)
        return (2 * precision * recall) / (precision + recall)

    total = em = f1_sum = 0
    for example in examples:
        total += 1
        if example.id not in predictions:
            continue
        prediction = predictions[example.id]
        em += max(normalize(prediction) == normalize(truth) for truth in example.answers)
        f1_sum += max(f1_score(prediction, truth) for truth in example.answers)
    return {"exact_match": 100.0 * em / total, "f1": 100.0 * f1_sum / total}


def spans(texts: list[str], rng: random.Random) -> str:
    """A random span of words from one of `texts`, sometimes with odd case or punctuation."""
    words = rng.choice(texts).split() or [""]
    start = rng.randrange(len(words))
    span = " ".join(words[start : start + rng.randint(1, 4)])
    return rng.choice([span, span.upper(), f"the {span}.", f'"{span}"', ""])


def test_matches_the_official_v11_script_on_generated_predictions():
    rng = random.Random(0)
    vocabulary = [
        "the",
        "a",
        "an",
        "Denver",
        "Broncos",
        "Carolina",
        "Panthers",
        "red",
        "fox",
        ",",
        ".",
        "50",
        "Levi's",
        "Santa-Clara",
        "California",
    ]
    examples = [
        Example(
            f"q{i}",
            tuple(" ".join(rng.choices(vocabulary, k=rng.randint(1, 5))) for _ in range(rng.randint(1, 3))),
        )
        for i in range(300)
    ]
    predictions = {
        e.id: spans([*e.answers, " ".join(vocabulary)], rng) for e in examples if rng.random() < 0.95
    }

    ours = squad_metrics(predictions, examples, version="1.1")
    official = official_v11(predictions, examples)

    assert ours["exact_match"] == pytest.approx(official["exact_match"], abs=1e-9)
    assert ours["f1"] == pytest.approx(official["f1"], abs=1e-9)
    assert (
        ours["missing_predictions"] == 300 - len(predictions) and 0 < ours["exact_match"] < ours["f1"] < 100
    )


# --- module hygiene -----------------------------------------------------------------------------


def test_importing_does_not_import_tensorflow():
    code = "import sys, tfapps.models.qa_metrics; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --- shared datasets ----------------------------------------------------------------------------


@pytest.mark.shared_data
def test_matches_the_official_v11_script_on_the_squad_dev_file():
    from tfapps.pipelines.squad_data import read_squad

    dev = read_squad(SQUAD_DEV, split="val")
    examples = [Example(e.id, tuple(a.text for a in e.answers)) for e in dev]
    rng = random.Random(1)
    predictions = {e.id: spans([e.context, *(a.text for a in e.answers)], rng) for e in dev}

    ours = squad_metrics(predictions, dev)
    official = official_v11(predictions, examples)

    assert 0 < ours["f1"] < 100 and ours["examples"] == 10_570
    assert ours["exact_match"] == pytest.approx(official["exact_match"], abs=1e-9)
    assert ours["f1"] == pytest.approx(official["f1"], abs=1e-9)
    # Three references are "." (they normalize to nothing): predicting "." everywhere matches those
    # three exactly, yet shares no token with any reference.
    dots = squad_metrics(dict.fromkeys(predictions, "."), dev)
    assert (dots["exact_match"], dots["f1"]) == (pytest.approx(100 * 3 / 10_570), 0.0)
