"""Text-classification readers: CSV, TSV, JSON Lines and class folders of .txt files. Odd rows and
files are dropped (or kept, for duplicates) and reported with file:line examples, never raised;
only a dataset with nothing usable, or a missing path or column, is an error. Generated files in
tmp_path, plus one test of the shared SST-2 (GLUE) files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfapps.apps.errors import DataError, InvalidArgumentError, NotFoundError
from tfapps.pipelines.text_data import TextRecord, label_counts, read_text_dataset

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SST2 = SHARED / "datasets" / "text_classification" / "sst2_glue"


def write(path: Path, content: str | bytes) -> Path:
    """Write text as UTF-8 bytes exactly (no newline translation) or bytes as given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def write_jsonl(path: Path, objects: list) -> Path:
    return write(path, "".join(json.dumps(item) + "\n" for item in objects))


# --- layouts ------------------------------------------------------------------------------------


def test_sst2_style_tsv_with_quotes_and_apostrophes(tmp_path):
    path = write(
        tmp_path / "train.tsv",
        "sentence\tlabel\n"
        "it 's a charming and often affecting journey . \t1\n"
        'the " best " film of the year , " so to speak \t1\n'
        "unflinchingly bleak and desperate \t0\n",
    )

    data = read_text_dataset(path)

    assert data.layout == "tsv" and data.class_names == ("0", "1") and not data.multi_label
    assert data.texts() == [
        "it 's a charming and often affecting journey .",
        'the " best " film of the year , " so to speak',
        "unflinchingly bleak and desperate",
    ]
    assert data.records[1] == TextRecord('the " best " film of the year , " so to speak', (1,), "train.tsv:3")
    np.testing.assert_array_equal(data.label_matrix(), [[0, 1], [0, 1], [1, 0]])
    assert data.label_matrix().dtype == np.float32
    assert len(data) == 3 and data.num_classes == 2
    assert data.report.text_column == "sentence" and data.report.label_column == "label"
    assert data.report.issues() == {} and data.report.class_counts == {"0": 1, "1": 2}


def test_csv_quoting_auto_columns_and_numeric_class_order(tmp_path):
    path = write(
        tmp_path / "reviews.csv",
        'id,Review,Sentiment\n1,"Great, really great",10\n2,"He said ""no""\nthen left",2\n3,plain text,1\n',
    )

    data = read_text_dataset(path)

    assert data.layout == "csv" and data.class_names == ("1", "2", "10")
    assert data.texts() == ["Great, really great", 'He said "no"\nthen left', "plain text"]
    assert [r.labels for r in data.records] == [(2,), (1,), (0,)]
    # A row's source is the line it starts on.
    assert [r.source for r in data.records] == ["reviews.csv:2", "reviews.csv:3", "reviews.csv:5"]
    assert (data.report.text_column, data.report.label_column) == ("Review", "Sentiment")


def test_explicit_columns_and_the_only_other_column(tmp_path):
    path = write(tmp_path / "news.csv", "body,topic,kind\nrates rise,economy,a\nnew goal,sport,b\n")

    data = read_text_dataset(path, text_column="body", label_column="Topic")
    only = read_text_dataset(write(tmp_path / "two.csv", "body,category\nhello,x\n"))

    assert data.texts() == ["rates rise", "new goal"] and data.class_names == ("economy", "sport")
    assert data.report.label_column == "topic"
    assert only.texts() == ["hello"] and only.report.text_column == "body"


def test_txt_with_tabs_reads_as_tsv_and_without_is_rejected(tmp_path):
    data = read_text_dataset(write(tmp_path / "data.txt", "text\tlabel\nhi\tpos\n"))

    assert data.layout == "tsv" and data.texts() == ["hi"]
    with pytest.raises(InvalidArgumentError, match=r"without a tab.*Received: path="):
        read_text_dataset(write(tmp_path / "notes.txt", "just some notes\n"))


def test_jsonl_with_string_int_and_float_labels(tmp_path):
    path = write_jsonl(
        tmp_path / "data.jsonl",
        [{"text": "a", "label": 1}, {"text": "b", "label": "0"}, {"text": "c", "label": 1.0}],
    )
    json_path = write_jsonl(tmp_path / "data.json", [{"content": "x", "target": "spam"}])

    data = read_text_dataset(path)
    other = read_text_dataset(json_path)

    assert data.layout == "jsonl" and data.class_names == ("0", "1")
    assert [r.labels for r in data.records] == [(1,), (0,), (1,)]
    assert data.records[2].source == "data.jsonl:3"
    assert other.layout == "jsonl" and other.texts() == ["x"] and other.class_names == ("spam",)


