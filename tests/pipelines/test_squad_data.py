"""SQuAD readers for extractive question answering: v1.1 and v2.0 JSON, odd questions and answers
dropped (or repaired, for misplaced offsets) and reported with question-id examples, never raised;
only invalid JSON, a document not in SQuAD's shape, or nothing usable is an error. Also the split by
article and writing SQuAD JSON back. Generated files in tmp_path, plus one test of the shared SQuAD
v1.1 dev file."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tfapps.apps.errors import DataError, InvalidArgumentError, NotFoundError
from tfapps.models.qa_metrics import squad_metrics
from tfapps.pipelines.squad_data import (
    REPAIR_WINDOW,
    Answer,
    SquadDataset,
    SquadExample,
    read_squad,
    split_articles,
    write_squad,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SQUAD_DEV = SHARED / "datasets" / "question_answering" / "squad_v1.1" / "dev-v1.1.json"

CONTEXT = "Super Bowl 50 was won by the Denver Broncos, who beat the Carolina Panthers 24-10."


def qa(qid: str, question: str, *answers: tuple[str, int], **extra) -> dict:
    return {
        "id": qid,
        "question": question,
        "answers": [{"text": t, "answer_start": s} for t, s in answers],
        **extra,
    }


def article(title: str, *paragraphs: tuple[str, list[dict]]) -> dict:
    return {"title": title, "paragraphs": [{"context": c, "qas": qas} for c, qas in paragraphs]}


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_doc(path: Path, articles: list[dict], version: str | None = "1.1") -> Path:
    document: dict = {"data": articles} if version is None else {"version": version, "data": articles}
    return write(path, json.dumps(document, ensure_ascii=False))


def small_articles(count: int) -> list[dict]:
    """`count` articles `A0`, `A1`, ... of one or two questions each."""
    return [
        article(
            f"A{i}",
            (
                CONTEXT,
                [qa(f"q{i}a", "Who won?", ("Denver Broncos", 29))]
                + ([qa(f"q{i}b", "Who lost?", ("Carolina Panthers", 58))] if i % 2 else []),
            ),
        )
        for i in range(count)
    ]


# --- reading v1.1 and v2.0 ----------------------------------------------------------------------


def test_v11_file_reads_examples_answers_and_report(tmp_path):
    path = write_doc(
        tmp_path / "train-v1.1.json",
        [
            article(
                "Super_Bowl_50",
                (
                    CONTEXT,
                    [
                        qa(
                            "q1",
                            "  Who won Super Bowl 50? ",
                            ("Denver Broncos", 29),
                            ("the Denver Broncos", 25),
                        )
                    ],
                ),
                ("Carolina lost.", [qa("q2", "Who lost?", ("Carolina", 0))]),
            ),
            article(
                "Warsaw", ("Warsaw is the capital of Poland.", [qa("q3", "Capital of what?", ("Poland", 25))])
            ),
        ],
    )

    data = read_squad(path)

    assert isinstance(data, SquadDataset) and len(data) == 3 and list(data) == data.examples
    assert data.version == "1.1" and data.articles == ("Super_Bowl_50", "Warsaw") and not data.has_impossible
    first = data.examples[0]
    assert first == SquadExample(
        "q1",
        "Super_Bowl_50",
        "Who won Super Bowl 50?",
        CONTEXT,
        (Answer("Denver Broncos", 29), Answer("the Denver Broncos", 25)),
        False,
    )
    assert first.context[first.answers[0].start : first.answers[0].end] == "Denver Broncos"
    report = data.report
    assert (report.articles_read, report.paragraphs_read, report.questions_read, report.questions_kept) == (
        2,
        3,
        3,
        3,
    )
    assert (report.answers_read, report.answers_kept, report.impossible_kept) == (4, 4, 0)
    assert report.issues() == {} and report.split == "train" and report.declared_version == "1.1"
    summary = report.summary()
    assert summary.startswith(f"SQuAD 1.1 data from {path} (split 'train'): 3 questions kept of 3 read")
    assert (
        "4 answers kept of 4 read; 2 articles, 3 paragraphs." in summary and "No odd cases found." in summary
    )
    assert "Declared version" not in summary
    assert json.loads(json.dumps(report.to_dict())) == report.to_dict()


def test_v20_impossible_questions_and_their_odd_cases(tmp_path):
    path = write_doc(
        tmp_path / "dev-v2.0.json",
        [
            article(
                "Super_Bowl_50",
                (
                    CONTEXT,
                    [
                        qa("q1", "Who won?", ("Denver Broncos", 29), is_impossible=False),
                        qa(
                            "q2",
                            "Who won Super Bowl 49?",
                            is_impossible=True,
                            plausible_answers=[{"text": "Denver Broncos", "answer_start": 29}],
                        ),
                        # No flag in a v2.0 file: no answers means impossible (the official evaluation's rule).
                        qa("q3", "Who sang?"),
                        qa("q4", "Who lost?", ("Carolina Panthers", 58), is_impossible=True),
                        qa("q5", "Who coached?", is_impossible=False),
                    ],
                ),
            )
        ],
        version="v2.0",
    )

    data = read_squad(path, split="dev")

    assert data.version == "2.0" and data.has_impossible
    assert [(e.id, e.is_impossible, e.answers) for e in data] == [
        ("q1", False, (Answer("Denver Broncos", 29),)),
        ("q2", True, ()),
        ("q3", True, ()),
    ]
    report = data.report
    assert report.split == "val" and report.declared_version == "v2.0" and report.impossible_kept == 2
    assert report.issues() == {"missing_answers": 1, "impossible_with_answers": 1}
    assert report.examples["impossible_with_answers"] == ("q4 (Super_Bowl_50): 1 answer",)
    assert report.examples["missing_answers"] == ("q5 (Super_Bowl_50): no answers",)
    summary = report.summary()
    assert "SQuAD 2.0 data" in summary and "3 questions kept of 5 read (2 impossible)" in summary
    assert "Declared version" not in summary  # "v2.0" is how SQuAD's own files say 2.0
    assert "questions marked is_impossible that have answers (dropped): 1; e.g. q4 (Super_Bowl_50)" in summary


def test_version_is_inferred_from_is_impossible_when_not_declared(tmp_path):
    flagged = [article("T", (CONTEXT, [qa("q1", "Who won?", ("Denver Broncos", 29), is_impossible=False)]))]
    plain = [article("T", (CONTEXT, [qa("q1", "Who won?", ("Denver Broncos", 29))]))]

    assert read_squad(write_doc(tmp_path / "a.json", flagged, version=None)).version == "2.0"
    assert read_squad(write_doc(tmp_path / "b.json", plain, version=None)).version == "1.1"
    declared_v1 = read_squad(write_doc(tmp_path / "c.json", flagged, version="1.1"))
    assert declared_v1.version == "2.0"
    assert "Declared version: '1.1'; read as 2.0." in declared_v1.report.summary()
    number = write(tmp_path / "d.json", json.dumps({"version": 1.1, "data": plain}))
    assert read_squad(number).report.declared_version == "1.1"
    null = write(tmp_path / "e.json", json.dumps({"version": None, "data": plain}))
    assert read_squad(null).report.declared_version == "" and read_squad(null).version == "1.1"
    assert "Declared version: none; read as 1.1." in read_squad(tmp_path / "b.json").report.summary()


def test_v11_questions_without_answers_are_dropped_and_reported(tmp_path):
    path = write_doc(
        tmp_path / "train.json",
        [article("T", (CONTEXT, [qa("q1", "Who won?", ("Denver Broncos", 29)), qa("q2", "Who sang?")]))],
    )

    data = read_squad(path)

    assert [e.id for e in data] == ["q1"] and data.version == "1.1" and not data.has_impossible
    assert data.report.issues() == {"missing_answers": 1}
    assert data.report.examples["missing_answers"] == ("q2 (T): no answers",)


# --- answer offsets -----------------------------------------------------------------------------


def test_misplaced_offsets_are_repaired_to_the_nearest_occurrence(tmp_path):
    context = "the cat sat; the cat ran; the cat hid."
    accented = "Café Müller, née Zoë: the answer."
    byte_offset = len(accented[: accented.index("the answer")].encode("utf-8"))
    path = write_doc(
        tmp_path / "train.json",
        [
            article(
                "T",
                (
                    context,
                    [
                        qa("q1", "Which cat?", ("the cat", 14)),  # occurrences at 0, 13, 26: 13 is nearest
                        qa("q2", "Which cat?", ("cat ran", 18)),  # one past its place
                        qa("q3", "Aligned?", ("cat hid", 30)),
                    ],
                ),
                ("ab  ab", [qa("q5", "Tie?", ("ab", 2))]),  # 0 and 4 are as near: the earlier wins
                (accented, [qa("q4", "What?", ("the answer", byte_offset))]),  # a UTF-8 byte offset
            )
        ],
    )

    data = read_squad(path)

    answers = {e.id: e.answers[0] for e in data}
    assert answers == {
        "q1": Answer("the cat", 13),
        "q2": Answer("cat ran", 17),
        "q3": Answer("cat hid", 30),
        "q4": Answer("the answer", accented.index("the answer")),
        "q5": Answer("ab", 0),
    }
    for example in data:
        answer = example.answers[0]
        assert example.context[answer.start : answer.end] == answer.text
    report = data.report
    assert report.issues() == {"repaired_offsets": 4} and report.answers_kept == 5
    assert (
        report.examples["repaired_offsets"][0]
        == "q1 (T): answer 1 'the cat' at 14 ('he cat ' there) moved to 13"
    )


def test_unaligned_answers_are_dropped_for_training_and_kept_for_evaluation(tmp_path):
    far = "x" * (REPAIR_WINDOW + 50) + " Denver Broncos"
    path = write_doc(
        tmp_path / "data.json",
        [
            article(
                "T",
                (
                    far,
                    [
                        qa("q1", "Who won?", ("Denver Broncos", 0)),  # found, but beyond the window
                        qa("q2", "Who won?", ("Denver Broncos", 0), ("Denver Broncos", len(far) - 14)),
                        qa("q3", "Who won?", ("Broncos of Denver", 5), ("  ", 3)),
                    ],
                ),
            )
        ],
    )

    train = read_squad(path)
    val = read_squad(path, split="val")

    assert [(e.id, e.answers) for e in train] == [("q2", (Answer("Denver Broncos", len(far) - 14),))]
    assert train.report.issues() == {"unaligned_answers": 3, "empty_answers": 1, "missing_answers": 2}
    assert train.report.examples["missing_answers"] == (
        "q1 (T): every answer dropped",
        "q3 (T): every answer dropped",
    )
    assert train.report.examples["empty_answers"] == ("q3 (T): answer 2",)
    assert train.report.examples["unaligned_answers"][0] == (
        f"q1 (T): answer 1 'Denver Broncos' at 0 ('xxxxxxxxxxxxxx' there), not found within {REPAIR_WINDOW} characters"
    )
    assert (
        "characters of answer_start (dropped for training; kept for evaluation, which scores the texts "
        "only): 3 (dropped)" in train.report.summary()
    )
    assert [len(e.answers) for e in val] == [1, 2, 1] and val.examples[2].answers == (
        Answer("Broncos of Denver", 5),
    )
    assert val.report.issues() == {"unaligned_answers": 3, "empty_answers": 1}
    assert "only): 3 (kept: split 'val')" in val.report.summary()


# --- other odd cases ----------------------------------------------------------------------------


def test_empty_texts_duplicate_ids_and_titles_are_reported(tmp_path):
    path = write_doc(
        tmp_path / "train.json",
        [
            article(
                "T",
                (
                    CONTEXT,
                    [qa("q1", "Who won?", ("Denver Broncos", 29)), qa("q2", "   ", ("Denver Broncos", 29))],
                ),
                ("  \n", [qa("q3", "Who?", ("x", 0)), qa("q4", "Who?", ("y", 0))]),
            ),
            article("U", (CONTEXT, [qa("q1", "Who lost?", ("Carolina Panthers", 58))])),
            article("T", (CONTEXT, [qa("q5", "Who lost?", ("Carolina Panthers", 58))])),
        ],
    )

    data = read_squad(path)

    assert [(e.id, e.title) for e in data] == [("q1", "T"), ("q5", "T")]
    assert data.articles == ("T", "U")
    report = data.report
    assert report.issues() == {
        "empty_contexts": 1,
        "empty_questions": 1,
        "duplicate_ids": 1,
        "duplicate_titles": 1,
    }
    assert report.examples == {
        "empty_contexts": ("'T' paragraph 2 (2 questions)",),
        "empty_questions": ("q2 (T)",),
        "duplicate_ids": ("data[1].paragraphs[0].qas[0] repeats data[0].paragraphs[0].qas[0]: id 'q1'",),
        "duplicate_titles": ("data[2] 'T' repeats data[0]",),
    }
    assert (report.questions_read, report.questions_kept, report.articles_read, report.paragraphs_read) == (
        6,
        2,
        3,
        4,
    )


def test_predict_split_reads_questions_without_answers(tmp_path):
    path = write_doc(
        tmp_path / "questions.json",
        [
            article(
                "T",
                (CONTEXT, [{"id": "q1", "question": "Who won?"}, qa("q2", "Who lost?", ("Carolina", 58))]),
            )
        ],
    )

    data = read_squad(path, split="predict")

    assert [(e.id, e.answers, e.is_impossible) for e in data] == [("q1", (), False), ("q2", (), False)]
    assert data.report.issues() == {} and not data.report.with_answers and data.report.answers_read == 0
    assert "answers not read (split 'predict')" in data.report.summary()
    with pytest.raises(
        DataError,
        match=r"qas\[0\]\.answers must be a list of answers.*Received: "
        r"data\[0\]\.paragraphs\[0\]\.qas\[0\]\.answers=missing",
    ):
        read_squad(path)


def test_nothing_usable_is_an_error_holding_the_summary(tmp_path):
    path = write_doc(
        tmp_path / "train.json", [article("T", (CONTEXT, [qa("q1", "Who?"), qa("q2", "", ("x", 0))]))]
    )

    with pytest.raises(DataError, match=r"No usable question in the SQuAD data.*Received: path=") as error:
        read_squad(path)
    assert "questions not marked impossible without answers" in str(error.value)
    with pytest.raises(DataError, match=r"No usable question"):
        read_squad(write_doc(tmp_path / "empty.json", []))


# --- files that are not SQuAD -------------------------------------------------------------------


def test_invalid_json_names_the_file_line_and_column(tmp_path):
    path = write(tmp_path / "broken.json", '{"version": "1.1",\n "data": [\n  {"title": "T",}\n]}')
    with pytest.raises(
        DataError,
        match=r"broken.json is not valid JSON: Expecting property name enclosed in "
        r"double quotes at line 3, column 17\. Expected one JSON object",
    ):
        read_squad(path)
    lines = write(tmp_path / "lines.json", '{"data": []}\n{"data": []}\n')
    with pytest.raises(
        DataError,
        match=r"Extra data at line 2, column 1 \(a second JSON value follows the first: "
        r"JSON Lines is not SQuAD's format\).*Received: path=",
    ):
        read_squad(lines)
    latin1 = write(tmp_path / "latin1.json", b'{"version": "1.1",\n"data": ["caf\xe9"]}')
    with pytest.raises(
        DataError, match=r"latin1.json is not UTF-8: line 2: byte 0xe9 at offset \d+ is not UTF-8"
    ):
        read_squad(latin1)
    utf16 = write(tmp_path / "utf16.json", '{"data": []}'.encode("utf-16"))
    with pytest.raises(DataError, match=r"utf16.json is UTF-16"):
        read_squad(utf16)
    with pytest.raises(DataError, match=r"not a readable gzip file"):
        read_squad(write(tmp_path / "cut.json", gzip.compress(b'{"data": []}')[:12]))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], r"the document must be an object\. Expected one JSON object .*Received: the document=\[\]"),
        ({"version": "1.1"}, r"data must be a list of articles\..*Received: data=missing"),
        ({"data": {"title": "T"}}, r"Received: data=\{\"title\": \"T\"\}"),
        (
            {"version": ["1"], "data": []},
            r"version must be a string such as '1.1' or 'v2.0'.*Received: version=\[\"1\"\]",
        ),
        (
            {"data": [{"paragraphs": []}]},
            r"data\[0\]\.title must be a string.*Received: data\[0\]\.title=missing",
        ),
        (
            {"data": [{"title": "T", "paragraphs": [{"context": None, "qas": []}]}]},
            r"Received: data\[0\]\.paragraphs\[0\]\.context=null",
        ),
        (
            {"data": [article("T", (CONTEXT, [{"question": "Q?", "answers": []}]))]},
            r"qas\[0\]\.id must be a non-empty string.*Received: data\[0\]\.paragraphs\[0\]\.qas\[0\]\.id=missing",
        ),
        (
            {"data": [article("T", (CONTEXT, [{"id": "", "question": "Q?", "answers": []}]))]},
            r"qas\[0\]\.id=\"\"",
        ),
        (
            {"data": [article("T", (CONTEXT, [{"id": 7, "question": "Q?", "answers": []}]))]},
            r"qas\[0\]\.id=7",
        ),
        (
            {"data": [article("T", (CONTEXT, [qa("q", "Q?", is_impossible="yes")]))]},
            r"is_impossible must be true or false.*Received: .*is_impossible=\"yes\"",
        ),
        (
            {"data": [article("T", (CONTEXT, [qa("q", "Q?", ("Denver", "29"))]))]},
            r"qas\[0\]\.answers\[0\]\.answer_start must be an integer character offset.*"
            r"Received: data\[0\]\.paragraphs\[0\]\.qas\[0\]\.answers\[0\]\.answer_start=\"29\"",
        ),
        ({"data": [article("T", (CONTEXT, [qa("q", "Q?", ("Denver", True))]))]}, r"answer_start=true"),
    ],
)
def test_documents_not_in_squad_shape_name_the_entry(tmp_path, document, message):
    path = write(tmp_path / "odd.json", json.dumps(document))
    with pytest.raises(DataError, match=r"odd.json is not in SQuAD's shape: .*" + message):
        read_squad(path)


# --- locating files -----------------------------------------------------------------------------


def test_folder_picks_the_split_file_and_gzip_is_detected(tmp_path):
    write_doc(tmp_path / "train-v1.1.json", [article("Train", (CONTEXT, [qa("t1", "Who?", ("Denver", 29))]))])
    write_doc(tmp_path / "dev-v1.1.json.gz", [article("Dev", (CONTEXT, [qa("d1", "Who?", ("Denver", 29))]))])
    write(tmp_path / "notes.txt", "not read")

    assert read_squad(tmp_path).articles == ("Train",)
    val = read_squad(str(tmp_path), split="validation")
    assert val.articles == ("Dev",) and val.report.source == str(tmp_path / "dev-v1.1.json.gz")
    with pytest.raises(
        NotFoundError,
        match=r"no file for split 'test': looked for test\*\.json\[\.gz\], "
        r"testing\*\.json\[\.gz\]; found a folder holding dev-v1.1.json.gz",
    ):
        read_squad(tmp_path, split="predict")
    write_doc(tmp_path / "dev-v2.0.json", [])
    with pytest.raises(
        InvalidArgumentError, match=r"several files for split 'val': dev-v1.1.json.gz, dev-v2.0.json"
    ):
        read_squad(tmp_path, split="val")


def test_bad_paths_and_arguments(tmp_path):
    with pytest.raises(NotFoundError, match=r"does not exist.*Received: path='.*nowhere.json'"):
        read_squad(tmp_path / "nowhere.json")
    with pytest.raises(InvalidArgumentError, match=r"No SQuAD data path given.*Received: path=None"):
        read_squad(None)
    with pytest.raises(InvalidArgumentError, match=r"Unknown split.*Received: split='eval'"):
        read_squad(tmp_path, split="eval")


# --- splitting by article -----------------------------------------------------------------------


def test_split_articles_follows_the_documented_rule(tmp_path):
    path = write_doc(tmp_path / "train.json", small_articles(7))
    data = read_squad(path)

    train, test = split_articles(data, fraction=0.8, seed=3)

    titles = [f"A{i}" for i in range(7)]
    random.Random(3).shuffle(titles)
    # int(0.8 * 7) = 5 articles (round() would give 6).
    assert {e.title for e in train} == set(titles[:5]) and {e.title for e in test} == set(titles[5:])
    assert sorted(train + test, key=data.examples.index) == data.examples
    assert train == [e for e in data if e in train] and test == [e for e in data if e in test]  # file order
    assert split_articles(path, fraction=0.8, seed=3) == (train, test)
    assert split_articles(data, seed=4) != (train, test)
    other_train, other_test = split_articles(data, fraction=0.5)
    assert len({e.title for e in other_train}) == 3 and len({e.title for e in other_test}) == 4


def test_split_articles_rejects_bad_arguments(tmp_path):
    data = read_squad(write_doc(tmp_path / "train.json", small_articles(3)))
    for fraction in (0, 1, 1.5, True, "0.8"):
        with pytest.raises(
            InvalidArgumentError, match=rf"strictly between 0 and 1\. Received: fraction={fraction!r}"
        ):
            split_articles(data, fraction=fraction)
    with pytest.raises(InvalidArgumentError, match=r"Received: seed='1'"):
        split_articles(data, seed="1")
    with pytest.raises(
        InvalidArgumentError,
        match=r"3 articles with fraction 0.3 puts 0 on the training side and "
        r"3 on the test side.*Received: fraction=0.3, articles=3",
    ):
        split_articles(data, fraction=0.3)


# --- writing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "written"), [("1.1", "1.1"), ("2.0", "v2.0")])
def test_write_squad_round_trips(tmp_path, version, written):
    impossible = version == "2.0"
    source = write_doc(
        tmp_path / "source.json",
        [
            article(
                "Super_Bowl_50",
                (
                    CONTEXT,
                    [
                        qa("q1", "Who won?", ("Denver Broncos", 29), ("Denver Broncos", 29)),
                        qa("q2", "Who lost?", ("Carolina Panthers", 58)),
                    ],
                ),
                (
                    "Ça va, Zoë? “Quoted”",
                    [qa("q3", "Who?", ("Zoë", 7))]
                    + ([qa("q4", "Who sang?", is_impossible=True)] if impossible else []),
                ),
            ),
            article("Warsaw", ("Warsaw is in Poland.", [qa("q5", "Where?", ("Poland", 13))])),
        ],
        version=written,
    )
    data = read_squad(source)

    path = write_squad(data.examples, tmp_path / "out" / "copy.json", version=version)
    again = read_squad(path)

    assert path == tmp_path / "out" / "copy.json" and sorted(p.name for p in path.parent.iterdir()) == [
        "copy.json"
    ]
    assert again.examples == data.examples and again.articles == data.articles
    assert again.version == version and again.has_impossible is impossible
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["version"] == written and "Zoë" in path.read_text(encoding="utf-8")
    assert ("is_impossible" in document["data"][0]["paragraphs"][0]["qas"][0]) is impossible
    assert len(document["data"][0]["paragraphs"]) == 2
    gz = write_squad(iter(data.examples), tmp_path / "copy.json.gz", version)
    assert (
        gzip.decompress(gz.read_bytes()).startswith(b'{"version"')
        and read_squad(gz).examples == data.examples
    )


def test_write_squad_writes_a_split_that_reads_back(tmp_path):
    data = read_squad(write_doc(tmp_path / "all.json", small_articles(10)))
    train, test = split_articles(data)

    read_train = read_squad(write_squad(train, tmp_path / "train.json"))
    read_test = read_squad(write_squad(test, tmp_path / "test.json"), split="test")

    assert read_train.examples == train and read_test.examples == test
    assert len(read_train.articles) == 8 and not set(read_train.articles) & set(read_test.articles)


def test_write_squad_rejects_bad_input(tmp_path):
    example = SquadExample("q1", "T", "Who?", CONTEXT, (Answer("Denver Broncos", 29),))
    impossible = SquadExample("q2", "T", "Who sang?", CONTEXT, (), True)
    target = tmp_path / "out.json"
    with pytest.raises(
        InvalidArgumentError, match=r"Expected version='2.0' to write them.*examples\[1\].id='q2'"
    ):
        write_squad([example, impossible], target, "1.1")
    with pytest.raises(InvalidArgumentError, match=r"examples\[1\].id='q1', repeated"):
        write_squad([example, example], target, "1.1")
    with pytest.raises(InvalidArgumentError, match=r"Received: examples=\[\]"):
        write_squad([], target)
    with pytest.raises(InvalidArgumentError, match=r"Received: examples\[0\] of type dict"):
        write_squad([{"id": "q1"}], target)
    with pytest.raises(InvalidArgumentError, match=r"Unknown SQuAD version.*Received: version='v2.0'"):
        write_squad([example], target, "v2.0")
    assert not target.exists()


# --- module hygiene -----------------------------------------------------------------------------


def test_importing_does_not_import_tensorflow():
    code = "import sys, tfapps.pipelines.squad_data; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --- shared datasets ----------------------------------------------------------------------------


@pytest.mark.shared_data
def test_shared_squad_v11_dev_file(tmp_path):
    dev = read_squad(SQUAD_DEV, split="val")

    assert (len(dev), dev.version, len(dev.articles), dev.has_impossible) == (10_570, "1.1", 48, False)
    report = dev.report
    assert (report.paragraphs_read, report.questions_read, report.answers_read, report.answers_kept) == (
        2_067,
        10_570,
        34_726,
        34_726,
    )
    # Every offset points at its text; nothing is odd.
    assert report.issues() == {}
    assert dev.articles[:2] == ("Super_Bowl_50", "Warsaw")
    assert dev.examples[0].id == "56be4db0acb8001400a502ec" and dev.examples[0].answers[0] == Answer(
        "Denver Broncos", 177
    )
    assert read_squad(SQUAD_DEV.parent, split="dev").examples == dev.examples

    train, test = split_articles(dev, fraction=0.8, seed=0)

    train_titles, test_titles = {e.title for e in train}, {e.title for e in test}
    assert (len(train_titles), len(test_titles), len(train), len(test)) == (38, 10, 8_803, 1_767)
    assert not train_titles & test_titles and len(train) + len(test) == len(dev)
    assert split_articles(SQUAD_DEV) == (train, test)  # deterministic, also from the path
    assert test_titles == {
        "Newcastle_upon_Tyne",
        "Private_school",
        "Packet_switching",
        "Genghis_Khan",
        "Harvard_University",
        "Jacksonville,_Florida",
        "Amazon_rainforest",
        "Normans",
        "Pharmacy",
        "American_Broadcasting_Company",
    }
    assert read_squad(write_squad(test, tmp_path / "test.json")).examples == test

    first_answers = {e.id: e.answers[0].text for e in dev}
    assert squad_metrics(first_answers, dev) == {
        "exact_match": 100.0,
        "f1": 100.0,
        "examples": 10_570.0,
        "missing_predictions": 0.0,
    }
