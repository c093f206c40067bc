"""The official SQuAD evaluation (v1.1 and v2.0) of extractive question answering, in plain Python.

Answers are compared after `normalize_answer` (lower-case, punctuation removed, the articles
"a", "an", "the" removed, whitespace collapsed), as the official scripts `evaluate-v1.1.py` and
`evaluate-v2.0.py` do:

- `exact_match`: 1 when the normalized prediction equals a normalized reference answer.
- `f1`: the token-overlap F1, `2PR / (P + R)` with precision `P` = shared tokens / prediction
  tokens and recall `R` = shared tokens / reference tokens (a token counted as often as it occurs
  on both sides), 0 when no token is shared.

Both take the maximum over a question's reference answers; `squad_metrics` averages them over
the questions (×100). v2.0 adds unanswerable questions: their reference is the empty answer, so
an empty prediction (or one that normalizes to nothing, such as "the" or ".") scores EM = F1 = 1
and any other scores 0; reference answers that normalize to nothing are ignored; and F1 is 1 when
both sides normalize to nothing (v1.1 gives 0 there, so predicting "." for a reference "." scores
EM 1, F1 0 under v1.1). The metrics follow v2.0's rules when a question is impossible (or has no
answers), v1.1's otherwise, unless `version` says which.

Pure Python (no TensorFlow), so evaluating predictions stays fast.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

__all__ = ["exact_match", "f1", "normalize_answer", "squad_metrics"]

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


class _Example(Protocol):
    """What `squad_metrics` reads of an example (`tfapps.pipelines.squad_data.SquadExample`)."""

    id: str
    answers: Sequence[Any]


def normalize_answer(text: str) -> str:
    """Lower-case, remove ASCII punctuation, remove the articles a/an/the, collapse whitespace.

    Exactly the official SQuAD scripts' normalization, in their order (punctuation goes before the
    articles, so "the-end" becomes "theend", kept; only whole words are articles).

    Example:
        >>> normalize_answer("The  Eiffel Tower!")
        'eiffel tower'
    """
    lowered = text.lower()
    without_punctuation = "".join(char for char in lowered if char not in _PUNCTUATION)
    without_articles = _ARTICLES.sub(" ", without_punctuation)
    return " ".join(without_articles.split())


def exact_match(prediction: str, ground_truths: str | Sequence[str]) -> float:
    """1.0 when the normalized prediction equals a normalized reference answer, else 0.0.

    Args:
        prediction: the predicted answer text.
        ground_truths: one reference answer, or several (the best counts).

    Raises:
        ValueError: no reference answer, or a prediction or answer that is not a string.
    """
    truths = _truths(prediction, ground_truths)
    predicted = normalize_answer(prediction)
    return max(float(predicted == normalize_answer(truth)) for truth in truths)


def f1(prediction: str, ground_truths: str | Sequence[str]) -> float:
    """The official v1.1 token-overlap F1 against the best reference answer, in [0, 1].

    0.0 when the normalized prediction and a reference share no token, including when both
    normalize to nothing (v1.1's rule; `squad_metrics` applies v2.0's where it must).

    Args:
        prediction: the predicted answer text.
        ground_truths: one reference answer, or several (the best counts).

    Raises:
        ValueError: no reference answer, or a prediction or answer that is not a string.

    Example:
        >>> f1("Denver Broncos team", "the Denver Broncos")   # P = 2/3, R = 2/2
        0.8
    """
    truths = _truths(prediction, ground_truths)
    predicted = normalize_answer(prediction).split()
    return max(_token_f1(predicted, normalize_answer(truth).split(), v2=False) for truth in truths)


def squad_metrics(
    predictions: Mapping[str, str],
    examples: Iterable[_Example],
    version: Literal["auto", "1.1", "2.0"] = "auto",
) -> dict[str, float]:
    """The official SQuAD scores of predicted answer texts, averaged over the examples (×100).

    Args:
        predictions: question id → predicted answer text ("" to abstain, in SQuAD v2.0). Ids of
            no example are ignored, as the official scripts do.
        examples: the questions scored: objects with `id`, `answers` (objects with a `text`, or
            strings) and optionally `is_impossible` (a `SquadExample` or `SquadDataset`).
        version: "1.1" scores like `evaluate-v1.1.py` (every example needs answers); "2.0" like
            `evaluate-v2.0.py` (an example without answers is unanswerable); "auto" picks "2.0"
            when an example is impossible or has no answers, else "1.1".

    Returns:
        `exact_match` and `f1` (0-100), `examples` (how many), `missing_predictions` (examples
        without a prediction: they score 0, as in `evaluate-v1.1.py`; `evaluate-v2.0.py` would
        leave them out), and for v2.0 `HasAns_exact_match`, `HasAns_f1`, `HasAns_examples` over
        the answerable questions and `NoAns_exact_match`, `NoAns_f1`, `NoAns_examples` over the
        unanswerable ones, each group where it has questions (the official script's
        `HasAns_exact`, ..., `_total`).

    Raises:
        ValueError: no examples, repeated ids, a prediction that is not a string, an unknown
            version, or an example without answers for version "1.1".

    Example:
        >>> dev = read_squad("squad_v1.1/dev-v1.1.json", split="val")   # tfapps.pipelines.squad_data
        >>> squad_metrics({"56be4db0acb8001400a502ec": "the Denver Broncos"}, dev.examples[:2])
        {'exact_match': 50.0, 'f1': 50.0, 'examples': 2.0, 'missing_predictions': 1.0}
    """
    if version not in ("auto", "1.1", "2.0"):
        raise ValueError(f"version must be 'auto', '1.1' or '2.0'. Received: version={version!r}")
    if not isinstance(predictions, Mapping):
        raise ValueError(
            f"predictions must map question ids to answer texts. Received: predictions of type "
            f"{type(predictions).__name__}"
        )
    rows = _rows(examples)
    if version == "auto":
        version = "2.0" if any(impossible or not truths for _, truths, impossible in rows) else "1.1"
    exact_scores: list[float] = []
    f1_scores: list[float] = []
    has_answer: list[bool] = []
    missing = 0
    for qid, truths, _ in rows:
        prediction = predictions.get(qid)
        if prediction is not None and not isinstance(prediction, str):
            raise ValueError(
                f"Predictions must be answer texts. Received: predictions['{qid}']={prediction!r}"
            )
        if version == "1.1" and not truths:
            raise ValueError(
                f"SQuAD v1.1 scoring needs reference answers for every question. Expected version='2.0' (or "
                f"'auto') to score unanswerable questions. Received: example '{qid}' without answers"
            )
        # The official v2.0 script decides answerability by the answers list alone.
        has_answer.append(bool(truths))
        if prediction is None:
            missing += 1
            exact_scores.append(0.0)
            f1_scores.append(0.0)
            continue
        predicted = normalize_answer(prediction)
        if version == "2.0":
            references = [normalized for normalized in map(normalize_answer, truths) if normalized] or [""]
        else:
            references = [normalize_answer(truth) for truth in truths]
        exact_scores.append(max(float(predicted == reference) for reference in references))
        tokens = predicted.split()
        f1_scores.append(
            max(_token_f1(tokens, reference.split(), version == "2.0") for reference in references)
        )
    metrics = {
        "exact_match": _percent(exact_scores),
        "f1": _percent(f1_scores),
        "examples": float(len(rows)),
        "missing_predictions": float(missing),
    }
    if version == "2.0":
        for group, wanted in (("HasAns", True), ("NoAns", False)):
            chosen = [i for i, has in enumerate(has_answer) if has is wanted]
            if chosen:
                metrics[f"{group}_exact_match"] = _percent([exact_scores[i] for i in chosen])
                metrics[f"{group}_f1"] = _percent([f1_scores[i] for i in chosen])
                metrics[f"{group}_examples"] = float(len(chosen))
    return metrics


def _token_f1(predicted: Sequence[str], reference: Sequence[str], v2: bool) -> float:
    """F1 of two normalized token lists; v2.0 scores two empty lists 1 (both abstain), v1.1 0."""
    if v2 and (not predicted or not reference):
        return float(list(predicted) == list(reference))
    shared = sum((Counter(predicted) & Counter(reference)).values())
    if shared == 0:
        return 0.0
    precision = shared / len(predicted)
    recall = shared / len(reference)
    return 2 * precision * recall / (precision + recall)


def _truths(prediction: str, ground_truths: str | Sequence[str]) -> list[str]:
    """The reference answers as a list, after checking the arguments' types."""
    if not isinstance(prediction, str):
        raise ValueError(f"prediction must be a string. Received: prediction={prediction!r}")
    truths = [ground_truths] if isinstance(ground_truths, str) else list(ground_truths)
    if not truths or not all(isinstance(truth, str) for truth in truths):
        raise ValueError(
            f"ground_truths must be a reference answer text or a non-empty sequence of them. "
            f"Received: ground_truths={ground_truths!r}"
        )
    return truths


def _rows(examples: Iterable[_Example]) -> list[tuple[str, list[str], bool]]:
    """`(id, reference texts, is_impossible)` per example, after checking ids are unique."""
    rows = []
    seen: set[str] = set()
    for example in examples:
        qid = example.id
        if qid in seen:
            raise ValueError(f"Question ids must be unique. Received: id '{qid}' more than once")
        seen.add(qid)
        truths = [answer if isinstance(answer, str) else answer.text for answer in example.answers]
        rows.append((qid, truths, bool(getattr(example, "is_impossible", False))))
    if not rows:
        raise ValueError("No examples to score. Expected at least one question. Received: examples=[]")
    return rows


def _percent(scores: Sequence[float]) -> float:
    return 100.0 * sum(scores) / len(scores)