def test_multi_label_csv(tmp_path):
    path = write(tmp_path / "tags.csv", "text,labels\nt1,b|a\nt2,\nt3,c | a |\n")

    data = read_text_dataset(path, multi_label=True)

    assert data.multi_label and data.class_names == ("a", "b", "c")
    assert [r.labels for r in data.records] == [(0, 1), (), (0, 2)]
    np.testing.assert_array_equal(data.label_matrix(), [[1, 1, 0], [0, 0, 0], [1, 0, 1]])
    assert label_counts(data) == {"a": 2, "b": 1, "c": 1} == data.report.class_counts
    assert data.report.issues() == {}


def test_multi_label_jsonl_with_lists_separator_and_unknown_labels(tmp_path):
    path = write_jsonl(
        tmp_path / "tags.jsonl",
        [
            {"text": "t1", "labels": ["a", "b"]},
            {"text": "t2", "labels": []},
            {"text": "t3", "labels": "b;x"},
            {"text": "t4", "labels": None},
        ],
    )

    data = read_text_dataset(path, multi_label=True, label_separator=";", class_names=["a", "b"])

    # An unknown label is dropped, the text keeps its known labels.
    assert [r.labels for r in data.records] == [(0, 1), (), (1,), ()]
    assert data.report.unknown_labels == 1
    assert data.report.examples["unknown_labels"] == ("tags.jsonl:3: 'x'",)


def test_class_folders_and_split_layout(tmp_path):
    for split in ("train", "val"):
        write(tmp_path / split / "pos" / "1.txt", f"good {split}\n")
        write(tmp_path / split / "neg" / "1.txt", f"bad {split}")
        write(tmp_path / split / "neg" / "deep" / "2.txt", "also bad")

    train = read_text_dataset(tmp_path)
    val = read_text_dataset(tmp_path, split="validation", class_names=train.class_names)
    flat = read_text_dataset(tmp_path / "train")

    assert train.layout == "folders" and train.class_names == ("neg", "pos")
    assert train.texts() == ["bad train", "also bad", "good train"]
    assert [r.labels for r in train.records] == [(0,), (0,), (1,)]
    assert train.records[0].source == str(tmp_path / "train" / "neg" / "1.txt")
    assert train.report.split == "train" and val.report.split == "val" and flat.report.split is None
    assert val.texts() == ["bad val", "also bad", "good val"]
    with pytest.raises(NotFoundError, match=r"no 'test' split folder.*Received: path=.*split='test'"):
        read_text_dataset(tmp_path, split="test")


def test_predict_reads_texts_only(tmp_path):
    tsv = write(tmp_path / "test.tsv", "index\tsentence\n0\tfirst one\n1\tsecond one\n")
    write(tmp_path / "split" / "train" / "pos" / "a.txt", "train text")
    write(tmp_path / "split" / "test" / "pos" / "a.txt", "held out")
    write(tmp_path / "loose" / "a.txt", "loose text")

    data = read_text_dataset(tsv, split="predict", class_names=["0", "1"])
    folder = read_text_dataset(tmp_path / "split", split="predict")
    loose = read_text_dataset(tmp_path / "loose", split="predict")

    assert data.texts() == ["first one", "second one"] and data.records[0].labels == ()
    assert data.class_names == ("0", "1") and data.label_matrix().shape == (2, 2)
    assert (
        not data.report.labelled and data.report.class_counts == {} and data.report.text_column == "sentence"
    )
    assert "labels not read" in data.report.summary()
    assert folder.texts() == ["held out"] and folder.report.split == "test"
    assert loose.texts() == ["loose text"] and loose.class_names == ()


def test_missing_label_column_is_an_error_outside_predict(tmp_path):
    path = write(tmp_path / "test.tsv", "index\tsentence\n0\tfirst one\n")

    with pytest.raises(
        DataError, match=r"no label column; its columns are 'index', 'sentence'.*Received: path="
    ):
        read_text_dataset(path, split="test")


# --- odd cases ----------------------------------------------------------------------------------


