"""Parallel-text readers for machine translation: aligned files (PREFIX.<lang>[.gz]), TSV and JSON
Lines (also Hugging Face `translation` objects), and plain text for predict. Odd lines are dropped (or
kept, for repeated pairs) and reported with file:line examples, never raised; only nothing usable,
a missing path, or aligned files of different lengths is an error. Generated files in tmp_path, plus
one test of the shared Multi30k files."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tfapps.apps.errors import DataError, InvalidArgumentError, NotFoundError
from tfapps.pipelines.parallel_text import TranslationPair, read_parallel_text

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
MULTI30K = SHARED / "datasets" / "machine_translation" / "multi30k_en_de" / "raw"


def write(path: Path, content: str | bytes) -> Path:
    """Write text as UTF-8 bytes exactly (no newline translation) or bytes as given; gzip a `.gz` path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_jsonl(path: Path, objects: list) -> Path:
    return write(path, "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in objects))


# --- aligned files ------------------------------------------------------------------------------


def test_aligned_prefix_with_one_side_gzipped(tmp_path):
    write(tmp_path / "train.en.gz", "A man sleeps.\nTwo  dogs run!\n")
    write(tmp_path / "train.de", "Ein Mann schläft.\nZwei  Hunde rennen!\n")

    data = read_parallel_text(tmp_path / "train", "en", "de")

    assert data.layout == "aligned" and len(data) == 2
    assert data.pairs[1] == TranslationPair(
        "Two  dogs run!", "Zwei  Hunde rennen!", "train.en.gz:2 / train.de:2"
    )
    assert data.sources() == ["A man sleeps.", "Two  dogs run!"]
    assert data.targets() == ["Ein Mann schläft.", "Zwei  Hunde rennen!"]
    report = data.report
    assert report.files == ("train.en.gz", "train.de") and report.split is None
    assert (report.pairs_read, report.pairs_kept, report.issues()) == (2, 2, {})
    assert report.source == str(tmp_path / "train")
    summary = report.summary()
    assert "aligned parallel data from" in summary and "2 pairs kept of 2 read" in summary
    assert "Source: 'en' from train.en.gz; target: 'de' from train.de." in summary


def test_aligned_file_path_reads_its_pair_and_a_folder_its_split(tmp_path):
    for name in ("train", "dev", "test"):
        write(tmp_path / f"{name}.en.gz", f"{name} one\n{name} two\n")
        write(tmp_path / f"{name}.de.gz", f"{name} eins\n{name} zwei\n")

    from_file = read_parallel_text(tmp_path / "train.de.gz", "en", "de")
    train = read_parallel_text(tmp_path, "en", "de")
    val = read_parallel_text(str(tmp_path), "en", "de", split="validation")
    predict = read_parallel_text(tmp_path, "en", split="predict")

    assert from_file.pairs[0] == TranslationPair("train one", "train eins", "train.en.gz:1 / train.de.gz:1")
    assert train.sources() == ["train one", "train two"] and train.report.split == "train"
    assert val.targets() == ["dev eins", "dev zwei"] and val.report.split == "val"
    assert val.report.files == ("dev.en.gz", "dev.de.gz")
    assert predict.sources() == ["test one", "test two"] and predict.targets() == ["", ""]
    assert predict.pairs[0].origin == "test.en.gz:1" and not predict.report.targets_read


def test_aligned_files_of_different_lengths_name_both_files_and_counts(tmp_path):
    write(tmp_path / "train.en", "a\nb\nc\n")
    write(tmp_path / "train.de.gz", "x\ny\n")

    with pytest.raises(
        DataError,
        match=r"train\.en has 3, train\.de\.gz has 2\..*Received: source file='.*train\.en' \(3 lines\), "
        r"target file='.*train\.de\.gz' \(2 lines\)",
    ):
        read_parallel_text(tmp_path / "train", "en", "de")


def test_aligned_files_need_both_languages_and_both_files(tmp_path):
    write(tmp_path / "train.en", "a\n")
    write(tmp_path / "train.de", "x\n")
    write(tmp_path / "only.en", "a\n")

    with pytest.raises(
        InvalidArgumentError,
        match=r"\(train\.de, train\.en\).*data\.source_lang and data\.target_lang are not set.*"
        r"Received: path='.*train', source_lang='', target_lang=''",
    ):
        read_parallel_text(tmp_path / "train")
    with pytest.raises(InvalidArgumentError, match=r"data\.target_lang is not set.*Received: path="):
        read_parallel_text(tmp_path, "en")
    with pytest.raises(
        NotFoundError,
        match=r"language 'de': looked for only\.de or only\.de\.gz.*beside it are only\.en.*Received:",
    ):
        read_parallel_text(tmp_path / "only", "en", "de")
    with pytest.raises(NotFoundError, match=r"does not exist.*Received: path='.*nothing'"):
        read_parallel_text(tmp_path / "nothing")


def test_aligned_lines_end_at_newline_only(tmp_path):
    # BOM and CRLF; form feed, \x1c and U+2028 inside a sentence do not split it.
    write(tmp_path / "t.en", b"\xef\xbb\xbfpage\x0cbreak\r\nsep\x1cchar\r\nline\xe2\x80\xa8sep\r\n")
    write(tmp_path / "t.de", "eins\r\nzwei\r\ndrei\r\n")

    data = read_parallel_text(tmp_path / "t", "en", "de")

    assert data.sources() == ["page\x0cbreak", "sep\x1cchar", "line\u2028sep"]
    assert data.targets() == ["eins", "zwei", "drei"]


def test_odd_aligned_lines_are_reported(tmp_path):
    write(tmp_path / "t.en", b"good\nbad \xff byte\n\nsame\nsame\n  \n")
    write(tmp_path / "t.de", b"gut\nschlecht\nleer\ngleich\ngleich\nnur Ziel\n")

    data = read_parallel_text(tmp_path / "t", "en", "de")
    report = data.report

    assert data.sources() == ["good", "same", "same"]
    assert (report.pairs_read, report.pairs_kept) == (6, 3)
    assert report.issues() == {"invalid_utf8": 1, "empty_pairs": 2, "duplicate_pairs": 1}
    assert report.examples["invalid_utf8"] == ("t.en:2: byte 0xff at offset 4 is not UTF-8",)
    assert report.examples["empty_pairs"] == (
        "t.en:3 / t.de:3: empty source",
        "t.en:6 / t.de:6: empty source",
    )
    assert report.examples["duplicate_pairs"] == ("t.en:5 / t.de:5 repeats t.en:4 / t.de:4",)


# --- TSV ----------------------------------------------------------------------------------------


def test_tsv_without_header_reads_columns_one_and_two_unquoted(tmp_path):
    path = write(
        tmp_path / "pairs.tsv", 'Go.\tGeh.\tCC-BY #1\n"Hi," he said.\t„Hallo", sagte er.\tCC-BY #2\n'
    )

    data = read_parallel_text(path)

    assert data.layout == "tsv"
    assert data.pairs[1] == TranslationPair('"Hi," he said.', '„Hallo", sagte er.', "pairs.tsv:2")
    assert (data.report.source_column, data.report.target_column) == ("", "")
    assert "Source: column 1 (no header row); target: column 2 (no header row)." in data.report.summary()


@pytest.mark.parametrize(
    ("header", "langs", "expected"),
    [
        ("en\tde", ("en", "de"), ("hello", "hallo")),
        ("Source\tTarget", ("", ""), ("hello", "hallo")),
        ("source\ttarget", ("fr", "it"), ("hello", "hallo")),
        # The same file read the other way round: the header says which column is which.
        ("en\tde", ("de", "en"), ("hallo", "hello")),
    ],
)
def test_tsv_header_detection_by_languages_or_names(tmp_path, header, langs, expected):
    path = write(tmp_path / "d.tsv", f"{header}\nhello\thallo\n")

    data = read_parallel_text(path, *langs)

    assert (data.pairs[0].source, data.pairs[0].target) == expected
    assert data.pairs[0].origin == "d.tsv:2" and data.report.pairs_read == 1


def test_tsv_named_columns_need_a_header(tmp_path):
    path = write(tmp_path / "d.tsv.gz", "id\ttext_en\ttext_de\n1\thello\thallo\n2\tbye\ttschüss\n")
    bare = write(tmp_path / "bare.tsv", "hello\thallo\n")

    data = read_parallel_text(path, source_column="text_en", target_column="TEXT_DE")

    assert data.sources() == ["hello", "bye"] and data.targets() == ["hallo", "tschüss"]
    assert (data.report.source_column, data.report.target_column) == ("text_en", "text_de")
    assert "Source: column 'text_en'; target: column 'text_de'." in data.report.summary()
    with pytest.raises(
        NotFoundError, match=r"first row is 'hello', 'hallo'.*Received: source_column='en_text'"
    ):
        read_parallel_text(bare, source_column="en_text")
    with pytest.raises(NotFoundError, match=r"Received: source_column='text_en', target_column='de'"):
        read_parallel_text(path, source_column="text_en", target_column="de")


def test_txt_with_tabs_is_tsv_and_without_is_rejected_outside_predict(tmp_path):
    tsv = write(tmp_path / "pairs.txt", "hello\thallo\n")
    plain = write(tmp_path / "notes.txt", "just a sentence\n")

    assert read_parallel_text(tsv).layout == "tsv"
    with pytest.raises(InvalidArgumentError, match=r"without a tab.*split='predict'.*Received: path="):
        read_parallel_text(plain)


def test_odd_tsv_rows_are_reported_and_the_read_continues(tmp_path):
    path = write(
        tmp_path / "train.tsv",
        b"\xef\xbb\xbfen\tde\r\n"  # BOM, Windows line endings; a header
        b"good\tgut\r\n"
        b"bad \xc3\x28\tschlecht\r\n"  # line 3: not UTF-8
        b"   \tleer\r\n"  # line 4: whitespace-only source
        b"too\tmany\tcolumns\r\n"  # line 5
        b"one column\r\n"  # line 6
        b"good\tgut\r\n"  # line 7: duplicate of line 2
        b"\r\n"  # blank line: skipped silently
        b"\t\r\n"  # line 9: empty source and target
        b"lone\rcarriage\tx\r\n"  # line 10: a \r inside a line
        b"fine\tgut\r\n",  # line 11
    )

    data = read_parallel_text(path, "en", "de")
    report = data.report

    assert data.sources() == ["good", "good", "fine"]
    assert [pair.origin for pair in data.pairs] == ["train.tsv:2", "train.tsv:7", "train.tsv:11"]
    assert report.source_column == "en"  # the BOM is not part of the column name
    assert (report.pairs_read, report.pairs_kept) == (9, 3)
    assert report.issues() == {"invalid_utf8": 1, "bad_rows": 3, "empty_pairs": 2, "duplicate_pairs": 1}
    assert report.examples["invalid_utf8"] == ("train.tsv:3: byte 0xc3 at offset 4 is not UTF-8",)
    assert report.examples["bad_rows"][:2] == (
        "train.tsv:5: 3 columns, expected 2",
        "train.tsv:6: 1 column, expected 2",
    )
    assert report.examples["bad_rows"][2] == "train.tsv:10: a carriage return (\\r) inside the row"
    assert report.examples["empty_pairs"] == (
        "train.tsv:4: empty source",
        "train.tsv:9: empty source and target",
    )
    assert report.examples["duplicate_pairs"] == ("train.tsv:7 repeats train.tsv:2",)
    summary = report.summary()
    assert "3 pairs kept of 9 read" in summary and "train.tsv:3: byte 0xc3" in summary
    assert json.loads(json.dumps(report.to_dict()))["examples"]["duplicate_pairs"] == [
        "train.tsv:7 repeats train.tsv:2"
    ]


def test_examples_stop_at_five(tmp_path):
    path = write(tmp_path / "d.tsv", "".join(f"\tx{i}\n" for i in range(8)) + "ok\tgut\n")

    report = read_parallel_text(path).report

    assert report.empty_pairs == 8 and len(report.examples["empty_pairs"]) == 5


# --- JSON Lines ---------------------------------------------------------------------------------


def test_jsonl_keys_by_default_names_languages_and_columns(tmp_path):
    plain = write_jsonl(tmp_path / "a.jsonl", [{"source": "hi", "target": "hallo", "id": 1}])
    by_lang = write_jsonl(tmp_path / "b.ndjson", [{"de": "hallo", "en": "hi"}])
    named = write_jsonl(tmp_path / "c.json", [{"q": "hi", "a": "hallo"}])

    assert read_parallel_text(plain).pairs == [TranslationPair("hi", "hallo", "a.jsonl:1")]
    data = read_parallel_text(by_lang, "en", "de")
    assert data.sources() == ["hi"] and data.report.layout == "jsonl"
    assert (data.report.source_column, data.report.target_column) == ("en", "de")
    assert read_parallel_text(named, source_column="q", target_column="a").targets() == ["hallo"]
    with pytest.raises(
        NotFoundError, match=r"no key 'x'; its objects' keys are 'q', 'a'.*Received: source_column='x'"
    ):
        read_parallel_text(named, source_column="x", target_column="a")
    with pytest.raises(
        DataError, match=r"Cannot tell which key of c\.json holds the source.*Received: path="
    ):
        read_parallel_text(named)


def test_hugging_face_translation_objects_gzipped(tmp_path):
    path = write(
        tmp_path / "wmt.jsonl.gz",
        "".join(
            json.dumps({"translation": {"de": de, "en": en}}) + "\n"
            for en, de in (
                ("Resumption of the session", "Wiederaufnahme der Sitzungsperiode"),
                ("Thanks.", "Danke."),
            )
        ),
    )

    data = read_parallel_text(path, "en", "de")

    assert data.pairs[0] == TranslationPair(
        "Resumption of the session", "Wiederaufnahme der Sitzungsperiode", "wmt.jsonl.gz:1"
    )
    assert data.report.source_column == "translation.en" and data.report.target_column == "translation.de"
    assert "Source: 'en' key 'translation.en'" in data.report.summary()
    with pytest.raises(
        DataError, match=r"translation objects hold 'de', 'en'.*Received: path=.*source_lang=''"
    ):
        read_parallel_text(path)


def test_odd_jsonl_lines_are_reported(tmp_path):
    lines = [
        '{"en": "ok", "de": "gut"}',
        "not json",
        "[1, 2]",
        '{"en": "no target"}',
        '{"en": "x", "de": 3}',
        '{"en": "x", "de": null}',
        '{"en": "", "de": "leer"}',
        "",
        '{"en": "ok", "de": "gut"}',
    ]
    path = write(tmp_path / "d.jsonl", "\n".join(lines) + "\n")

    data = read_parallel_text(path, "en", "de")
    report = data.report

    assert data.sources() == ["ok", "ok"] and report.pairs_read == 8
    assert report.issues() == {"bad_json": 5, "empty_pairs": 1, "duplicate_pairs": 1}
    examples = report.examples["bad_json"]
    assert examples[0].startswith("d.jsonl:2: not JSON (Expecting value at column 1)")
    assert examples[1:] == (
        "d.jsonl:3: a JSON list, expected an object",
        "d.jsonl:4: no 'de' key",
        "d.jsonl:5: 'de' is a JSON int, expected a string",
        "d.jsonl:6: 'de' is null, expected a string",
    )
    assert report.examples["empty_pairs"] == ("d.jsonl:7: empty source",)
    assert report.examples["duplicate_pairs"] == ("d.jsonl:9 repeats d.jsonl:1",)


# --- max_length and predict ---------------------------------------------------------------------


def test_max_length_drops_long_pairs(tmp_path):
    path = write(tmp_path / "d.tsv", "short\tkurz\nexactly5\tfive5\nway too long\tok\nok\tviel zu lang\n")

    data = read_parallel_text(path, max_length=8)

    assert data.sources() == ["short", "exactly5"]
    assert data.report.too_long == 2 and data.report.max_length == 8
    assert data.report.examples["too_long"] == (
        "d.tsv:3: source 12 characters",
        "d.tsv:4: target 12 characters",
    )
    assert "Longest side allowed: 8 characters." in data.report.summary()


def test_predict_reads_sources_only(tmp_path):
    text = write(tmp_path / "input.en", "first sentence\n\nsecond\tsentence\n")
    tsv = write(tmp_path / "test.tsv", "source\tid\nhello\t1\n")
    jsonl = write_jsonl(tmp_path / "test.jsonl", [{"en": "hi", "de": 3}])

    data = read_parallel_text(text, "en", "de", split="predict")
    from_tsv = read_parallel_text(tsv, split="predict")
    from_jsonl = read_parallel_text(jsonl, "en", "de", split="predict")

    assert data.layout == "text" and data.sources() == ["first sentence", "second\tsentence"]
    assert data.targets() == ["", ""] and [pair.origin for pair in data.pairs] == ["input.en:1", "input.en:3"]
    assert data.report.examples["empty_pairs"] == ("input.en:2: empty source",)
    assert "targets not read (split 'predict')" in data.report.summary()
    assert "Source: each line of input.en." in data.report.summary()
    assert (
        from_tsv.pairs == [TranslationPair("hello", "", "test.tsv:2")] and from_tsv.report.target_column == ""
    )
    assert from_jsonl.sources() == ["hi"] and from_jsonl.report.issues() == {}


# --- errors -------------------------------------------------------------------------------------


def test_nothing_usable_is_an_error_with_the_summary(tmp_path):
    path = write(tmp_path / "d.tsv", "\tx\ny\t\n")
    empty = write(tmp_path / "e.jsonl", "")

    with pytest.raises(
        DataError,
        match=r"(?s)No usable translation pair.*Received: path=.*0 pairs kept of 2 read"
        r".*d\.tsv:1: empty source",
    ):
        read_parallel_text(path)
    with pytest.raises(DataError, match=r"(?s)Received: path=.*0 pairs kept of 0 read"):
        read_parallel_text(empty)


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("d.tsv.gz", gzip.compress(b"a\tb\n")[:-6], r"not a readable gzip file.*Received: path="),
        ("d.tsv", "a\tb\n".encode("utf-16"), r"UTF-16.*Received: path="),
        ("d.csv", b"a,b\n", r"suffix '\.csv'.*Received: path="),
    ],
)
def test_unreadable_files_are_errors(tmp_path, name, content, pattern):
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises((DataError, InvalidArgumentError), match=pattern):
        read_parallel_text(path, "en", "de")


