"""Reading speech recognition data from disk: audio clips and their transcripts, checked before
training.

`read_speech_dataset` returns the utterances (an audio file and its normalised transcript each) and
a `SpeechDataReport`. Odd cases never stop a read: the utterance is dropped and counted, with up to
`MAX_EXAMPLES` examples naming the line and the audio file, in the report; only data with nothing
usable at all, a missing path or an unknown layout is an error::

    data = read_speech_dataset("LibriSpeech", "train", alphabet="abcdefghijklmnopqrstuvwxyz'")
    print(data.report.summary())
    ds = clip_dataset(data.utterances, sample_rate=16000)   # (samples float32 [T], transcript string [])

Layouts (detected from the path):

- "manifest": a `.csv` or `.tsv` file with a header row (or a folder holding `<split>.csv` or
  `<split>.tsv`, the split's name or an alias). The audio column is the first of `AUDIO_COLUMNS`
  in the header, the transcript column the first of `TEXT_COLUMNS`, the speaker column (optional)
  the first of `SPEAKER_COLUMNS`; names are matched case-insensitively. Audio paths are relative
  to the manifest's folder, or absolute. CSV files use standard quoting; TSV files none.
- "ljspeech": a folder holding `metadata.csv` (`id|transcription|normalized transcription`, no
  header, no quoting) and `wavs/<id>.wav`. The normalised transcription is read where present and
  non-empty, else the transcription. LJSpeech has no splits: every split reads all of it.
- "librispeech": a folder under which `*.trans.txt` files (`<utterance-id> <TRANSCRIPT>` lines)
  lie at any depth, each clip `<utterance-id>.flac` (or `.wav`) beside its file; the speaker is
  the id's first dash-separated field. Where folders on the way are named like splits
  (`train-clean-100`, `dev-clean`, `test-other`), those of the split asked for are read (train:
  names starting with "train"; val: "dev" or "val"; test: "test"); otherwise everything is.
- "commonvoice": a folder holding `clips/` and `<split>.tsv` (`train.tsv`, `dev.tsv`, `test.tsv`)
  with columns `path` (a file name under `clips/`), `sentence` and `client_id` (the speaker); a
  `.tsv` file with those columns beside a `clips/` folder is read the same way.

Transcripts are normalised by `normalize_transcript`. Every audio file's header is read once (in
parallel) when `check_audio` is on, for its duration and to report unreadable or empty files up
front instead of half-way through an epoch.

Reading does not import TensorFlow; only `clip_dataset` does.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import logging
import math
import os
import threading
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from tfapps.apps.errors import DataError, InvalidArgumentError, NotFoundError, TfappsError
from tfapps.pipelines.audio_io import AudioHeader, probe_audio, read_audio
from tfapps.pipelines.dataset_files import IssueTally, count_noun, describe_path, issue_lines, split_aliases
from tfapps.pipelines.splits import canonical_split
from tfapps.pipelines.text_files import checked_utf8_bytes, utf8_lines

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "AUDIO_COLUMNS",
    "LAYOUTS",
    "MAX_EXAMPLES",
    "SPEAKER_COLUMNS",
    "TEXT_COLUMNS",
    "SpeechDataReport",
    "SpeechDataset",
    "Utterance",
    "clip_dataset",
    "load_clip",
    "normalize_transcript",
    "read_speech_dataset",
]

logger = logging.getLogger(__name__)

LAYOUTS = ("manifest", "ljspeech", "librispeech", "commonvoice")
# Header names (case-insensitive) of a manifest's columns, in the order they are looked for.
AUDIO_COLUMNS = ("path", "audio", "file", "filename", "wav", "audio_path")
TEXT_COLUMNS = ("transcript", "text", "sentence", "transcription", "label")
SPEAKER_COLUMNS = ("speaker", "speaker_id", "client_id")
MAX_EXAMPLES = 5

# Reading a header is mostly waiting on the disk: threads overlap that (LibriSpeech has ~30k files).
_HEADER_THREADS = 8
_LIBRISPEECH_SUFFIXES = (".flac", ".wav")
# Common Voice names its validation split "dev"; `split_aliases("val")` ends with it.
_COMMONVOICE_COLUMNS = ("path", "sentence")
_HINT = (
    "a manifest (.csv or .tsv with a header naming the audio column, one of "
    f"{', '.join(AUDIO_COLUMNS)}, and the transcript column, one of {', '.join(TEXT_COLUMNS)}) or a folder "
    "holding <split>.csv or <split>.tsv; an LJSpeech folder (metadata.csv and wavs/); a LibriSpeech folder "
    "(*.trans.txt files beside .flac clips, at any depth); or a Common Voice folder (clips/ and "
    "<split>.tsv with columns path and sentence)"
)

# (report field, what it counts), in the order `summary()` lists them.
_ISSUES = (
    ("invalid_utf8", "lines that are not valid UTF-8 (dropped)"),
    ("bad_rows", "rows with the wrong number of columns, no audio path, or that cannot be read (dropped)"),
    ("duplicate_audio", "rows naming an audio file an earlier row names (dropped)"),
    ("empty_transcripts", "utterances whose transcript is empty after normalisation (dropped)"),
    ("outside_alphabet", "utterances with characters outside the alphabet (dropped)"),
    ("missing_audio", "audio files that do not exist (dropped)"),
    ("unreadable_audio", "audio files whose header cannot be read (dropped)"),
    ("empty_audio", "audio files holding no samples (dropped)"),
    ("too_long", "clips longer than max_seconds (dropped)"),
)


# --------------------------------------------------------------------------------- public types


@dataclasses.dataclass(frozen=True, slots=True)
class Utterance:
    """One audio clip and what is said in it.

    Attributes:
        audio: the clip's absolute path.
        transcript: the normalised transcript (`normalize_transcript`).
        origin: where it came from, for messages: "train.csv:12" (file name and 1-based line),
            "metadata.csv:7", "19-198.trans.txt:3".
        duration: the clip's length in seconds, from its header (0.0 when headers were not read,
            `check_audio=False`).
        speaker: the speaker, where the layout gives one (LibriSpeech, Common Voice's
            `client_id`, a manifest's speaker column); "" otherwise.
    """

    audio: str
    transcript: str
    origin: str
    duration: float
    speaker: str = ""


@dataclasses.dataclass(frozen=True)
class SpeechDataReport:
    """What reading speech data found: its size and every odd case, with examples.

    Examples name the line and the audio file ("train.csv:4 (a.wav): '1', 'é'").

    Attributes:
        source: the path read: the manifest or the folder.
        layout: "manifest", "ljspeech", "librispeech" or "commonvoice".
        split: the split whose files were picked, or None when `path` named the file or the
            layout has no splits (LJSpeech, LibriSpeech without split folders).
        files: the transcript files read, relative to `source` when it is a folder.
        utterances_read: data rows or lines read (header rows and blank lines not counted).
        utterances_kept: utterances kept.
        total_seconds: the kept clips' total duration (0.0 when headers were not read).
        speakers: distinct non-empty speakers among the kept utterances.
        audio_column, text_column, speaker_column: the manifest (Common Voice) header cells read;
            "" for the other layouts and for no speaker column.
        audio_checked: whether every clip's header was read (`check_audio`).
        lowercase, strip_punctuation: the transcript normalisation applied.
        alphabet: the characters allowed in transcripts (besides the space), or None for any.
        max_seconds: the longest clip allowed; 0.0 for no limit.
        invalid_utf8, bad_rows, ...: the odd-case counts listed by `issues()`.
        examples: up to `MAX_EXAMPLES` descriptions per non-zero count.
    """

    source: str
    layout: str
    split: str | None
    files: tuple[str, ...]
    utterances_read: int
    utterances_kept: int
    total_seconds: float = 0.0
    speakers: int = 0
    audio_column: str = ""
    text_column: str = ""
    speaker_column: str = ""
    audio_checked: bool = True
    lowercase: bool = True
    strip_punctuation: bool = True
    alphabet: str | None = None
    max_seconds: float = 0.0
    invalid_utf8: int = 0
    bad_rows: int = 0
    duplicate_audio: int = 0
    empty_transcripts: int = 0
    outside_alphabet: int = 0
    missing_audio: int = 0
    unreadable_audio: int = 0
    empty_audio: int = 0
    too_long: int = 0
    examples: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def issues(self) -> dict[str, int]:
        """The non-zero odd-case counts by field name, in report order."""
        return {name: getattr(self, name) for name, _ in _ISSUES if getattr(self, name)}

    def summary(self) -> str:
        """A few readable lines: totals, what was read and how, then each odd case with examples."""
        split = f" (split '{self.split}')" if self.split else ""
        head = (
            f"{self.layout} speech data from {self.source}{split}: "
            f"{count_noun(self.utterances_kept, 'utterance')} kept of {self.utterances_read} read"
        )
        if self.audio_checked:
            head += f", {_duration_text(self.total_seconds)} of audio"
        else:
            head += ", clip headers not read (check_audio=False)"
        if self.speakers:
            head += f", {count_noun(self.speakers, 'speaker')}"
        lines = [head + "."]
        shown = ", ".join(self.files[:3]) + (
            f" and {len(self.files) - 3} more" if len(self.files) > 3 else ""
        )
        read = f"Read {count_noun(len(self.files), 'file')}: {shown}"
        if self.audio_column:
            read += f"; audio column '{self.audio_column}', transcript column '{self.text_column}'"
            if self.speaker_column:
                read += f", speaker column '{self.speaker_column}'"
        lines.append(read + ".")
        steps = ["NFKC"]
        if self.lowercase:
            steps.append("lowercased")
        if self.strip_punctuation:
            steps.append("punctuation removed (apostrophes kept)")
        rules = f"Transcripts: {', '.join(steps)}"
        if self.alphabet is not None:
            letters = self.alphabet.replace(" ", "")
            rules += f"; alphabet of {count_noun(len(letters), 'character')} and the space"
        if self.max_seconds:
            rules += f"; longest clip allowed {self.max_seconds:g} s"
        lines.append(rules + ".")
        lines += issue_lines(self.issues(), _ISSUES, self.examples)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy: plain dicts, lists, strings, numbers, booleans and None."""
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        data["files"] = list(self.files)
        data["examples"] = {name: list(examples) for name, examples in self.examples.items()}
        return data


@dataclasses.dataclass(frozen=True)
class SpeechDataset:
    """Speech data read from disk.

    Attributes:
        utterances: one per usable row or line, in file order.
        layout: "manifest", "ljspeech", "librispeech" or "commonvoice".
        report: the counts and examples of odd cases.
    """

    utterances: list[Utterance]
    layout: str
    report: SpeechDataReport

    def __len__(self) -> int:
        return len(self.utterances)

    def audio_paths(self) -> list[str]:
        """The clips' absolute paths, in utterance order."""
        return [utterance.audio for utterance in self.utterances]

    def transcripts(self) -> list[str]:
        """The normalised transcripts, in utterance order."""
        return [utterance.transcript for utterance in self.utterances]


# ---------------------------------------------------------------------------- normalisation


class _PunctuationTable(dict):
    """A `str.translate` table, filled on first sight of each character: apostrophes kept (the
    typographic ones made ASCII), dashes and slashes made spaces, other punctuation removed."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        category = unicodedata.category(char)
        if char in "'\u2019\u02bc":
            value: str | None = "'"
        elif category == "Pd" or char in "/\\":
            value = " "
        elif category.startswith("P"):
            value = None
        else:
            value = char
        self[code] = value
        return value


_PUNCTUATION = _PunctuationTable()


def normalize_transcript(text: str, lowercase: bool = True, strip_punctuation: bool = True) -> str:
    """Normalise a transcript the way every reader does.

    Steps: Unicode NFKC (full-width letters, ligatures and `…` become their plain forms); lower
    case when `lowercase`; when `strip_punctuation`, every Unicode punctuation character removed
    except the apostrophe (`’` and `ʼ` become `'`), dashes and slashes becoming spaces; finally
    whitespace runs collapsed into one space and the ends stripped. Letters, digits and symbols
    (`$`, `%`) are kept as they are.

    Args:
        text: the transcript as written.
        lowercase: lower-case it.
        strip_punctuation: remove punctuation as above.

    Returns:
        The normalised transcript ("" when nothing but punctuation and whitespace was there).

    Example:
        >>> normalize_transcript("Don’t stop—it's “twenty-one”, O.K.?")
        "don't stop it's twenty one ok"
    """
    text = unicodedata.normalize("NFKC", text)
    if lowercase:
        text = text.lower()
    if strip_punctuation:
        text = text.translate(_PUNCTUATION)
    return " ".join(text.split())


# ----------------------------------------------------------------------------- public functions


def read_speech_dataset(
    path: str | os.PathLike[str],
    split: str = "train",
    *,
    alphabet: str | None = None,
    lowercase: bool = True,
    strip_punctuation: bool = True,
    max_seconds: float = 0.0,
    check_audio: bool = True,
) -> SpeechDataset:
    """Read speech data (audio clips and transcripts) and check every utterance once.

    Args:
        path: a manifest (`.csv`/`.tsv`) or a folder holding `<split>.csv`/`<split>.tsv`; an
            LJSpeech folder; a LibriSpeech folder (any level holding the `*.trans.txt` files); a
            Common Voice folder or one of its `.tsv` files. See the module docstring.
        split: "train", "val" or "test" (or an alias: "validation", "valid", "dev", "training",
            "testing"; "predict" reads the test split) picks the files of a folder; a file is read
            whole for any split, and so is an LJSpeech folder.
        alphabet: the characters transcripts may hold after normalisation (the space is always
            allowed); utterances with others are dropped and reported. None allows any.
        lowercase: lower-case transcripts (`normalize_transcript`).
        strip_punctuation: remove punctuation but apostrophes from transcripts.
        max_seconds: drop (and report) clips longer than this; 0 keeps every length. Needs
            `check_audio` (the durations come from the headers).
        check_audio: read every clip's header (in parallel) for its duration, dropping and
            reporting unreadable and empty files. Off, only missing files are found and
            durations are 0.0.

    Returns:
        The `SpeechDataset`.

    Raises:
        NotFoundError: `path` does not exist, or a folder has no data of a known layout or no
            files for `split`.
        InvalidArgumentError: a bad argument (`max_seconds` without `check_audio`, an empty
            `alphabet`).
        DataError: a file of an unknown kind, a manifest without a recognised header, a
            transcript file that is UTF-16, or nothing usable at all (the message holds the
            report's summary).

    Example:
        >>> data = read_speech_dataset("LJSpeech-1.1", max_seconds=10.0)
        >>> len(data), data.utterances[0].origin, data.utterances[0].transcript[:30]
        (10203, 'metadata.csv:1', 'printing in the only sense wit')
    """
    canonical = canonical_split(split)
    options = _Options(
        alphabet=_checked_alphabet(alphabet),
        lowercase=_checked_flag("lowercase", lowercase),
        strip_punctuation=_checked_flag("strip_punctuation", strip_punctuation),
        max_seconds=_checked_max_seconds(max_seconds),
        check_audio=_checked_flag("check_audio", check_audio),
    )
    if options.max_seconds and not options.check_audio:
        raise InvalidArgumentError(
            "max_seconds needs the clips' durations, which come from their headers: set check_audio=True, "
            f"or max_seconds=0. Received: max_seconds={max_seconds!r}, check_audio={check_audio!r}"
        )
    # Clips to transcribe are the held-out ones.
    located = _locate(path, "test" if canonical == "predict" else canonical)
    tally = _Tally()
    read_rows = _READERS[located.layout]
    rows, read, columns = read_rows(located, tally)
    utterances = _checked_utterances(rows, tally, options)
    root = located.root
    files = tuple(file.relative_to(root).as_posix() if root.is_dir() else file.name for file in located.files)
    report = tally.report(
        source=str(root),
        layout=located.layout,
        split=located.split,
        files=files,
        utterances_read=read,
        utterances_kept=len(utterances),
        total_seconds=round(math.fsum(u.duration for u in utterances), 3),
        speakers=len({u.speaker for u in utterances if u.speaker}),
        audio_column=columns[0],
        text_column=columns[1],
        speaker_column=columns[2],
        audio_checked=options.check_audio,
        lowercase=options.lowercase,
        strip_punctuation=options.strip_punctuation,
        alphabet=options.alphabet,
        max_seconds=options.max_seconds,
    )
    if not utterances:
        where = ", ".join(files) if len(files) <= 3 else f"{len(files)} transcript files"
        why = (
            f"{where} holds no utterances"
            if not read
            else f"all {count_noun(read, 'utterance')} read from {where} were dropped (see below)"
        )
        raise DataError(
            f"No usable utterance in the {located.layout} speech data at {root}: {why}. Expected rows naming "
            f"a readable audio file and a non-empty transcript. Received: path='{path}', split='{split}'\n"
            f"{report.summary()}"
        )
    logger.info("%s", report.summary())
    return SpeechDataset(utterances, located.layout, report)


def load_clip(path: str | os.PathLike[str], sample_rate: int) -> np.ndarray:
    """A clip's float32 mono samples at `sample_rate` (`audio_io.read_audio`).

    Raises:
        NotFoundError, DataError, InvalidArgumentError: as `read_audio`.
    """
    return read_audio(path, sample_rate)[0]


def clip_dataset(
    utterances: Sequence[Utterance],
    sample_rate: int,
    *,
    input_context: tf.distribute.InputContext | None = None,
    shuffle: bool = False,
    seed: int | None = None,
    skip_unreadable: bool = True,
) -> tf.data.Dataset:
    """A `tf.data.Dataset` of `(samples float32 [T], transcript string [])`, one per utterance.

    Clips are decoded and resampled in parallel (`tf.numpy_function` over `load_clip`), in
    utterance order unless `shuffle`. A clip that cannot be loaded any more (deleted or corrupted
    after `read_speech_dataset` checked it) is logged once, with its path, at WARNING and skipped,
    unless `skip_unreadable` is off.

    Args:
        utterances: the utterances to read (`SpeechDataset.utterances`).
        sample_rate: the rate to return samples at.
        input_context: `tf.distribute.InputContext` to shard the utterances by (before any clip is
            read); None reads all.
        shuffle: shuffle the utterances (not the decoded clips) again each epoch.
        seed: the shuffle's seed.
        skip_unreadable: skip (and log) clips that fail to load. Off, iterating stops at such a clip
            with a `tf.errors.OpError` whose message holds the `read_audio` error (for evaluation,
            where every output must line up with its utterance).

    Returns:
        The dataset; elements have `samples` of shape `[None]` and a scalar `transcript`.

    Raises:
        InvalidArgumentError: `sample_rate` is not a positive whole number.
    """
    import tensorflow as tf

    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer) or sample_rate <= 0:
        raise InvalidArgumentError(
            f"sample_rate must be a positive whole number of samples per second. Received: sample_rate={sample_rate!r}"
        )
    rate = int(sample_rate)
    skip_unreadable = _checked_flag("skip_unreadable", skip_unreadable)
    paths = tf.constant([utterance.audio for utterance in utterances], tf.string, shape=[len(utterances)])
    texts = tf.constant(
        [utterance.transcript for utterance in utterances], tf.string, shape=[len(utterances)]
    )
    dataset = tf.data.Dataset.from_tensor_slices((paths, texts))
    if input_context is not None:
        dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if shuffle and utterances:
        dataset = dataset.shuffle(len(utterances), seed=seed, reshuffle_each_iteration=True)
    load = _SkippingLoader(rate) if skip_unreadable else functools.partial(_load_clip_bytes, sample_rate=rate)

    def read(path: tf.Tensor, transcript: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        samples = tf.numpy_function(load, [path], tf.float32, stateful=False)
        samples.set_shape([None])
        return samples, transcript

    dataset = dataset.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.filter(lambda samples, transcript: tf.size(samples) > 0)


def _load_clip_bytes(path: bytes, sample_rate: int) -> np.ndarray:
    return load_clip(path.decode("utf-8", "surrogateescape"), sample_rate)


class _SkippingLoader:
    """`load_clip` for `tf.numpy_function`: an empty array, logged once per path, for a clip that fails."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self.failed: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, path: bytes) -> np.ndarray:
        name = path.decode("utf-8", "surrogateescape")
        try:
            return load_clip(name, self.sample_rate)
        # Read errors are TfappsErrors; OSError covers a file system that fails under the reader.
        except (TfappsError, OSError) as error:
            with self.lock:
                first = name not in self.failed
                self.failed.add(name)
            if first:
                logger.warning("Skipping audio clip '%s', which cannot be loaded any more: %s", name, error)
            return np.zeros(0, np.float32)


# --------------------------------------------------------------------------------------- tally


class _Tally(IssueTally):
    """Counts and examples of odd cases, gathered while reading files."""

    def __init__(self) -> None:
        super().__init__(MAX_EXAMPLES)

    def report(self, **fields: Any) -> SpeechDataReport:
        return SpeechDataReport(
            examples={name: tuple(self.examples[name]) for name, _ in _ISSUES if self.examples[name]},
            **{name: self.counts[name] for name, _ in _ISSUES},
            **fields,
        )


class _Options(NamedTuple):
    alphabet: str | None
    lowercase: bool
    strip_punctuation: bool
    max_seconds: float
    check_audio: bool


class _Located(NamedTuple):
    root: Path
    layout: str
    files: tuple[Path, ...]
    split: str | None


class _Row(NamedTuple):
    """An utterance as read, before the checks every layout shares."""

    origin: str
    audio: Path  # absolute and normalised
    shown: str  # the audio file as the row names it, for examples
    text: str  # the transcript as written
    speaker: str


# `(rows, utterances read, (audio column, text column, speaker column))`
_Read = tuple[list[_Row], int, tuple[str, str, str]]


# ------------------------------------------------------------------------------- shared checks


def _checked_utterances(rows: Sequence[_Row], tally: _Tally, options: _Options) -> list[Utterance]:
    """The rows that name a new, readable clip and a usable transcript, as utterances."""
    allowed = None if options.alphabet is None else frozenset(options.alphabet) | {" "}
    seen: dict[Path, str] = {}
    candidates: list[tuple[_Row, str]] = []
    for row in rows:
        earlier = seen.setdefault(row.audio, row.origin)
        if earlier is not row.origin:
            tally.note("duplicate_audio", f"{row.origin} ({row.shown}) repeats {earlier}")
            continue
        transcript = normalize_transcript(row.text, options.lowercase, options.strip_punctuation)
        if not transcript:
            written = f": {row.text.strip()[:40]!r}" if row.text.strip() else ""
            tally.note("empty_transcripts", f"{row.origin} ({row.shown}){written}")
            continue
        if allowed is not None:
            outside = [char for char in dict.fromkeys(transcript) if char not in allowed]
            if outside:
                listed = ", ".join(repr(char) for char in outside)
                tally.note("outside_alphabet", f"{row.origin} ({row.shown}): {listed}")
                continue
        candidates.append((row, transcript))
    probe: Callable[[Path], AudioHeader | str | _Missing | None] = _probe if options.check_audio else _exists
    if candidates:
        with ThreadPoolExecutor(max_workers=min(_HEADER_THREADS, len(candidates))) as pool:
            headers = list(pool.map(probe, [row.audio for row, _ in candidates]))
    else:
        headers = []
    utterances = []
    for (row, transcript), header in zip(candidates, headers, strict=True):
        if header is _MISSING:
            tally.note("missing_audio", f"{row.origin} ({row.shown})")
            continue
        if isinstance(header, str):
            tally.note("unreadable_audio", f"{row.origin} ({row.shown}): {header}")
            continue
        duration = 0.0
        if header is not None:
            if header.frames == 0:
                tally.note("empty_audio", f"{row.origin} ({row.shown})")
                continue
            duration = header.duration_seconds
            if options.max_seconds and duration > options.max_seconds:
                tally.note("too_long", f"{row.origin} ({row.shown}): {duration:.2f} s")
                continue
        utterances.append(Utterance(str(row.audio), transcript, row.origin, duration, row.speaker))
    return utterances


class _Missing:
    """The probe's answer for a clip that does not exist (a reason is a `str`, a header an `AudioHeader`)."""


_MISSING = _Missing()


def _exists(path: Path) -> _Missing | None:
    return None if path.is_file() else _MISSING


def _probe(path: Path) -> AudioHeader | str | _Missing:
    return _MISSING if not path.is_file() else probe_audio(path)


# ----------------------------------------------------------------------------------- reading


def _decoded_lines(path: Path, tally: _Tally) -> list[str | None]:
    """The file's lines without their line ends; None for a line that is not UTF-8 (noted), so
    that one bad byte costs one line and line i stays at index i - 1."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(
            f"Cannot read {path.name}: {type(error).__name__}: {error.strerror or error}. Expected a readable "
            f"UTF-8 text file. Received: path='{path}'"
        ) from error
    return utf8_lines(checked_utf8_bytes(data, path), path.name, tally)


def _table(file: Path, tally: _Tally) -> list[tuple[str, list[str] | str]]:
    """The non-blank rows of a CSV (standard quoting) or TSV (no quoting) file: `(origin, cells)`,
    or `(origin, why the row cannot be read)`; the origin names the row's first line."""
    lines = _decoded_lines(file, tally)
    numbers: list[int] = []

    def feed():
        for number, line in enumerate(lines, 1):
            if line is not None:
                numbers.append(number)
                # The line end lets a quoted CSV cell span lines and keep its newline.
                yield line + "\n"

    if file.suffix.lower() == ".tsv":
        # Common Voice sentences hold unbalanced quotes: cells are split at tabs only.
        reader = csv.reader(feed(), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(feed(), delimiter=",")
    table: list[tuple[str, list[str] | str]] = []
    while True:
        start = len(numbers)
        try:
            cells: list[str] | str = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            cells = str(error)
        number = numbers[start] if start < len(numbers) else numbers[-1]
        if isinstance(cells, list) and not any(cell.strip() for cell in cells):
            continue
        table.append((f"{file.name}:{number}", cells))
    return table


def _column(cells: Sequence[str], names: Sequence[str]) -> int | None:
    """The index of the first of `names` among the header `cells` (case-insensitive)."""
    lowered = [cell.strip().lower() for cell in cells]
    return next((lowered.index(name) for name in names if name in lowered), None)


def _header_row(file: Path, tally: _Tally) -> tuple[list[str], list[tuple[str, list[str] | str]], int]:
    """A manifest's header cells, its data rows and how many rows were read (invalid lines included)."""
    table = _table(file, tally)
    invalid = tally.counts["invalid_utf8"]
    header: list[str] = []
    body: list[tuple[str, list[str] | str]] = []
    before = 0
    for origin, cells in table:
        if isinstance(cells, list):
            header, body = cells, table[before + 1 :]
            break
        # Rows before the header that cannot be read are bad rows too.
        tally.note("bad_rows", f"{origin}: {cells}")
        before += 1
    return header, body, before + len(body) + invalid


def _manifest_rows(located: _Located, tally: _Tally) -> _Read:
    """The rows of a CSV/TSV manifest (audio paths relative to its folder, or absolute)."""
    file = located.files[0]
    clips = file.parent / "clips" if located.layout == "commonvoice" else file.parent
    header, body, read = _header_row(file, tally)
    if not header:
        return [], read, ("", "", "")
    audio_index = _column(header, AUDIO_COLUMNS)
    text_index = _column(header, TEXT_COLUMNS)
    if audio_index is None or text_index is None:
        found = ", ".join(repr(cell) for cell in header)
        missing = " and ".join(
            f"the {what} column (one of {', '.join(names)})"
            for what, names, index in (
                ("audio", AUDIO_COLUMNS, audio_index),
                ("transcript", TEXT_COLUMNS, text_index),
            )
            if index is None
        )
        raise DataError(
            f"{file.name} has no recognised header: its first row is {found}, which does not name {missing}. "
            f"Expected a header row naming the audio column ({', '.join(AUDIO_COLUMNS)}), the transcript "
            f"column ({', '.join(TEXT_COLUMNS)}) and optionally the speaker column "
            f"({', '.join(SPEAKER_COLUMNS)}); names are matched case-insensitively. Received: path='{file}'"
        )
    speaker_index = _column(header, SPEAKER_COLUMNS)
    width = len(header)
    rows = []
    for origin, cells in body:
        if isinstance(cells, str):
            tally.note("bad_rows", f"{origin}: {cells}")
            continue
        if len(cells) != width:
            tally.note("bad_rows", f"{origin}: {count_noun(len(cells), 'column')}, expected {width}")
            continue
        shown = cells[audio_index].strip()
        if not shown:
            tally.note("bad_rows", f"{origin}: no audio path")
            continue
        audio = Path(os.path.normpath(clips / Path(shown).expanduser()))
        speaker = cells[speaker_index].strip() if speaker_index is not None else ""
        rows.append(_Row(origin, audio, shown, cells[text_index], speaker))
    speaker_column = "" if speaker_index is None else header[speaker_index].strip()
    return rows, read, (header[audio_index].strip(), header[text_index].strip(), speaker_column)


def _ljspeech_rows(located: _Located, tally: _Tally) -> _Read:
    """The rows of LJSpeech's `metadata.csv`: `id|transcription|normalized transcription`."""
    file = located.files[0]
    wavs = file.parent / "wavs"
    rows = []
    read = 0
    for number, line in enumerate(_decoded_lines(file, tally), 1):
        if line is not None and not line.strip():
            continue
        read += 1
        if line is None:
            continue
        origin = f"{file.name}:{number}"
        # No quoting (csv.QUOTE_NONE): the transcripts hold unbalanced quotes.
        cells = line.split("|")
        if len(cells) not in (2, 3):
            tally.note("bad_rows", f"{origin}: {count_noun(len(cells), 'column')}, expected 2 or 3")
            continue
        clip_id = cells[0].strip()
        if not clip_id:
            tally.note("bad_rows", f"{origin}: no clip id")
            continue
        text = cells[2] if len(cells) == 3 and cells[2].strip() else cells[1]
        shown = f"wavs/{clip_id}.wav"
        rows.append(_Row(origin, Path(os.path.normpath(wavs / f"{clip_id}.wav")), shown, text, ""))
    return rows, read, ("", "", "")


def _librispeech_rows(located: _Located, tally: _Tally) -> _Read:
    """The lines of every `*.trans.txt` file: `<utterance-id> <TRANSCRIPT>`, clips beside them."""
    rows = []
    read = 0
    for file in located.files:
        for number, line in enumerate(_decoded_lines(file, tally), 1):
            if line is not None and not line.strip():
                continue
            read += 1
            if line is None:
                continue
            clip_id, _, text = line.strip().partition(" ")
            candidates = [file.parent / f"{clip_id}{suffix}" for suffix in _LIBRISPEECH_SUFFIXES]
            audio = next((candidate for candidate in candidates if candidate.is_file()), candidates[0])
            speaker = clip_id.split("-", 1)[0]
            rows.append(
                _Row(f"{file.name}:{number}", Path(os.path.normpath(audio)), audio.name, text, speaker)
            )
    return rows, read, ("", "", "")


_READERS: dict[str, Callable[[_Located, _Tally], _Read]] = {
    "manifest": _manifest_rows,
    "commonvoice": _manifest_rows,
    "ljspeech": _ljspeech_rows,
    "librispeech": _librispeech_rows,
}


# ------------------------------------------------------------------------------- locating files


def _locate(path: str | os.PathLike[str], split: str) -> _Located:
    """The layout and the files to read for `path`."""
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise InvalidArgumentError(f"No speech data path given. Expected {_HINT}. Received: path={path!r}")
    # abspath, not resolve(): normalises `..` but keeps the symlinked names a user typed.
    root = Path(os.path.abspath(Path(path).expanduser()))
    if root.is_dir():
        return _locate_in_folder(root, split, path)
    if not root.is_file():
        raise NotFoundError(f"The speech data path does not exist. Expected {_HINT}. Received: path='{path}'")
    name = root.name.lower()
    if name.endswith(".trans.txt"):
        return _Located(root, "librispeech", (root,), None)
    if name == "metadata.csv" and (root.parent / "wavs").is_dir():
        return _Located(root.parent, "ljspeech", (root,), None)
    if root.suffix.lower() == ".tsv" and _is_commonvoice(root):
        return _Located(root, "commonvoice", (root,), None)
    if root.suffix.lower() in (".csv", ".tsv"):
        return _Located(root, "manifest", (root,), None)
    raise DataError(
        f"The speech data path is a file with suffix '{root.suffix}', which is no manifest (.csv or .tsv) and no "
        f"LibriSpeech transcript (.trans.txt). Expected {_HINT}. Received: path='{path}'"
    )


def _is_commonvoice(file: Path) -> bool:
    """A `.tsv` file beside a `clips/` folder whose first line names Common Voice's columns."""
    if not (file.parent / "clips").is_dir():
        return False
    try:
        with file.open("rb") as stream:
            first = stream.readline().decode("utf-8", "replace").removeprefix("\ufeff")
    except OSError:
        return False
    cells = [cell.strip().lower() for cell in first.rstrip("\r\n").split("\t")]
    return all(column in cells for column in _COMMONVOICE_COLUMNS)


def _locate_in_folder(folder: Path, split: str, path: str | os.PathLike[str]) -> _Located:
    metadata = folder / "metadata.csv"
    if metadata.is_file() and (folder / "wavs").is_dir():
        return _Located(folder, "ljspeech", (metadata,), None)
    names = split_aliases(split)
    tried = []
    for name in names:
        for suffix in (".tsv", ".csv"):
            file = folder / f"{name}{suffix}"
            tried.append(file.name)
            if file.is_file():
                layout = "commonvoice" if suffix == ".tsv" and _is_commonvoice(file) else "manifest"
                return _Located(folder, layout, (file,), split)
    # Before walking the tree: a Common Voice clips/ folder can hold a million files.
    if (folder / "clips").is_dir():
        tables = sorted(p.name for p in folder.glob("*.tsv"))
        raise NotFoundError(
            f"The Common Voice folder has no '{split}' split file: looked for {', '.join(tried)}; its .tsv "
            f"files are {', '.join(tables) or 'none'}. Expected {_HINT}. Received: path='{path}', split='{split}'"
        )
    transcripts = sorted(folder.rglob("*.trans.txt"), key=lambda file: file.relative_to(folder).as_posix())
    transcripts = [file for file in transcripts if file.is_file()]
    if transcripts:
        return _librispeech_split(folder, transcripts, split, path)
    raise NotFoundError(
        f"The speech data folder holds no data of a known layout for split '{split}': looked for "
        f"{', '.join(tried)}, metadata.csv with wavs/ (LJSpeech) and *.trans.txt files (LibriSpeech); found "
        f"{describe_path(folder)}. Expected {_HINT}. Received: path='{path}', split='{split}'"
    )


def _split_of(name: str) -> str | None:
    """The split a LibriSpeech folder name means ("train-clean-100": train), or None."""
    name = name.lower()
    if name.startswith("train"):
        return "train"
    if name.startswith(("dev", "val")):
        return "val"
    if name.startswith("test"):
        return "test"
    return None


def _librispeech_split(
    folder: Path, transcripts: list[Path], split: str, path: str | os.PathLike[str]
) -> _Located:
    """The transcript files of `split` where folders are named like splits, else all of them."""
    splits: dict[Path, str | None] = {}
    for file in transcripts:
        parts = file.relative_to(folder).parts[:-1]
        splits[file] = next((s for s in map(_split_of, parts) if s is not None), None)
    if not any(splits.values()):
        return _Located(folder, "librispeech", tuple(transcripts), None)
    chosen = tuple(file for file in transcripts if splits[file] == split)
    if chosen:
        return _Located(folder, "librispeech", chosen, split)
    named = sorted(
        {
            part
            for file in transcripts
            for part in file.relative_to(folder).parts[:-1]
            if _split_of(part) is not None
        }
    )
    raise NotFoundError(
        f"The LibriSpeech folder has no '{split}' split: its split folders are {', '.join(named)} (train: names "
        f"starting with 'train'; val: 'dev' or 'val'; test: 'test'). Expected {_HINT}. Received: path='{path}', "
        f"split='{split}'"
    )


# ----------------------------------------------------------------------------------- arguments


def _checked_alphabet(alphabet: str | None) -> str | None:
    if alphabet is None:
        return None
    if not isinstance(alphabet, str) or not alphabet:
        raise InvalidArgumentError(
            f"alphabet must be a non-empty string of the characters transcripts may hold, or None for any. "
            f"Received: alphabet={alphabet!r}"
        )
    return "".join(dict.fromkeys(alphabet))


def _checked_flag(argument: str, value: bool) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{argument} must be True or False. Received: {argument}={value!r}")
    return value


def _checked_max_seconds(max_seconds: float) -> float:
    if (
        isinstance(max_seconds, bool)
        or not isinstance(max_seconds, int | float)
        or not math.isfinite(max_seconds)
        or max_seconds < 0
    ):
        raise InvalidArgumentError(
            f"max_seconds must be a number of seconds, or 0 for no limit. Received: max_seconds={max_seconds!r}"
        )
    return float(max_seconds)


def _duration_text(seconds: float) -> str:
    """`12.3 s`, `4.5 min`, `2.25 h`."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"