def test_odd_tsv_rows_are_reported_and_the_read_continues(tmp_path):
    path = write(
        tmp_path / "train.tsv",
        b"\xef\xbb\xbfsentence\tlabel\r\n"  # BOM, Windows line endings
        b"good film\t1\r\n"
        b"bad \xff byte\t0\r\n"  # line 3: not UTF-8
        b"   \t1\r\n"  # line 4: whitespace-only text
        b"too\tmany\tfields\r\n"  # line 5
        b"no label\t\r\n"  # line 6: empty label cell
        b"good film\t1\r\n"  # line 7: duplicate of line 2
        b"\r\n"  # blank line: skipped silently
        b'fine "quoted" text\t0\r\n',  # line 9
    )

    data = read_text_dataset(path)
    report = data.report

    assert data.texts() == ["good film", "good film", 'fine "quoted" text']
    assert [r.source for r in data.records] == ["train.tsv:2", "train.tsv:7", "train.tsv:9"]
    assert report.text_column == "sentence"  # the BOM is not part of the column name
    assert report.issues() == {
        "invalid_utf8": 1,
        "bad_rows": 1,
        "empty_texts": 1,
        "empty_labels": 1,
        "duplicate_texts": 1,
    }
    assert report.examples["invalid_utf8"] == ("train.tsv:3: byte 0xff at offset 4 is not UTF-8",)
    assert report.examples["bad_rows"] == ("train.tsv:5: 3 fields, expected 2",)
    assert report.examples["empty_texts"] == ("train.tsv:4",)
    assert report.examples["empty_labels"] == ("train.tsv:6",)
    assert report.examples["duplicate_texts"] == ("train.tsv:7 repeats train.tsv:2",)
    summary = report.summary()
    assert "3 texts, 2 classes" in summary and "train.tsv:3: byte 0xff" in summary
    assert json.loads(json.dumps(report.to_dict()))["examples"]["bad_rows"] == [
        "train.tsv:5: 3 fields, expected 2"
    ]


