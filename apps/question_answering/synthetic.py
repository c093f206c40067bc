"""A generated SQuAD v1.1 file: short paragraphs of facts about people, and questions on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfapps.pipelines.squad_data import Answer, SquadExample, write_squad

__all__ = ["synthetic_examples", "write_synthetic_squad"]

_PEOPLE = ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Freya", "Goran", "Hana", "Ivo", "Jana"]
_CITIES = ["Paris", "Lagos", "Osaka", "Quito", "Oslo", "Dakar", "Lima", "Hanoi"]
_JOBS = ["baker", "pilot", "nurse", "farmer", "lawyer", "painter", "chemist", "tailor"]
_PETS = ["cat", "parrot", "goat", "turtle", "rabbit", "horse"]
# (sentence template, question template): the answer is the slot filled by `{value}`.
_FACTS = {
    "city": ("{name} lives in {value}.", "Where does {name} live?"),
    "job": ("{name} works as a {value}.", "What does {name} work as?"),
    "pet": ("{name} owns a {value}.", "Which animal does {name} own?"),
}
_VALUES = {"city": _CITIES, "job": _JOBS, "pet": _PETS}


def synthetic_examples(paragraphs: int = 40, seed: int = 0) -> list[SquadExample]:
    """Paragraphs of three facts (a city, a job, a pet) about three different people, in random
    order, with one question per fact.

    One fact of each kind per paragraph keeps the set quick to learn (the question's kind picks
    the answer); telling apart two facts of the same kind by the person's name takes a reader
    tens of epochs to pick up, which is for the quality benchmark, not a unit test.
    """
    rng = np.random.default_rng(seed)
    examples = []
    for p in range(paragraphs):
        people = rng.choice(_PEOPLE, size=len(_FACTS), replace=False)
        sentences, questions = [], []
        for name, kind in zip(people, rng.permutation(list(_FACTS)), strict=True):
            kind = str(kind)
            value = str(rng.choice(_VALUES[kind]))
            sentence, question = _FACTS[kind]
            questions.append(
                (question.format(name=name), value, len(" ".join(sentences)) + (1 if sentences else 0))
            )
            sentences.append(sentence.format(name=name, value=value))
        context = " ".join(sentences)
        for q, (question, value, sentence_start) in enumerate(questions):
            start = context.index(value, sentence_start)
            examples.append(
                SquadExample(
                    id=f"p{p}q{q}",
                    title=f"Article {p // 4}",
                    question=question,
                    context=context,
                    answers=(Answer(value, start),),
                )
            )
    return examples


def write_synthetic_squad(path: Path, paragraphs: int = 40, seed: int = 0) -> Path:
    """Write `synthetic_examples` as a SQuAD v1.1 JSON file."""
    return write_squad(synthetic_examples(paragraphs, seed), Path(path), version="1.1")
