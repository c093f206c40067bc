"""Speech datasets: manifest (CSV/TSV), LJSpeech, LibriSpeech and Common Voice layouts, transcript
normalisation, every odd case counted with examples (and the rest kept), errors that name the
path, and the tf.data clip pipeline (resampling, clips that vanish after the scan). Every clip is
generated here with soundfile."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from tfapps.apps.errors import DataError, InvalidArgumentError, NotFoundError
from tfapps.pipelines.speech_data import (
    SpeechDataReport,
    Utterance,
    clip_dataset,
    load_clip,
    normalize_transcript,
    read_speech_dataset,
)

ALPHABET = "abcdefghijklmnopqrstuvwxyz'"


def clip(path: Path, seconds: float = 0.25, rate: int = 16000, frequency: float = 440.0) -> Path:
    """A sine clip; the format follows the suffix (.wav 16-bit, .flac, .mp3)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(seconds * rate)) / rate
    soundfile.write(path, (0.4 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), rate)
    return path


def lines(path: Path, *rows: str | bytes) -> Path:
    """A text file of `rows` (bytes rows are written as they are: invalid UTF-8)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join((row if isinstance(row, bytes) else row.encode()) + b"\n" for row in rows))
    return path


# --- normalisation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Don\u2019t stop\u2014it's \u201ctwenty-one\u201d, O.K.?", "don't stop it's twenty one ok"),
        ("  HELLO,\tworld!\n ", "hello world"),
        ("and/or 3.5 km", "and or 35 km"),
        ("\uff21\uff22\uff23 \ufb01ne\u2026", "abc fine"),  # full-width letters, ligature, ellipsis (NFKC)
        ("Caf\u00e9 \u00fcber 42 $5", "caf\u00e9 \u00fcber 42 $5"),  # letters, digits, symbols kept
        ("\u00bfQu\u00e9? \u00abs\u00ed\u00bb", "qu\u00e9 s\u00ed"),
        ("...", ""),
    ],
)
def test_normalize_transcript(text, expected):
    assert normalize_transcript(text) == expected


def test_normalize_transcript_options():
    assert normalize_transcript("It's A-OK!", lowercase=False) == "It's A OK"
    assert normalize_transcript("It\u2019s  A-OK!", strip_punctuation=False) == "it\u2019s a-ok!"
    assert normalize_transcript("\u2460 Caf\u0065\u0301", strip_punctuation=False) == "1 caf\u00e9"


# --- manifest ------------------------------------------------------------------------------------


def test_manifest_reads_rows_and_reports_every_odd_case(tmp_path):
    data = tmp_path / "data"
    clip(data / "clips" / "a.wav", seconds=0.5)
    clip(data / "clips" / "b.flac", seconds=0.25, rate=8000)
    elsewhere = clip(tmp_path / "elsewhere" / "c.wav", seconds=1.0)
    clip(data / "clips" / "café.wav")
    clip(data / "clips" / "long.wav", seconds=2.5)
    clip(data / "clips" / "dots.wav")
    clip(data / "clips" / "extra.wav")
    clip(data / "clips" / "bytes.wav")
    (data / "clips" / "text.wav").write_text("not audio")
    soundfile.write(data / "clips" / "silent.wav", np.zeros(0, np.float32), 16000, subtype="PCM_16")
    manifest = lines(
        data / "train.csv",
        "Path,Transcript,Speaker",
        'clips/a.wav,"Hello, World!",spk1',  # 2
        "clips/b.flac,It's fine,spk2",  # 3
        f"{elsewhere},absolute path,spk1",  # 4
        "clips/missing.wav,where is it,spk1",  # 5
        "clips/text.wav,not audio,spk1",  # 6
        "clips/silent.wav,silence,spk1",  # 7
        "clips/dots.wav,...,spk1",  # 8
        "clips/café.wav,Café 1,spk1",  # 9
        "clips/long.wav,too long,spk1",  # 10
        "clips/extra.wav,one,two,three",  # 11
        b"clips/bytes.wav,caf\xe9,spk1",  # 12
        "./clips/a.wav,again,spk1",  # 13
        "",
        ",no audio path,spk1",  # 15
    )
    dataset = read_speech_dataset(manifest, alphabet=ALPHABET, max_seconds=2.0)
    assert dataset.layout == "manifest"
    assert dataset.utterances == [
        Utterance(str(data / "clips" / "a.wav"), "hello world", "train.csv:2", 0.5, "spk1"),
        Utterance(str(data / "clips" / "b.flac"), "it's fine", "train.csv:3", 0.25, "spk2"),
        Utterance(str(elsewhere), "absolute path", "train.csv:4", 1.0, "spk1"),
    ]
    assert dataset.transcripts() == ["hello world", "it's fine", "absolute path"]
    assert dataset.audio_paths()[2] == str(elsewhere)
    report = dataset.report
    assert (report.source, report.split, report.files) == (str(manifest), None, ("train.csv",))
    assert (report.audio_column, report.text_column, report.speaker_column) == (
        "Path",
        "Transcript",
        "Speaker",
    )
    assert (report.utterances_read, report.utterances_kept, report.speakers) == (13, 3, 2)
    assert report.total_seconds == pytest.approx(1.75)
    assert report.issues() == {
        "invalid_utf8": 1,
        "bad_rows": 2,
        "duplicate_audio": 1,
        "empty_transcripts": 1,
        "outside_alphabet": 1,
        "missing_audio": 1,
        "unreadable_audio": 1,
        "empty_audio": 1,
        "too_long": 1,
    }
    assert report.examples == {
        "invalid_utf8": ("train.csv:12: byte 0xe9 at offset 19 is not UTF-8",),
        "bad_rows": ("train.csv:11: 4 columns, expected 3", "train.csv:15: no audio path"),
        "duplicate_audio": ("train.csv:13 (./clips/a.wav) repeats train.csv:2",),
        "empty_transcripts": ("train.csv:8 (clips/dots.wav): '...'",),
        "outside_alphabet": ("train.csv:9 (clips/café.wav): 'é', '1'",),
        "missing_audio": ("train.csv:5 (clips/missing.wav)",),
        "unreadable_audio": ("train.csv:6 (clips/text.wav): Format not recognised",),
        "empty_audio": ("train.csv:7 (clips/silent.wav)",),
        "too_long": ("train.csv:10 (clips/long.wav): 2.50 s",),
    }
    summary = report.summary()
    assert summary.startswith(
        f"manifest speech data from {manifest}: 3 utterances kept of 13 read, 1.8 s of audio"
    )
    assert "audio column 'Path', transcript column 'Transcript', speaker column 'Speaker'" in summary
    assert "alphabet of 27 characters and the space; longest clip allowed 2 s" in summary
    assert "  - audio files that do not exist (dropped): 1; e.g. train.csv:5 (clips/missing.wav)" in summary
    assert (
        "  - clips longer than max_seconds (dropped): 1; e.g. train.csv:10 (clips/long.wav): 2.50 s"
        in summary
    )
    assert json.loads(json.dumps(report.to_dict())) == report.to_dict()
    assert report.to_dict()["examples"]["bad_rows"][0] == "train.csv:11: 4 columns, expected 3"


def test_manifest_folder_split_aliases_and_tsv(tmp_path):
    clip(tmp_path / "x.wav")
    clip(tmp_path / "y.wav")
    lines(tmp_path / "train.csv", "file,text", "x.wav,train row")
    lines(tmp_path / "validation.tsv", "id\taudio\tsentence", '1\ty.wav\tShe said "hi', "2\tx.wav\tplain")
    train = read_speech_dataset(tmp_path)
    assert (train.report.split, train.report.files, train.transcripts()) == (
        "train",
        ("train.csv",),
        ["train row"],
    )
    val = read_speech_dataset(tmp_path, "dev")
    assert val.layout == "manifest"
    assert (val.report.split, val.report.files) == ("val", ("validation.tsv",))
    # TSV cells are split at tabs only: the unbalanced quote stays inside its row.
    assert val.transcripts() == ["she said hi", "plain"]
    assert [u.origin for u in val.utterances] == ["validation.tsv:2", "validation.tsv:3"]
    assert (
        val.report.summary()
        .splitlines()[0]
        .endswith("(split 'val'): 2 utterances kept of 2 read, 0.5 s of audio.")
    )
    with pytest.raises(
        NotFoundError, match=r"no data of a known layout for split 'test'.*test\.tsv, test\.csv"
    ):
        read_speech_dataset(tmp_path, "test")


def test_csv_quoted_cell_spanning_lines_keeps_the_origin(tmp_path):
    clip(tmp_path / "a.wav")
    clip(tmp_path / "b.wav")
    path = lines(tmp_path / "m.csv", "wav,label", 'a.wav,"two', 'lines"', "b.wav,next")
    dataset = read_speech_dataset(path)
    assert [(u.origin, u.transcript) for u in dataset.utterances] == [
        ("m.csv:2", "two lines"),
        ("m.csv:4", "next"),
    ]


def test_manifest_without_recognised_header(tmp_path):
    path = lines(tmp_path / "train.csv", "clip,words", "a.wav,hello")
    with pytest.raises(DataError) as info:
        read_speech_dataset(path)
    message = str(info.value)
    assert "train.csv has no recognised header: its first row is 'clip', 'words'" in message
    assert "the audio column (one of path, audio, file, filename, wav, audio_path)" in message
    assert "the transcript column (one of transcript, text, sentence, transcription, label)" in message
    assert f"Received: path='{path}'" in message


def test_nothing_usable_is_an_error(tmp_path):
    (tmp_path / "bad.wav").write_text("no")
    path = lines(tmp_path / "train.csv", "path,text", "bad.wav,hello", "gone.wav,there")
    with pytest.raises(DataError) as info:
        read_speech_dataset(path)
    message = str(info.value)
    assert "No usable utterance in the manifest speech data" in message
    assert "all 2 utterances read from train.csv were dropped" in message
    assert "audio files whose header cannot be read (dropped): 1; e.g. train.csv:2 (bad.wav)" in message
    assert "audio files that do not exist (dropped): 1; e.g. train.csv:3 (gone.wav)" in message
    header_only = lines(tmp_path / "val.csv", "path,text")
    with pytest.raises(DataError, match=r"val\.csv holds no utterances"):
        read_speech_dataset(header_only)


def test_without_checking_audio(tmp_path):
    clip(tmp_path / "a.wav")
    (tmp_path / "b.wav").write_text("not audio, not checked")
    path = lines(tmp_path / "m.tsv", "path\ttext", "a.wav\tone", "b.wav\ttwo", "c.wav\tthree")
    dataset = read_speech_dataset(path, check_audio=False)
    assert [(u.transcript, u.duration) for u in dataset.utterances] == [("one", 0.0), ("two", 0.0)]
    assert dataset.report.issues() == {"missing_audio": 1}
    assert not dataset.report.audio_checked
    assert "clip headers not read (check_audio=False)" in dataset.report.summary()
    with pytest.raises(InvalidArgumentError, match=r"set check_audio=True.*Received: max_seconds=5"):
        read_speech_dataset(path, check_audio=False, max_seconds=5)


# --- LJSpeech ------------------------------------------------------------------------------------


def test_ljspeech_layout(tmp_path):
    root = tmp_path / "LJSpeech-1.1"
    for name in ("LJ001-0001", "LJ001-0002", "LJ001-0003"):
        clip(root / "wavs" / f"{name}.wav", seconds=0.2, rate=22050)
    lines(
        root / "metadata.csv",
        'LJ001-0001|Printing, in 1 "sense"|Printing, in one "sense"',
        "LJ001-0002|Only two columns",
        "LJ001-0003|Raw text|",
        "LJ001-0004|no clip|no clip",
        "broken line",
    )
    for split in ("train", "val", "test"):
        dataset = read_speech_dataset(root, split)
        assert dataset.layout == "ljspeech"
        assert dataset.transcripts() == ["printing in one sense", "only two columns", "raw text"]
    report = dataset.report
    assert (report.split, report.files, report.utterances_read, report.speakers) == (
        None,
        ("metadata.csv",),
        5,
        0,
    )
    assert dataset.utterances[0] == Utterance(
        str(root / "wavs" / "LJ001-0001.wav"), "printing in one sense", "metadata.csv:1", 0.2, ""
    )
    assert report.examples == {
        "bad_rows": ("metadata.csv:5: 1 column, expected 2 or 3",),
        "missing_audio": ("metadata.csv:4 (wavs/LJ001-0004.wav)",),
    }
    # The metadata file itself names the layout too.
    assert read_speech_dataset(root / "metadata.csv").layout == "ljspeech"


# --- LibriSpeech ---------------------------------------------------------------------------------


def librispeech(
    root: Path, subset: str, speaker: str, chapter: str, texts: list[str], suffix=".flac"
) -> Path:
    folder = root / subset / speaker / chapter if subset else root / speaker / chapter
    ids = [f"{speaker}-{chapter}-{i:04d}" for i in range(len(texts))]
    for clip_id in ids:
        clip(folder / f"{clip_id}{suffix}", seconds=0.1)
    return lines(
        folder / f"{speaker}-{chapter}.trans.txt", *(f"{i} {t}" for i, t in zip(ids, texts, strict=True))
    )


def test_librispeech_split_folders(tmp_path):
    root = tmp_path / "LibriSpeech"
    librispeech(root, "train-clean-100", "19", "198", ["NORTHANGER ABBEY", "CHAPTER ONE"])
    trans = librispeech(root, "train-other-500", "20", "205", ["HE SAID", "SHE SAID"], suffix=".wav")
    with trans.open("a") as file:
        file.write("20-205-0009 NO SUCH CLIP\n\n")
    librispeech(root, "dev-clean", "84", "121", ["DEV ONE"])
    train = read_speech_dataset(root, "train")
    assert train.layout == "librispeech"
    assert train.transcripts() == ["northanger abbey", "chapter one", "he said", "she said"]
    assert [u.speaker for u in train.utterances] == ["19", "19", "20", "20"]
    assert train.utterances[0].origin == "19-198.trans.txt:1"
    assert train.utterances[0].audio == str(root / "train-clean-100" / "19" / "198" / "19-198-0000.flac")
    assert train.utterances[2].audio.endswith("20-205-0000.wav")
    report = train.report
    assert report.split == "train"
    assert report.files == (
        "train-clean-100/19/198/19-198.trans.txt",
        "train-other-500/20/205/20-205.trans.txt",
    )
    assert (report.utterances_read, report.speakers) == (5, 2)
    assert report.examples == {"missing_audio": ("20-205.trans.txt:3 (20-205-0009.flac)",)}
    val = read_speech_dataset(root, "validation")
    assert (val.transcripts(), val.report.split) == (["dev one"], "val")
    with pytest.raises(
        NotFoundError, match=r"no 'test' split: its split folders are dev-clean, train-clean-100"
    ):
        read_speech_dataset(root, "test")
    # A subset folder has no split-named folders below it: everything is read.
    subset = read_speech_dataset(root / "dev-clean", "test")
    assert (subset.transcripts(), subset.report.split) == (["dev one"], None)
    # One transcript file is a path too.
    single = read_speech_dataset(trans)
    assert single.report.files == ("20-205.trans.txt",)
    assert len(single) == 2


def test_librispeech_without_split_folders(tmp_path):
    librispeech(tmp_path, "", "7", "1", ["ONE", "TWO", "THREE"])
    dataset = read_speech_dataset(tmp_path, "val")
    assert dataset.transcripts() == ["one", "two", "three"]
    assert dataset.report.split is None
    assert dataset.report.total_seconds == pytest.approx(0.3)


# --- Common Voice --------------------------------------------------------------------------------


def test_commonvoice_layout(tmp_path):
    clips = tmp_path / "clips"
    clip(clips / "common_voice_en_1.mp3", seconds=0.5)
    clip(clips / "common_voice_en_2.mp3", seconds=0.5)
    clip(clips / "common_voice_en_3.wav", seconds=0.5)
    header = "client_id\tpath\tsentence_id\tsentence\tup_votes\tdown_votes"
    lines(tmp_path / "train.tsv", header, "abc\tcommon_voice_en_1.mp3\t1\t\u201cQuoted\u201d text.\t2\t0")
    lines(
        tmp_path / "dev.tsv",
        header,
        "def\tcommon_voice_en_2.mp3\t2\tDev sentence\t2\t0",
        "ghi\tcommon_voice_en_3.wav\t3\tAnother one\t2\t0",
        "ghi\tcommon_voice_en_9.mp3\t9\tMissing clip\t2\t0",
    )
    train = read_speech_dataset(tmp_path, "train")
    assert train.layout == "commonvoice"
    assert train.utterances[0].audio == str(clips / "common_voice_en_1.mp3")
    assert (train.utterances[0].transcript, train.utterances[0].speaker) == ("quoted text", "abc")
    assert 0.4 < train.utterances[0].duration < 0.7  # MP3 headers estimate the length
    assert (train.report.audio_column, train.report.text_column, train.report.speaker_column) == (
        "path",
        "sentence",
        "client_id",
    )
    val = read_speech_dataset(tmp_path, "val")
    assert (val.report.files, val.report.split) == (("dev.tsv",), "val")
    assert val.transcripts() == ["dev sentence", "another one"]
    assert val.report.examples == {"missing_audio": ("dev.tsv:4 (common_voice_en_9.mp3)",)}
    assert read_speech_dataset(tmp_path / "dev.tsv").layout == "commonvoice"
    with pytest.raises(
        NotFoundError, match=r"Common Voice folder has no 'test' split file.*dev\.tsv, train\.tsv"
    ):
        read_speech_dataset(tmp_path, "test")


# --- paths and arguments -------------------------------------------------------------------------


def test_unknown_layouts_and_paths(tmp_path):
    (tmp_path / "readme.md").write_text("hi")
    with pytest.raises(NotFoundError) as info:
        read_speech_dataset(tmp_path)
    message = str(info.value)
    assert "holds no data of a known layout for split 'train'" in message
    assert "found a folder holding readme.md" in message
    assert "LJSpeech folder (metadata.csv and wavs/)" in message and "Common Voice folder" in message
    assert f"Received: path='{tmp_path}', split='train'" in message
    with pytest.raises(DataError, match=r"file with suffix '\.md'.*Expected a manifest"):
        read_speech_dataset(tmp_path / "readme.md")
    with pytest.raises(NotFoundError, match=r"does not exist.*Received: path='.*absent'"):
        read_speech_dataset(tmp_path / "absent")


@pytest.mark.parametrize(
    ("arguments", "pattern"),
    [
        ({"alphabet": ""}, r"Received: alphabet=''"),
        ({"max_seconds": -1.0}, r"Received: max_seconds=-1.0"),
        ({"max_seconds": float("nan")}, r"Received: max_seconds=nan"),
        ({"lowercase": "yes"}, r"Received: lowercase='yes'"),
        ({"split": "everything"}, r"Unknown split.*Received: split='everything'"),
    ],
)
def test_bad_arguments(tmp_path, arguments, pattern):
    with pytest.raises(InvalidArgumentError, match=pattern):
        read_speech_dataset(tmp_path, **arguments)


def test_report_defaults_summary():
    report = SpeechDataReport("x.csv", "manifest", None, ("x.csv",), 0, 0)
    assert report.issues() == {}
    assert report.summary().endswith("No odd cases found.")


# --- tf.data clips -------------------------------------------------------------------------------


def test_clip_dataset_resamples_and_skips_vanished_clips(tmp_path, caplog):
    for name, seconds in (("a", 0.25), ("b", 0.5), ("c", 0.125)):
        clip(tmp_path / f"{name}.wav", seconds=seconds, rate=8000)
    path = lines(tmp_path / "m.csv", "path,text", "a.wav,first", "b.wav,second", "c.wav,third")
    utterances = read_speech_dataset(path).utterances
    assert load_clip(utterances[0].audio, 16000).shape == (4000,)
    dataset = clip_dataset(utterances, 16000)
    assert dataset.element_spec == (
        tf.TensorSpec([None], tf.float32),
        tf.TensorSpec([], tf.string),
    )
    elements = [(samples.numpy(), text.numpy().decode()) for samples, text in dataset]
    assert [(len(samples), text) for samples, text in elements] == [
        (4000, "first"),
        (8000, "second"),
        (2000, "third"),
    ]
    assert all(samples.dtype == np.float32 and np.abs(samples).max() <= 1.0 for samples, _ in elements)
    (tmp_path / "b.wav").unlink()
    with caplog.at_level(logging.WARNING, logger="tfapps.pipelines.speech_data"):
        first = [text.numpy().decode() for _, text in dataset]
        second = [text.numpy().decode() for _, text in dataset]
    assert first == second == ["first", "third"]
    warnings = [record for record in caplog.records if "b.wav" in record.getMessage()]
    assert len(warnings) == 1  # once per clip, not once per epoch
    assert str(tmp_path / "b.wav") in warnings[0].getMessage()
    assert warnings[0].levelno == logging.WARNING
    strict = iter(clip_dataset(utterances, 16000, skip_unreadable=False))
    assert next(strict)[1].numpy() == b"first"
    with pytest.raises(tf.errors.OpError, match=r"b\.wav' does not exist"):
        next(strict)


def test_clip_dataset_shards_and_shuffles(tmp_path):
    utterances = []
    for i in range(6):
        audio = clip(tmp_path / f"{i}.wav", seconds=0.01 * (i + 1))
        utterances.append(Utterance(str(audio), f"u{i}", f"m.csv:{i + 2}", 0.01 * (i + 1)))
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1)
    shard = [text.numpy().decode() for _, text in clip_dataset(utterances, 16000, input_context=context)]
    assert shard == ["u1", "u3", "u5"]
    shuffled = [text.numpy().decode() for _, text in clip_dataset(utterances, 16000, shuffle=True, seed=3)]
    assert sorted(shuffled) == [f"u{i}" for i in range(6)]
    assert list(clip_dataset([], 16000)) == []
    with pytest.raises(InvalidArgumentError, match=r"Received: sample_rate=0"):
        clip_dataset(utterances, 0)


# --- module hygiene and shared data --------------------------------------------------------------


def test_importing_does_not_import_tensorflow():
    code = "import sys, tfapps.pipelines.speech_data; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


FSDD = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "datasets"
    / "speech_recognition"
    / "free_spoken_digit_dataset"
)
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@pytest.mark.shared_data
def test_shared_free_spoken_digits_through_a_manifest(tmp_path):
    clips = sorted((FSDD / "recordings").glob("*.wav"))[:60]
    rows = [f"{path},{DIGITS[int(path.name.split('_')[0])]},{path.name.split('_')[1]}" for path in clips]
    manifest = lines(tmp_path / "fsdd.csv", "path,text,speaker", *rows)
    dataset = read_speech_dataset(manifest, alphabet=ALPHABET)
    assert len(dataset) == 60 and dataset.report.issues() == {}
    assert all(0.1 < u.duration < 2.5 for u in dataset.utterances)
    samples, text = next(iter(clip_dataset(dataset.utterances[:1], 16000)))
    assert len(samples) == round(2 * dataset.utterances[0].duration * 8000)
    assert text.numpy().decode() == dataset.utterances[0].transcript