def test_examples_stop_at_five(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\n" + "".join(f",{i}\n" for i in range(8)) + "ok,1\n")

    report = read_text_dataset(path).report

    assert report.empty_texts == 8 and len(report.examples["empty_texts"]) == 5


def test_unknown_labels_with_given_class_names(tmp_path):
    path = write(tmp_path / "dev.csv", "text,label\na,pos\nb,neutral\nc,neg\n")

    data = read_text_dataset(path, class_names=("neg", "pos", "mixed"), split="val")

    assert data.texts() == ["a", "c"] and [r.labels for r in data.records] == [(1,), (0,)]
    assert data.report.unknown_labels == 1
    assert data.report.examples["unknown_labels"] == ("dev.csv:3: 'neutral'",)
    assert data.report.empty_classes == 1 and data.report.examples["empty_classes"] == ("mixed",)
    assert data.report.class_counts == {"neg": 1, "pos": 1, "mixed": 0}


def test_odd_jsonl_lines_are_reported(tmp_path):
    lines = [
        '{"text": "ok", "label": "a"}',
        "not json",
        "[1, 2]",
        '{"label": "a"}',
        '{"text": "x", "label": true}',
        '{"text": "y", "label": ["a", "b"]}',
        '{"text": 3, "label": "a"}',
        '{"text": "z"}',
    ]
    path = write(tmp_path / "d.jsonl", "\n".join(lines) + "\n")

    data = read_text_dataset(path)

    assert data.texts() == ["ok"]
    assert data.report.bad_rows == 7
    examples = data.report.examples["bad_rows"]
    assert examples[0].startswith("d.jsonl:2: not JSON")
    assert examples[1:] == (
        "d.jsonl:3: a JSON list, expected an object",
        "d.jsonl:4: no 'text' key",
        "d.jsonl:5: 'label' is True, expected a string, an integer or a list of them",
        "d.jsonl:6: 'label' holds 2 labels; pass multi_label=True to read several labels",
    )


def test_odd_class_folder_files_are_reported(tmp_path):
    write(tmp_path / "pos" / "a.txt", b"\xef\xbb\xbfline one\r\nline two\r\n")
    write(tmp_path / "pos" / "bad.txt", b"caf\xe9")  # Latin-1
    write(tmp_path / "pos" / "empty.txt", " \n")
    write(tmp_path / "pos" / "image.png", b"\x89PNG")
    write(tmp_path / "pos" / ".hidden.txt", "ignored")
    write(tmp_path / "neg" / "a.txt", "line one\nline two")
    write(tmp_path / "neutral" / "a.txt", "meh")

    data = read_text_dataset(tmp_path, class_names=["neg", "pos"])
    report = data.report

    assert data.texts() == ["line one\nline two", "line one\nline two"]
    assert report.issues() == {
        "invalid_utf8": 1,
        "empty_texts": 1,
        "unknown_labels": 1,
        "unsupported_files": 1,
        "duplicate_texts": 1,
    }
    assert report.examples["invalid_utf8"] == ("pos/bad.txt: byte 0xe9 at offset 3 is not UTF-8",)
    assert report.examples["empty_texts"] == ("pos/empty.txt",)
    assert report.examples["unknown_labels"] == ("neutral/a.txt: 'neutral'",)
    assert report.examples["unsupported_files"] == ("pos/image.png",)
    assert report.examples["duplicate_texts"] == ("pos/a.txt repeats neg/a.txt",)


def test_an_oversized_csv_field_is_a_bad_row(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\n" + "x" * 140_000 + ",a\nfine,b\n")

    data = read_text_dataset(path)

    assert data.texts() == ["fine"] and data.report.bad_rows == 1
    assert data.report.examples["bad_rows"][0].startswith("d.csv:2: field larger than field limit")


# --- errors -------------------------------------------------------------------------------------


def test_missing_paths_and_columns(tmp_path):
    path = write(tmp_path / "d.csv", "id,body,extra,label\n1,hi,x,a\n")

    with pytest.raises(NotFoundError, match=r"does not exist.*Received: path="):
        read_text_dataset(tmp_path / "nope.csv")
    with pytest.raises(
        NotFoundError, match=r"no column 'title'.*'id', 'body'.*Received: text_column='title'"
    ):
        read_text_dataset(path, text_column="title")
    with pytest.raises(NotFoundError, match=r"Received: label_column='tag'"):
        read_text_dataset(path, label_column="tag")
    with pytest.raises(DataError, match=r"Cannot tell which column.*Received: path="):
        read_text_dataset(path)
    with pytest.raises(InvalidArgumentError, match=r"must differ. Received: text_column='body'"):
        read_text_dataset(path, text_column="body", label_column="body")


def test_nothing_usable_is_an_error_naming_examples(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\n,a\n  ,b\n")

    with pytest.raises(
        DataError, match=r"No usable text.*2 rows in d.csv.*e\.g\. d\.csv:2; d\.csv:3.*Received: path="
    ):
        read_text_dataset(path)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", r"d.csv is empty.*Received: path="),
        (b"\xfftext,label\nhi,a\n", r"header row of d.csv is not valid UTF-8.*Received: path="),
        ("text,label\nhi,a\n".encode("utf-16"), r"UTF-16.*Received: path="),
    ],
)
def test_unreadable_files_are_errors(tmp_path, content, pattern):
    with pytest.raises(DataError, match=pattern):
        read_text_dataset(write(tmp_path / "d.csv", content))


def test_bad_arguments(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\nhi,a\n")

    with pytest.raises(InvalidArgumentError, match=r"Unknown split.*predict. Received: split='holdout'"):
        read_text_dataset(path, split="holdout")
    with pytest.raises(InvalidArgumentError, match=r"Received: class_names='a'"):
        read_text_dataset(path, class_names="a")
    with pytest.raises(InvalidArgumentError, match=r"repeated: a. Received: class_names="):
        read_text_dataset(path, class_names=["a", "a"])
    with pytest.raises(InvalidArgumentError, match=r"Received: label_separator=''"):
        read_text_dataset(path, multi_label=True, label_separator="")
    with pytest.raises(InvalidArgumentError, match=r"'.parquet' file.*Received: path="):
        read_text_dataset(write(tmp_path / "d.parquet", b"PAR1"))
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(DataError, match=r"no class sub-folders; found an empty folder.*Received: path="):
        read_text_dataset(tmp_path / "empty_dir")


# --- module hygiene -----------------------------------------------------------------------------


def test_importing_does_not_import_tensorflow():
    code = "import sys, tfapps.pipelines.text_data; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --- shared datasets ----------------------------------------------------------------------------


@pytest.mark.shared_data
def test_shared_sst2_glue_files():
    train = read_text_dataset(SST2 / "train.tsv")
    dev = read_text_dataset(SST2 / "dev.tsv", class_names=train.class_names, split="val")
    test = read_text_dataset(SST2 / "test.tsv", class_names=train.class_names, split="predict")

    assert len(train) == 67_349 and train.class_names == ("0", "1")
    assert train.report.class_counts == {"0": 29_780, "1": 37_569}
    assert len(dev) == 872 and dev.report.class_counts == {"0": 428, "1": 444} and dev.report.issues() == {}
    assert len(test) == 1_821 and all(r.labels == () for r in test.records)
    assert test.report.text_column == "sentence" and not test.report.labelled
    # Only repeated phrases are odd in the training file: every row is kept.
    assert set(train.report.issues()) <= {"duplicate_texts"}