def test_a_folder_without_split_files_lists_its_prefixes(tmp_path):
    for name in ("test_2016_flickr", "test_2017_flickr"):
        write(tmp_path / f"{name}.en.gz", "a\n")
        write(tmp_path / f"{name}.de.gz", "b\n")

    with pytest.raises(
        NotFoundError,
        match=r"no 'test' split files: looked for test\.en\[\.gz\], testing\.en\[\.gz\].*"
        r"start with test_2016_flickr, test_2017_flickr.*Received: path=.*split='test'",
    ):
        read_parallel_text(tmp_path, "en", "de", split="test")


def test_bad_arguments(tmp_path):
    path = write(tmp_path / "d.tsv", "a\tb\n")

    with pytest.raises(InvalidArgumentError, match=r"Unknown split.*predict. Received: split='holdout'"):
        read_parallel_text(path, split="holdout")
    with pytest.raises(
        InvalidArgumentError, match=r"must differ. Received: source_lang='en', target_lang='EN'"
    ):
        read_parallel_text(path, "en", "EN")
    with pytest.raises(InvalidArgumentError, match=r"Received: source_column='a', target_column='a'"):
        read_parallel_text(path, source_column="a", target_column="a")
    with pytest.raises(InvalidArgumentError, match=r"language code.*Received: source_lang='en/x'"):
        read_parallel_text(path, "en/x", "de")
    with pytest.raises(InvalidArgumentError, match=r"Received: target_lang=3"):
        read_parallel_text(path, "en", 3)
    for value in (-1, True, 2.5):
        with pytest.raises(InvalidArgumentError, match=rf"Received: max_length={value!r}"):
            read_parallel_text(path, max_length=value)
    with pytest.raises(InvalidArgumentError, match=r"No parallel data path given.*Received: path=None"):
        read_parallel_text(None)


# --- module hygiene -----------------------------------------------------------------------------


def test_importing_does_not_import_tensorflow():
    code = "import sys, tfapps.pipelines.parallel_text; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --- shared datasets ----------------------------------------------------------------------------


@pytest.mark.shared_data
def test_shared_multi30k_files():
    train = read_parallel_text(MULTI30K / "train", "en", "de")
    val = read_parallel_text(MULTI30K, "en", "de", split="val")
    test = read_parallel_text(MULTI30K / "test_2016_flickr", "en", "de", split="test")

    assert (len(train), len(val), len(test)) == (29_000, 1_014, 1_000)
    assert train.pairs[0] == TranslationPair(
        "Two young, White males are outside near many bushes.",
        "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
        "train.en.gz:1 / train.de.gz:1",
    )
    assert val.report.files == ("val.en.gz", "val.de.gz") and val.report.issues() == {}
    assert test.report.issues() == {}
    # Only three repeated pairs are odd in the training files: every line is kept.
    assert train.report.issues() == {"duplicate_pairs": 3} and train.report.pairs_read == 29_000
