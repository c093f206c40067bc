"""Reading extractive question-answering data in SQuAD JSON (v1.1 and v2.0), checked before
training; splitting it by article; writing it back.

`read_squad` returns the questions as `SquadExample` records and a `SquadDataReport`. Odd
questions and answers never stop a read: they are dropped (or, for repaired offsets, kept) and
counted, with up to `MAX_EXAMPLES` examples naming the question id and article, in the report;
only a file that is not JSON, not in SQuAD's shape, or holds nothing usable at all is an error::

    data = read_squad("squad_v1.1/dev-v1.1.json", split="val")
    print(data.report.summary())
    train, test = split_articles(data, fraction=0.8, seed=0)    # by article: none on both sides
    write_squad(train, "work/train.json", version=data.version)

The file (`version` is "1.1" in v1.1 files and "v2.0" in v2.0 files)::

    {"version": "1.1", "data": [{"title": "Super_Bowl_50", "paragraphs": [{"context": "...",
      "qas": [{"id": "56be...", "question": "...", "answers": [{"text": "Denver Broncos",
      "answer_start": 177}], "is_impossible": false}]}]}]}

- `answer_start` is a character offset into the context (a Python `str` index, not a byte
  offset), and `context[answer_start:answer_start + len(text)]` should equal `text`. When it does
  not, the text is looked for within `REPAIR_WINDOW` characters of `answer_start` and the nearest
  occurrence (the earlier one on a tie) replaces the offset (`repaired_offsets`); an answer not
  found there (`unaligned_answers`) is dropped for training, and kept with its offset as given for
  evaluation (`split` "val" or "test"), which scores the answer texts only.
- v2.0 questions without an answer carry `"is_impossible": true` (and SQuAD's
  `plausible_answers`, which are not read); a question without the flag is impossible when it has
  no answers in a v2.0 file (the official v2.0 evaluation's rule), and must have answers in a v1.1
  file. The version is the file's `version` when it names 1.x or 2.x; otherwise, or when a 1.x
  file's questions carry `is_impossible`, it is "2.0" if any question carries the flag, else "1.1".
- Questions are stripped of surrounding whitespace; contexts and answer texts are kept exactly,
  since the offsets index them.

This module does not import TensorFlow, so that reading and checking a dataset stays fast.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import os
import random
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from tfapps.apps.errors import DataError, InvalidArgumentError, NotFoundError
from tfapps.pipelines.dataset_files import IssueTally, count_noun, describe_path, issue_lines
from tfapps.pipelines.splits import SPLIT_NAMES, canonical_split
from tfapps.pipelines.text_files import checked_utf8_bytes, utf8_error_reason

__all__ = [
    "MAX_EXAMPLES",
    "REPAIR_WINDOW",
    "SPLITS",
    "VERSIONS",
    "Answer",
    "SquadDataReport",
    "SquadDataset",
    "SquadExample",
    "read_squad",
    "split_articles",
    "write_squad",
]

logger = logging.getLogger(__name__)

VERSIONS = ("1.1", "2.0")
SPLITS = ("train", "val", "test", "predict")
MAX_EXAMPLES = 5
# How far (in characters, either side of `answer_start`) a misplaced answer text is looked for.
REPAIR_WINDOW = 100

_SHAPE = (
    'one JSON object {"version": ..., "data": [{"title": str, "paragraphs": [{"context": str, '
    '"qas": [{"id": str, "question": str, "answers": [{"text": str, "answer_start": int}], '
    '"is_impossible": bool (v2.0, optional)}]}]}]}'
)
_HINT = (
    "a SQuAD JSON file (v1.1 or v2.0, optionally gzipped), or a folder holding one per split "
    "(train-v1.1.json, dev-v1.1.json, train.json, val.json, ...)"
)
# The version strings SQuAD's own files carry.
_WRITTEN_VERSION = {"1.1": "1.1", "2.0": "v2.0"}
_PREVIEW = 40

# (report field, what it counts), in the order `summary()` lists them.
_ISSUES = (
    (
        "repaired_offsets",
        f"answers whose answer_start did not point at their text, moved to the nearest occurrence "
        f"within {REPAIR_WINDOW} characters (kept)",
    ),
    (
        "unaligned_answers",
        f"answers whose text is not within {REPAIR_WINDOW} characters of answer_start (dropped for "
        f"training; kept for evaluation, which scores the texts only)",
    ),
    ("empty_answers", "answers with an empty or whitespace-only text (dropped)"),
    ("empty_contexts", "paragraphs with an empty or whitespace-only context (their questions dropped)"),
    ("empty_questions", "questions with an empty or whitespace-only text (dropped)"),
    ("duplicate_ids", "questions whose id an earlier question already has (dropped)"),
    (
        "missing_answers",
        "questions not marked impossible without answers, or whose every answer was dropped (dropped)",
    ),
    ("impossible_with_answers", "questions marked is_impossible that have answers (dropped)"),
    (
        "duplicate_titles",
        "articles whose title repeats an earlier article's (kept; split_articles and write_squad "
        "treat them as one article)",
    ),
)


# --------------------------------------------------------------------------------- public types


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """One reference answer: a span of the context.

    Attributes:
        text: the answer text, exactly as in the file.
        start: its character offset in the context (a Python `str` index); `context[start:end]`
            is `text` unless the answer was kept unaligned for evaluation (see `read_squad`).
    """

    text: str
    start: int

    @property
    def end(self) -> int:
        """The character offset just past the answer: `start + len(text)`."""
        return self.start + len(self.text)


@dataclasses.dataclass(frozen=True, slots=True)
class SquadExample:
    """One question about one paragraph, with its reference answers.

    Attributes:
        id: the question id, unique in a dataset.
        title: the title of the article the paragraph comes from.
        question: the question, stripped of surrounding whitespace.
        context: the paragraph, exactly as in the file (the answers' offsets index it).
        answers: the reference answers, in file order (repeats kept: several annotators often give
            the same span); empty for an impossible question or `split="predict"`.
        is_impossible: whether the paragraph does not answer the question (SQuAD v2.0).
    """

    id: str
    title: str
    question: str
    context: str
    answers: tuple[Answer, ...]
    is_impossible: bool = False


@dataclasses.dataclass(frozen=True)
class SquadDataReport:
    """What reading a SQuAD file found: its size and every odd case, with examples.

    Examples name the question id and the article title ("56be4db0acb8001400a502ec
    (Super_Bowl_50): ...") or, for a paragraph, its article and 1-based position.

    Attributes:
        source: the file read.
        split: the canonical split the file was read for ("train", "val", "test", "predict").
        version: the SQuAD version the file was read as, "1.1" or "2.0".
        declared_version: the file's `version` value as a string, "" when it has none.
        articles_read, paragraphs_read, questions_read: entries in the file.
        questions_kept: questions kept (the dataset's examples).
        answers_read: answer objects of the questions read (0 for `split="predict"`).
        answers_kept: answers of the questions kept.
        impossible_kept: impossible questions kept.
        with_answers: whether answers were read (False for `split="predict"`).
        repaired_offsets, unaligned_answers, ...: the odd-case counts listed by `issues()`.
        examples: up to `MAX_EXAMPLES` descriptions per non-zero count.
    """

    source: str
    split: str
    version: str
    questions_read: int
    questions_kept: int
    declared_version: str = ""
    articles_read: int = 0
    paragraphs_read: int = 0
    answers_read: int = 0
    answers_kept: int = 0
    impossible_kept: int = 0
    with_answers: bool = True
    repaired_offsets: int = 0
    unaligned_answers: int = 0
    empty_answers: int = 0
    empty_contexts: int = 0
    empty_questions: int = 0
    duplicate_ids: int = 0
    missing_answers: int = 0
    impossible_with_answers: int = 0
    duplicate_titles: int = 0
    examples: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def issues(self) -> dict[str, int]:
        """The non-zero odd-case counts by field name, in report order."""
        return {name: getattr(self, name) for name, _ in _ISSUES if getattr(self, name)}

    def summary(self) -> str:
        """A few readable lines: totals, then each odd case with examples."""
        head = (
            f"SQuAD {self.version} data from {self.source} (split '{self.split}'): "
            f"{count_noun(self.questions_kept, 'question')} kept of {self.questions_read} read"
        )
        if self.impossible_kept:
            head += f" ({self.impossible_kept} impossible)"
        if self.with_answers:
            head += f", {count_noun(self.answers_kept, 'answer')} kept of {self.answers_read} read"
        else:
            head += ", answers not read (split 'predict')"
        head += (
            f"; {count_noun(self.articles_read, 'article')}, {count_noun(self.paragraphs_read, 'paragraph')}."
        )
        lines = [head]
        # SQuAD's own files declare "1.1" and "v2.0": only a declaration that differs is worth a line.
        if self.declared_version.strip().lower().removeprefix("v") != self.version:
            declared = f"'{self.declared_version}'" if self.declared_version else "none"
            lines.append(f"Declared version: {declared}; read as {self.version}.")
        details = {}
        if self.unaligned_answers:
            details["unaligned_answers"] = (
                "dropped" if self.split == "train" else f"kept: split '{self.split}'"
            )
        lines += issue_lines(self.issues(), _ISSUES, self.examples, details)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy: plain dicts, lists, strings, numbers and booleans."""
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        data["examples"] = {name: list(examples) for name, examples in self.examples.items()}
        return data


@dataclasses.dataclass(frozen=True)
class SquadDataset:
    """SQuAD data read from disk.

    Attributes:
        examples: one example per usable question, in file order.
        version: "1.1" or "2.0" (see `read_squad`).
        articles: the articles' titles, in file order, each once (also those whose every
            question was dropped).
        report: the counts and examples of odd cases.
    """

    examples: list[SquadExample]
    version: str
    articles: tuple[str, ...]
    report: SquadDataReport

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[SquadExample]:
        return iter(self.examples)

    @property
    def has_impossible(self) -> bool:
        """Whether any example is an impossible (unanswerable) question."""
        return any(example.is_impossible for example in self.examples)


# ----------------------------------------------------------------------------- public functions


def read_squad(path: str | os.PathLike[str], split: str = "train") -> SquadDataset:
    """Read a SQuAD v1.1 or v2.0 JSON file and check every question and answer once.

    Args:
        path: a SQuAD JSON file (any name; gzip-compressed files are detected by their first
            bytes), or a folder holding exactly one `<split>*.json[.gz]` file for `split`, the name
            starting with the split or an alias (`dev-v1.1.json` for "val", `train-v2.0.json`).
        split: "train" drops answers that cannot be aligned with their context (and questions
            left without answers); "val" or "test" (or an alias: "validation", "valid", "dev",
            "training", "testing") keep them, since evaluation scores the answer texts only.
            "predict" does not read answers (nor `is_impossible`): every example has no answers,
            and questions without answers are no odd case. In a folder, "predict" reads the test
            file.

    Returns:
        The `SquadDataset`.

    Raises:
        NotFoundError: `path` does not exist, or a folder has no file for `split`.
        InvalidArgumentError: a bad argument, or a folder with several files for `split`.
        DataError: a file that is not UTF-8 (or gzip), not JSON (the message names the line and
            column), not in SQuAD's shape (the message names the entry, e.g.
            `data[3].paragraphs[0].qas[7].answers[1].answer_start`), or holds no usable question
            (the message holds the report's summary).

    Example:
        >>> data = read_squad("squad_v1.1/dev-v1.1.json", split="val")
        >>> len(data), data.version, data.articles[0], data.examples[0].answers[0]
        (10570, '1.1', 'Super_Bowl_50', Answer(text='Denver Broncos', start=177))
    """
    split = canonical_split(split)
    file = _locate(path, split)
    document = _load_json(file)
    declared, articles, paragraphs, flagged = _paragraphs(document, file, answers_needed=split != "predict")
    version = _version(declared, flagged)
    tally = _Tally()
    titles: dict[str, int] = {}
    for index, title in enumerate(articles):
        earlier = titles.setdefault(title, index)
        if earlier != index:
            tally.note("duplicate_titles", f"data[{index}] '{title}' repeats data[{earlier}]")
    examples, answers_read = _checked_examples(paragraphs, version, split, tally)
    report = tally.report(
        source=str(file),
        split=split,
        version=version,
        declared_version=declared,
        articles_read=len(articles),
        paragraphs_read=len(paragraphs),
        questions_read=sum(len(paragraph.qas) for paragraph in paragraphs),
        questions_kept=len(examples),
        answers_read=answers_read,
        answers_kept=sum(len(example.answers) for example in examples),
        impossible_kept=sum(example.is_impossible for example in examples),
        with_answers=split != "predict",
    )
    if not examples:
        raise DataError(
            f"No usable question in the SQuAD data. Expected {_SHAPE}, with at least one question that "
            f"has a non-empty context and question (and, outside split 'predict', answers or is_impossible). "
            f"Received: path='{file}'\n{report.summary()}"
        )
    logger.info("%s", report.summary())
    return SquadDataset(examples, version, tuple(titles), report)


def split_articles(
    path_or_dataset: str | os.PathLike[str] | SquadDataset, fraction: float = 0.8, seed: int = 0
) -> tuple[list[SquadExample], list[SquadExample]]:
    """Split SQuAD examples by article: "train on the first 80%, evaluate on the rest".

    The rule, exactly: take the articles' titles in file order (`SquadDataset.articles`, `n` of
    them), shuffle that list with `random.Random(seed).shuffle`, and put the examples of the
    first `int(fraction * n)` articles (the float product rounded down, as Python's `int` does:
    38 of 48 for 0.8) on the training side and those of the others on the test side. Each
    article's questions all land on one side; each side keeps the file order of its examples.
    Articles sharing a title count as one (`duplicate_titles` in the report).

    Args:
        path_or_dataset: a `SquadDataset`, or a path that `read_squad` reads with `split="train"`.
        fraction: the share of articles to train on, strictly between 0 and 1.
        seed: the shuffle's seed; the same seed and file give the same split.

    Returns:
        `(train_examples, test_examples)` lists.

    Raises:
        InvalidArgumentError: `fraction` outside (0, 1), a seed that is not an integer, or a
            fraction that leaves one side without an article.
        NotFoundError, DataError: as `read_squad`, when given a path.

    Example:
        >>> train, test = split_articles("squad_v1.1/dev-v1.1.json")
        >>> len({e.title for e in train}), len({e.title for e in test})
        (38, 10)
    """
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction < 1:
        raise InvalidArgumentError(
            f"fraction must be the share of articles to train on, strictly between 0 and 1. "
            f"Received: fraction={fraction!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidArgumentError(f"seed must be an integer. Received: seed={seed!r}")
    dataset = path_or_dataset if isinstance(path_or_dataset, SquadDataset) else read_squad(path_or_dataset)
    order = list(dataset.articles)
    count = int(fraction * len(order))
    if not 0 < count < len(order):
        raise InvalidArgumentError(
            f"Splitting {count_noun(len(order), 'article')} with fraction {fraction} puts {count} on the "
            f"training side and {len(order) - count} on the test side. Expected a fraction that leaves at "
            f"least one article on each side, or more articles. Received: fraction={fraction!r}, "
            f"articles={len(order)}"
        )
    random.Random(seed).shuffle(order)
    train_titles = set(order[:count])
    train = [example for example in dataset.examples if example.title in train_titles]
    test = [example for example in dataset.examples if example.title not in train_titles]
    return train, test


def write_squad(examples: Iterable[SquadExample], path: str | os.PathLike[str], version: str = "1.1") -> Path:
    """Write examples as a SQuAD JSON file that `read_squad` reads back to the same examples.

    Examples are grouped into articles by title and into paragraphs by context, each in order of
    first appearance; questions keep their order within a paragraph (so examples in file order, as
    `read_squad` and `split_articles` give them, read back in the same order). Answers are written
    as they are: one kept unaligned for evaluation is dropped again by a `split="train"` read. The file is UTF-8 JSON
    (gzip-compressed when `path` ends in `.gz`), written to a temporary file beside `path` and
    then renamed, so a reader never sees half a file.

    Args:
        examples: the examples to write (ids unique).
        path: the file to write; missing parent folders are created, an existing file replaced.
        version: "1.1" (written as `"version": "1.1"`; no impossible question allowed) or "2.0"
            (written as `"v2.0"`, each question with `is_impossible`).

    Returns:
        The path written.

    Raises:
        InvalidArgumentError: an unknown version, no examples, something that is not a
            `SquadExample`, repeated ids, or an impossible question for version "1.1".

    Example:
        >>> train, test = split_articles("squad_v1.1/dev-v1.1.json")
        >>> write_squad(test, "work/test-v1.1.json", version="1.1")
        PosixPath('work/test-v1.1.json')
    """
    if version not in VERSIONS:
        raise InvalidArgumentError(
            f"Unknown SQuAD version. Expected one of {', '.join(VERSIONS)}. Received: version={version!r}"
        )
    items = list(examples)
    if not items:
        raise InvalidArgumentError(
            "No examples to write. Expected at least one SquadExample. Received: examples=[]"
        )
    seen: set[str] = set()
    for index, example in enumerate(items):
        if not isinstance(example, SquadExample):
            raise InvalidArgumentError(
                f"write_squad writes SquadExample records. Received: examples[{index}] of type "
                f"{type(example).__name__}"
            )
        if example.id in seen:
            raise InvalidArgumentError(
                f"Question ids must be unique in a SQuAD file. Received: examples[{index}].id='{example.id}', "
                f"repeated"
            )
        seen.add(example.id)
        if example.is_impossible and version == "1.1":
            raise InvalidArgumentError(
                f"SQuAD v1.1 has no impossible questions. Expected version='2.0' to write them. Received: "
                f"version='1.1', examples[{index}].id='{example.id}' is impossible"
            )
    articles: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for example in items:
        qa: dict[str, Any] = {
            "id": example.id,
            "question": example.question,
            "answers": [{"text": answer.text, "answer_start": answer.start} for answer in example.answers],
        }
        if version == "2.0":
            qa["is_impossible"] = example.is_impossible
        articles.setdefault(example.title, {}).setdefault(example.context, []).append(qa)
    document = {
        "version": _WRITTEN_VERSION[version],
        "data": [
            {
                "title": title,
                "paragraphs": [{"context": context, "qas": qas} for context, qas in paragraphs.items()],
            }
            for title, paragraphs in articles.items()
        ],
    }
    data = json.dumps(document, ensure_ascii=False).encode("utf-8")
    target = Path(path).expanduser()
    if target.name.lower().endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


# --------------------------------------------------------------------------------------- tally


class _Tally(IssueTally):
    """Counts and examples of odd cases, gathered while reading a file."""

    def __init__(self) -> None:
        super().__init__(MAX_EXAMPLES)

    def report(self, **fields: Any) -> SquadDataReport:
        return SquadDataReport(
            examples={name: tuple(self.examples[name]) for name, _ in _ISSUES if self.examples[name]},
            **{name: self.counts[name] for name, _ in _ISSUES},
            **fields,
        )


class _Paragraph(NamedTuple):
    """A paragraph as found in the file, shape-checked: its questions are `(location, qa object)`."""

    title: str
    number: int
    context: str
    qas: list[tuple[str, dict[str, Any]]]


# ------------------------------------------------------------------------------------ checking


def _checked_examples(
    paragraphs: Sequence[_Paragraph], version: str, split: str, tally: _Tally
) -> tuple[list[SquadExample], int]:
    """The usable examples of `paragraphs`, and the number of answers read."""
    # id -> where it was first read; also ids of questions dropped for another reason.
    seen_ids: dict[str, str] = {}
    examples = []
    answers_read = 0
    for paragraph in paragraphs:
        empty_context = not paragraph.context.strip()
        if empty_context:
            tally.note(
                "empty_contexts",
                f"'{paragraph.title}' paragraph {paragraph.number} "
                f"({count_noun(len(paragraph.qas), 'question')})",
            )
        for location, qa in paragraph.qas:
            raw_answers = qa.get("answers", []) if split != "predict" else []
            answers_read += len(raw_answers)
            qid = qa["id"]
            if qid in seen_ids:
                tally.note("duplicate_ids", f"{location} repeats {seen_ids[qid]}: id '{qid}'")
                continue
            seen_ids[qid] = location
            if empty_context:
                continue
            example = _checked_example(qa, raw_answers, paragraph, version, split, tally)
            if example is not None:
                examples.append(example)
    return examples, answers_read


def _checked_example(
    qa: dict[str, Any],
    raw_answers: Sequence[dict[str, Any]],
    paragraph: _Paragraph,
    version: str,
    split: str,
    tally: _Tally,
) -> SquadExample | None:
    """One question as an example, or None when it is dropped (noted)."""
    qid, title, context = qa["id"], paragraph.title, paragraph.context
    where = f"{qid} ({title})"
    question = qa["question"].strip()
    if not question:
        tally.note("empty_questions", where)
        return None
    if split == "predict":
        return SquadExample(qid, title, question, context, ())
    flag = qa.get("is_impossible")
    impossible = flag if flag is not None else (version == "2.0" and not raw_answers)
    if impossible:
        if raw_answers:
            tally.note("impossible_with_answers", f"{where}: {count_noun(len(raw_answers), 'answer')}")
            return None
        return SquadExample(qid, title, question, context, (), True)
    if not raw_answers:
        tally.note("missing_answers", f"{where}: no answers")
        return None
    answers = _checked_answers(raw_answers, context, where, split, tally)
    if not answers:
        tally.note("missing_answers", f"{where}: every answer dropped")
        return None
    return SquadExample(qid, title, question, context, answers)


def _checked_answers(
    raw_answers: Sequence[dict[str, Any]], context: str, where: str, split: str, tally: _Tally
) -> tuple[Answer, ...]:
    """The answers kept: aligned (or repaired) ones, plus unaligned ones outside training."""
    answers = []
    for number, raw in enumerate(raw_answers, 1):
        text, start = raw["text"], raw["answer_start"]
        if not text.strip():
            tally.note("empty_answers", f"{where}: answer {number}")
            continue
        if start >= 0 and context[start : start + len(text)] == text:
            answers.append(Answer(text, start))
            continue
        found = _nearest(context, text, start)
        there = _preview(context[max(start, 0) : max(start, 0) + len(text)])
        if found is not None:
            tally.note(
                "repaired_offsets",
                f"{where}: answer {number} {_preview(text)} at {start} ({there} there) moved to {found}",
            )
            answers.append(Answer(text, found))
            continue
        tally.note(
            "unaligned_answers",
            f"{where}: answer {number} {_preview(text)} at {start} ({there} there), not found within "
            f"{REPAIR_WINDOW} characters",
        )
        if split != "train":
            answers.append(Answer(text, start))
    return tuple(answers)


def _nearest(context: str, text: str, start: int) -> int | None:
    """The start of the occurrence of `text` nearest to `start` (the earlier on a tie), among those
    starting within `REPAIR_WINDOW` characters of it; None when there is none."""
    low = max(0, start - REPAIR_WINDOW)
    high = min(len(context), max(0, start + REPAIR_WINDOW + len(text)))
    best = None
    found = context.find(text, low, high)
    while found != -1:
        if best is None or abs(found - start) < abs(best - start):
            best = found
        found = context.find(text, found + 1, high)
    return best


def _preview(text: str) -> str:
    """`text` quoted for a report, shortened to `_PREVIEW` characters."""
    return repr(text if len(text) <= _PREVIEW else text[: _PREVIEW - 3] + "...")


def _version(declared: str, flagged: bool) -> str:
    """The version to read the file as: the declared one when it names 1.x or 2.x (a 1.x file whose
    questions carry `is_impossible` is read as 2.0), otherwise inferred from the flag."""
    name = declared.strip().lower().removeprefix("v")
    if re.match(r"2(\.|$)", name):
        return "2.0"
    if re.match(r"1(\.|$)", name) and not flagged:
        return "1.1"
    return "2.0" if flagged else "1.1"


# ------------------------------------------------------------------------------ reading the file


def _load_json(file: Path) -> Any:
    """The file's JSON document (gzip detected by its magic bytes)."""
    data = file.read_bytes()
    if data.startswith(b"\x1f\x8b"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise DataError(
                f"{file.name} is not a readable gzip file ({type(error).__name__}: {error}). Expected a "
                f"complete gzip file, or plain UTF-8 JSON. Received: path='{file}'"
            ) from error
    data = checked_utf8_bytes(data, file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataError(
            f"{file.name} is not UTF-8: line {line}: {utf8_error_reason(data, error)}. Expected UTF-8 "
            f"JSON. Received: path='{file}'"
        ) from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        hint = (
            " (a second JSON value follows the first: JSON Lines is not SQuAD's format)"
            if error.msg == "Extra data"
            else ""
        )
        raise DataError(
            f"{file.name} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
            f"{hint}. Expected {_SHAPE}. Received: path='{file}'"
        ) from error


def _paragraphs(
    document: Any, file: Path, answers_needed: bool
) -> tuple[str, list[str], list[_Paragraph], bool]:
    """Check the document's shape and flatten it: `(declared version, article titles, paragraphs,
    whether any question carries is_impossible)`.

    Raises:
        DataError: the first entry not in SQuAD's shape, named by its location.
    """
    shape = _Shape(file)
    shape.check(document, dict, "the document", "an object")
    declared = document.get("version")
    declared = "" if declared is None else declared
    if isinstance(declared, bool) or not isinstance(declared, str | int | float):
        shape.fail("version", declared, "a string such as '1.1' or 'v2.0'")
    articles = shape.check(document.get("data", _MISSING), list, "data", "a list of articles")
    titles: list[str] = []
    paragraphs: list[_Paragraph] = []
    flagged = False
    for a, article in enumerate(articles):
        at = f"data[{a}]"
        shape.check(article, dict, at, "an object (an article)")
        title = shape.check(article.get("title", _MISSING), str, f"{at}.title", "a string")
        titles.append(title)
        items = shape.check(
            article.get("paragraphs", _MISSING), list, f"{at}.paragraphs", "a list of paragraphs"
        )
        for p, item in enumerate(items):
            pat = f"{at}.paragraphs[{p}]"
            shape.check(item, dict, pat, "an object (a paragraph)")
            context = shape.check(item.get("context", _MISSING), str, f"{pat}.context", "a string")
            qas = shape.check(item.get("qas", _MISSING), list, f"{pat}.qas", "a list of questions")
            located = []
            for q, qa in enumerate(qas):
                qat = f"{pat}.qas[{q}]"
                shape.check(qa, dict, qat, "an object (a question)")
                qid = shape.check(qa.get("id", _MISSING), str, f"{qat}.id", "a non-empty string")
                if not qid:
                    shape.fail(f"{qat}.id", qid, "a non-empty string")
                shape.check(qa.get("question", _MISSING), str, f"{qat}.question", "a string")
                if "is_impossible" in qa:
                    flagged = True
                    shape.check(qa["is_impossible"], bool, f"{qat}.is_impossible", "true or false")
                if answers_needed or "answers" in qa:
                    answers = shape.check(
                        qa.get("answers", _MISSING), list, f"{qat}.answers", "a list of answers"
                    )
                    for n, answer in enumerate(answers):
                        nat = f"{qat}.answers[{n}]"
                        shape.check(answer, dict, nat, "an object (an answer)")
                        shape.check(answer.get("text", _MISSING), str, f"{nat}.text", "a string")
                        shape.check(
                            answer.get("answer_start", _MISSING),
                            int,
                            f"{nat}.answer_start",
                            "an integer character offset",
                        )
                located.append((qat, qa))
            paragraphs.append(_Paragraph(title, p + 1, context, located))
    return str(declared), titles, paragraphs, flagged


# Marks a key absent from a JSON object (None is JSON's null).
_MISSING: Any = object()


class _Shape:
    """Checks a JSON value's type, raising the `DataError` that names the entry when it is wrong."""

    def __init__(self, file: Path):
        self.file = file

    def check(self, value: Any, kind: type, where: str, expected: str) -> Any:
        """`value`, when it is a `kind` (a bool is no int here)."""
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(where, value, expected)
        return value

    def fail(self, where: str, value: Any, expected: str) -> None:
        received = "missing" if value is _MISSING else _json_preview(value)
        raise DataError(
            f"{self.file.name} is not in SQuAD's shape: {where} must be {expected}. Expected {_SHAPE}. "
            f"Received: {where}={received}"
        )


def _json_preview(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


# ------------------------------------------------------------------------------- locating files


def _locate(path: str | os.PathLike[str], split: str) -> Path:
    """The file to read: `path` itself, or the one file for `split` in the folder `path`."""
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise InvalidArgumentError(f"No SQuAD data path given. Expected {_HINT}. Received: path={path!r}")
    # abspath, not resolve(): normalises `..` but keeps the symlinked names a user typed.
    root = Path(os.path.abspath(Path(path).expanduser()))
    if root.is_file():
        return root
    if not root.is_dir():
        raise NotFoundError(f"The SQuAD data path does not exist. Expected {_HINT}. Received: path='{path}'")
    applied = "test" if split == "predict" else split
    aliases = SPLIT_NAMES[applied]
    pattern = re.compile(rf"({'|'.join(aliases)})([-_.][^/]*)?\.json(\.gz)?", re.IGNORECASE)
    found = sorted(p for p in root.iterdir() if p.is_file() and pattern.fullmatch(p.name))
    if len(found) == 1:
        return found[0]
    if found:
        raise InvalidArgumentError(
            f"The SQuAD data folder holds several files for split '{applied}': "
            f"{', '.join(p.name for p in found)}. Expected one; pass the file to read as the path. "
            f"Received: path='{path}', split='{split}'"
        )
    raise NotFoundError(
        f"The SQuAD data folder has no file for split '{applied}': looked for "
        f"{', '.join(f'{alias}*.json[.gz]' for alias in aliases)}; found {describe_path(root)}. "
        f"Expected {_HINT}. Received: path='{path}', split='{split}'"
    )
