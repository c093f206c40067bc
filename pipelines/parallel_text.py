"""Reading machine-translation data from disk: aligned text files, TSV and JSON Lines, checked
before training.

`read_parallel_text` returns the `(source, target)` pairs and a `ParallelDataReport`. Odd lines
never stop a read: they are dropped (or, for repeated pairs, kept) and counted, with up to
`MAX_EXAMPLES` examples naming the file and line, in the report; only data with nothing usable
at all, a missing path, or aligned files of different lengths is an error::

    data = read_parallel_text("multi30k_en_de/raw/train", "en", "de")   # train.en.gz + train.de.gz
    print(data.report.summary())
    x, y = data.sources(), data.targets()                               # list[str], list[str]
    test = read_parallel_text("newstest.en", "en", split="predict")     # sources only, targets ""

Layouts (detected from the path):

- "aligned": `path` is a prefix: line i of `PREFIX.<source_lang>` translates line i of
  `PREFIX.<target_lang>` (Moses / Multi30k / WMT style), either file optionally gzipped
  (`PREFIX.en.gz`). Both language codes are needed. `path` may also name one of the two files
  (`train.en.gz`), or a folder holding `<split>.<lang>` files (`val.en`, `val.de`: the split's
  name or an alias of `pipelines.splits.SPLIT_NAMES`).
- "tsv" (`.tsv`, or `.txt` with a tab in its first line): `source<TAB>target` per line, read
  without quoting (`csv.QUOTE_NONE`). A first row whose cells name the source and target columns
  (`source_column`/`target_column`, else the language codes, else `source`/`target` or
  `src`/`tgt`; case-insensitive) is a header, and those columns are read; otherwise there is no
  header and columns 1 and 2 are the source and target.
- "jsonl" (`.jsonl`, `.ndjson`, or `.json` with one object per line): the keys `source_column`/
  `target_column`, else the language codes, else `source`/`target` (or `src`/`tgt`); a Hugging
  Face style `{"translation": {"en": ..., "de": ...}}` object is read with the language codes.
- "text" (`split="predict"` only): any other file, one source per line.

A folder holding `<split>.tsv`, `<split>.jsonl` (...) is read like the file. Every file may be
gzip-compressed (`.tsv.gz`, `.jsonl.gz`). Lines end at `\\n` only (a trailing `\\r` is
removed), so `\\f`, `\\x1c` or `\\u2028` inside a sentence do not break the alignment.

This module does not import TensorFlow, so that reading and checking a dataset stays fast.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import logging
import os
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from tfapps.apps.errors import DataError, InvalidArgumentError, NotFoundError
from tfapps.pipelines.dataset_files import IssueTally, count_noun, describe_path, issue_lines
from tfapps.pipelines.splits import SPLIT_NAMES, canonical_split
from tfapps.pipelines.text_files import checked_utf8_bytes, json_object_or_reason, utf8_lines

__all__ = [
    "LAYOUTS",
    "MAX_EXAMPLES",
    "SOURCE_COLUMNS",
    "SPLITS",
    "TARGET_COLUMNS",
    "ParallelDataReport",
    "ParallelDataset",
    "TranslationPair",
    "read_parallel_text",
]

logger = logging.getLogger(__name__)

LAYOUTS = ("aligned", "tsv", "jsonl", "text")
SPLITS = ("train", "val", "test", "predict")
# Column (JSON key) names that mean the source and target sides when no column or language is given.
SOURCE_COLUMNS = ("source", "src")
TARGET_COLUMNS = ("target", "tgt")
MAX_EXAMPLES = 5

_TABLE_SUFFIXES = {".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
_HINT = (
    "the prefix of aligned files PREFIX.<source_lang> and PREFIX.<target_lang> (optionally .gz; e.g. "
    "data/train for data/train.en.gz and data/train.de.gz), a folder holding such files for each split, "
    "a TSV file (.tsv, or .txt with tabs) of source<TAB>target lines, or a JSON Lines file (.jsonl) of "
    "objects with the source and target strings"
)
_LANGS_HINT = (
    "set data.source_lang and data.target_lang (source_lang= and target_lang=) to the language codes"
)

# (report field, what it counts), in the order `summary()` lists them.
_ISSUES = (
    ("invalid_utf8", "lines that are not valid UTF-8 (their pair dropped)"),
    ("bad_rows", "TSV rows with the wrong number of columns or that cannot be read (dropped)"),
    ("bad_json", "JSON lines that are not an object holding the source and target strings (dropped)"),
    ("empty_pairs", "pairs with an empty or whitespace-only source or target (dropped)"),
    ("too_long", "pairs with a side longer than max_length characters (dropped)"),
    ("duplicate_pairs", "pairs that repeat an earlier pair (kept)"),
)


# --------------------------------------------------------------------------------- public types


@dataclasses.dataclass(frozen=True, slots=True)
class TranslationPair:
    """One sentence and its translation.

    Attributes:
        source: the source text, stripped of surrounding whitespace; otherwise as in the file
            (case, punctuation and inner whitespace kept, for comparison with raw references).
        target: the target text, likewise; "" when targets were not read (`split="predict"`).
        origin: where it came from, for messages: "train.tsv:12" (file name and 1-based line), or
            "train.en.gz:12 / train.de.gz:12" for aligned files.
    """

    source: str
    target: str
    origin: str


@dataclasses.dataclass(frozen=True)
class ParallelDataReport:
    """What reading parallel text found: its size and every odd case, with examples.

    Examples name the file and line ("train.tsv:12", "train.en.gz:3 / train.de.gz:3").

    Attributes:
        source: the path read: the prefix of aligned files, the file, or the folder.
        layout: "aligned", "tsv", "jsonl" or "text".
        split: the split whose files were picked from a folder, or None when `path` named them.
        files: the names of the files read (source side first for aligned files).
        source_lang, target_lang: the language codes given ("" when not).
        source_column, target_column: the TSV column or JSON key read ("translation.en" inside a
            Hugging Face translation object); "" for aligned and text files, a TSV file without a
            header row (columns 1 and 2), or the target of `split="predict"`.
        pairs_read: lines (aligned, text) or non-blank rows (TSV, JSON Lines) read.
        pairs_kept: pairs kept.
        targets_read: whether targets were read (False for `split="predict"`).
        max_length: the longest side allowed, in characters; 0 for no limit.
        invalid_utf8, bad_rows, ...: the odd-case counts listed by `issues()`.
        examples: up to `MAX_EXAMPLES` descriptions per non-zero count.
    """

    source: str
    layout: str
    split: str | None
    files: tuple[str, ...]
    pairs_read: int
    pairs_kept: int
    source_lang: str = ""
    target_lang: str = ""
    source_column: str = ""
    target_column: str = ""
    targets_read: bool = True
    max_length: int = 0
    invalid_utf8: int = 0
    bad_rows: int = 0
    bad_json: int = 0
    empty_pairs: int = 0
    too_long: int = 0
    duplicate_pairs: int = 0
    examples: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def issues(self) -> dict[str, int]:
        """The non-zero odd-case counts by field name, in report order."""
        return {name: getattr(self, name) for name, _ in _ISSUES if getattr(self, name)}

    def summary(self) -> str:
        """A few readable lines: totals, where each side came from, then each odd case with examples."""
        split = f" (split '{self.split}')" if self.split else ""
        head = f"{self.layout} parallel data from {self.source}{split}: "
        if self.targets_read:
            head += f"{count_noun(self.pairs_kept, 'pair')} kept of {self.pairs_read} read."
        else:
            head += (
                f"{count_noun(self.pairs_kept, 'source')} kept of {self.pairs_read} read, "
                f"targets not read (split 'predict')."
            )
        sides = f"Source: {self._side(0)}"
        if self.targets_read:
            sides += f"; target: {self._side(1)}"
        lines = [head, sides + "."]
        if self.max_length:
            lines.append(f"Longest side allowed: {count_noun(self.max_length, 'character')}.")
        lines += issue_lines(self.issues(), _ISSUES, self.examples)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy: plain dicts, lists, strings, numbers and booleans."""
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        data["files"] = list(self.files)
        data["examples"] = {name: list(examples) for name, examples in self.examples.items()}
        return data

    def _side(self, index: int) -> str:
        """How one side was read, e.g. "'en' from train.en.gz" or "column 'de'"."""
        lang = (self.source_lang, self.target_lang)[index]
        column = (self.source_column, self.target_column)[index]
        parts = [f"'{lang}'"] if lang else []
        if self.layout == "aligned" and index < len(self.files):
            parts.append(f"from {self.files[index]}")
        elif self.layout == "tsv":
            parts.append(f"column '{column}'" if column else f"column {index + 1} (no header row)")
        elif self.layout == "jsonl":
            parts.append(f"key '{column}'")
        elif self.layout == "text":
            # The language given does not pick the file here: name the file instead.
            parts = [f"each line of {self.files[0]}"]
        return " ".join(parts)


@dataclasses.dataclass(frozen=True)
class ParallelDataset:
    """Parallel text read from disk.

    Attributes:
        pairs: one pair per usable line or row, in file order.
        layout: "aligned", "tsv", "jsonl" or "text".
        report: the counts and examples of odd cases.
    """

    pairs: list[TranslationPair]
    layout: str
    report: ParallelDataReport

    def __len__(self) -> int:
        return len(self.pairs)

    def sources(self) -> list[str]:
        """The pairs' source texts, in pair order."""
        return [pair.source for pair in self.pairs]

    def targets(self) -> list[str]:
        """The pairs' target texts, in pair order ("" each for `split="predict"`)."""
        return [pair.target for pair in self.pairs]


# ----------------------------------------------------------------------------- public function


def read_parallel_text(
    path: str | os.PathLike[str],
    source_lang: str = "",
    target_lang: str = "",
    source_column: str = "",
    target_column: str = "",
    split: str = "train",
    max_length: int = 0,
) -> ParallelDataset:
    """Read parallel text (source sentences and their translations) and check every pair once.

    Args:
        path: the prefix of aligned files (`data/train` for `data/train.en.gz` and
            `data/train.de.gz`) or one of them, a folder holding `<split>.<lang>` (or
            `<split>.tsv`, `<split>.jsonl`) files, a `.tsv` (or tab-separated `.txt`) file, or a
            `.jsonl` (or line-per-object `.json`) file; any file may be gzipped. With
            `split="predict"`, also a plain text file of one source per line.
        source_lang: the source language code: the suffix of aligned files, and a column (JSON
            key) name to look for. Needed for aligned files.
        target_lang: the target language code, likewise. Needed for aligned files, except with
            `split="predict"`.
        source_column: the TSV header cell or JSON key holding the sources; "" picks
            `source_lang`, else the first of `SOURCE_COLUMNS` present. A TSV file needs a header
            row for a named column.
        target_column: the same for the targets (`TARGET_COLUMNS`).
        split: "train", "val" or "test" (or an alias: "validation", "valid", "dev", "training",
            "testing") picks the files of a folder; a file or prefix is read whole for any split.
            "predict" reads sources only (targets are ""), and a folder's test files.
        max_length: drop (and report) pairs with a side longer than this many characters; 0
            keeps every length.

    Returns:
        The `ParallelDataset`.

    Raises:
        NotFoundError: `path` does not exist and no aligned file starts with it, an aligned file
            of the pair is missing, a folder has no files for `split`, or a named column or key
            does not exist.
        InvalidArgumentError: a bad argument, aligned files without both language codes, or a
            file of an unsupported kind.
        DataError: aligned files with different numbers of lines, nothing usable at all (the
            message holds the report's summary), no source or target key to pick in a JSON Lines
            file, or a file that is not UTF-8 or gzip.

    Example:
        >>> data = read_parallel_text("multi30k_en_de/raw/train", "en", "de")
        >>> len(data), data.pairs[0].source, data.pairs[0].origin
        (29000, 'Two young, White males are outside near many bushes.', 'train.en.gz:1 / train.de.gz:1')
    """
    split = canonical_split(split)
    options = _Options(
        source_lang=_checked_name("source_lang", source_lang, lang=True),
        target_lang=_checked_name("target_lang", target_lang, lang=True),
        source_column=_checked_name("source_column", source_column),
        target_column=_checked_name("target_column", target_column),
        targets=split != "predict",
        max_length=_checked_max_length(max_length),
    )
    for first, second in (("source_lang", "target_lang"), ("source_column", "target_column")):
        value = getattr(options, first)
        if value and value.lower() == getattr(options, second).lower():
            raise InvalidArgumentError(
                f"{first} and {second} must differ. Received: {first}='{value}', "
                f"{second}='{getattr(options, second)}'"
            )
    located = _locate(path, split, options)
    tally = _Tally()
    if located.layout == "aligned":
        rows, read, columns = _aligned_rows(located.files, tally, options), None, ("", "")
    elif located.layout == "tsv":
        rows, read, columns = _tsv_rows(located.files[0], tally, options)
    elif located.layout == "jsonl":
        rows, read, columns = _jsonl_rows(located.files[0], tally, options)
    else:
        rows, read, columns = _text_rows(located.files[0], tally), None, ("", "")
    pairs = _checked_pairs(rows, tally, options)
    report = tally.report(
        source=str(located.root),
        layout=located.layout,
        split=located.split,
        files=tuple(file.name for file in located.files),
        pairs_read=len(rows) + tally.dropped if read is None else read,
        pairs_kept=len(pairs),
        source_lang=options.source_lang,
        target_lang=options.target_lang,
        source_column=columns[0],
        target_column=columns[1],
        targets_read=options.targets,
        max_length=options.max_length,
    )
    if not pairs:
        raise DataError(
            f"No usable translation pair in the parallel data. Expected {_HINT}. "
            f"Received: path='{path}'\n{report.summary()}"
        )
    logger.info("%s", report.summary())
    return ParallelDataset(pairs, located.layout, report)


# --------------------------------------------------------------------------------------- tally


class _Tally(IssueTally):
    """Counts and examples of odd cases, gathered while reading files."""

    def __init__(self) -> None:
        super().__init__(MAX_EXAMPLES)
        # Lines of aligned and text files dropped before they became rows (invalid UTF-8).
        self.dropped = 0

    def report(self, **fields: Any) -> ParallelDataReport:
        return ParallelDataReport(
            examples={name: tuple(self.examples[name]) for name, _ in _ISSUES if self.examples[name]},
            **{name: self.counts[name] for name, _ in _ISSUES},
            **fields,
        )


class _Options(NamedTuple):
    source_lang: str
    target_lang: str
    source_column: str
    target_column: str
    targets: bool
    max_length: int


class _Located(NamedTuple):
    root: Path
    layout: str
    files: tuple[Path, ...]
    split: str | None


# A pair as read, before the checks every layout shares: `(origin, source, target)`, stripped.
# A plain tuple: a named one costs a noticeable share of reading a large file.
_Row = tuple[str, str, str]


# ------------------------------------------------------------------------------- shared checks


def _checked_pairs(rows: Sequence[_Row], tally: _Tally, options: _Options) -> list[TranslationPair]:
    """The pairs of `rows` that have both sides and fit `max_length`; repeats noted and kept."""
    limit = options.max_length
    seen: dict[tuple[str, str], str] = {}
    pairs = []
    for origin, source, target in rows:
        sides = (("source", source), ("target", target)) if options.targets else (("source", source),)
        empty = [side for side, text in sides if not text]
        if empty:
            tally.note("empty_pairs", f"{origin}: empty {' and '.join(empty)}")
            continue
        long = [f"{side} {len(text)}" for side, text in sides if len(text) > limit] if limit else []
        if long:
            tally.note("too_long", f"{origin}: {', '.join(long)} characters")
            continue
        earlier = seen.setdefault((source, target), origin)
        if earlier is not origin:
            tally.note("duplicate_pairs", f"{origin} repeats {earlier}")
        pairs.append(TranslationPair(source, target, origin))
    return pairs


# ----------------------------------------------------------------------------- reading files


def _file_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when it is gzip (by its magic bytes, whatever its suffix)."""
    data = path.read_bytes()
    if data.startswith(b"\x1f\x8b"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise DataError(
                f"{path.name} is not a readable gzip file ({type(error).__name__}: {error}). Expected a "
                f"complete gzip file, or plain UTF-8 text. Received: path='{path}'"
            ) from error
    return checked_utf8_bytes(data, path)


def _decoded_lines(path: Path, tally: _Tally) -> list[str | None]:
    """The file's lines (`utf8_lines`), decompressed when gzipped."""
    return utf8_lines(_file_bytes(path), path.name, tally)


def _aligned_rows(files: Sequence[Path], tally: _Tally, options: _Options) -> list[_Row]:
    """Line i of the source file with line i of the target file (sources only for predict)."""
    if not options.targets:
        return _text_rows(files[0], tally)
    source_file, target_file = files
    sources = _decoded_lines(source_file, tally)
    targets = _decoded_lines(target_file, tally)
    if len(sources) != len(targets):
        raise DataError(
            f"The aligned files have different numbers of lines: {source_file.name} has "
            f"{len(sources)}, {target_file.name} has {len(targets)}. Expected the same number of lines, "
            f"line i of one translating line i of the other; nothing was read. Received: "
            f"source file='{source_file}' ({len(sources)} lines), target file='{target_file}' "
            f"({len(targets)} lines)"
        )
    a, b = source_file.name, target_file.name
    rows = []
    for number, (source, target) in enumerate(zip(sources, targets, strict=True), 1):
        if source is None or target is None:
            tally.dropped += 1
            continue
        rows.append((f"{a}:{number} / {b}:{number}", source.strip(), target.strip()))
    return rows


def _text_rows(file: Path, tally: _Tally) -> list[_Row]:
    """One source per line, targets "" (`split="predict"`)."""
    rows = []
    for number, line in enumerate(_decoded_lines(file, tally), 1):
        if line is None:
            tally.dropped += 1
        else:
            rows.append((f"{file.name}:{number}", line.strip(), ""))
    return rows


def _tsv_rows(file: Path, tally: _Tally, options: _Options) -> tuple[list[_Row], int, tuple[str, str]]:
    """The rows of a TSV file, the number of rows read, and the header cells of the columns read."""
    # A line of whitespace without a tab is blank (skipped); "\t" alone is a row of two empty cells.
    entries = [
        (number, line)
        for number, line in enumerate(_decoded_lines(file, tally), 1)
        if line is not None and (line.strip() or "\t" in line)
    ]
    read = len(entries) + tally.counts["invalid_utf8"]
    lines = iter(line for _, line in entries)
    # No quoting: parallel corpora hold unbalanced `"` characters; fields are split at tabs only.
    reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    # `(origin, fields)`, or `(origin, why the row cannot be read)`.
    table: list[tuple[str, list[str] | str]] = []
    for number, _ in entries:
        try:
            fields: list[str] | str = next(reader)
        except csv.Error as error:
            # The csv module's advice for a lone \r (universal-newline mode) does not apply here.
            reason = str(error)
            fields = "a carriage return (\\r) inside the row" if "new-line character" in reason else reason
        table.append((f"{file.name}:{number}", fields))
    first = next((fields for _, fields in table if isinstance(fields, list)), None)
    if first is None:
        for origin, reason in table:
            tally.note("bad_rows", f"{origin}: {reason}")
        return [], read, ("", "")
    header = _tsv_header(first, options)
    if header is None:
        _check_no_named_columns(file, first, options)
        need = 2 if options.targets else 1
        # Without a header the usual width is the expected one (Tatoeba's files have a third column).
        widths = Counter(
            len(fields) for _, fields in table if isinstance(fields, list) and len(fields) >= need
        )
        width = max(widths, key=lambda w: (widths[w], -w)) if widths else need
        source_index, target_index, names = 0, 1, ("", "")
    else:
        source_index, target_index = header
        width = len(first)
        cells = [cell.strip() for cell in first]
        names = (cells[source_index], "" if target_index is None else cells[target_index])
        table = [(origin, fields) for origin, fields in table if fields is not first]
        read -= 1
    rows = []
    for origin, fields in table:
        if isinstance(fields, str):
            tally.note("bad_rows", f"{origin}: {fields}")
            continue
        if len(fields) != width:
            tally.note("bad_rows", f"{origin}: {count_noun(len(fields), 'column')}, expected {width}")
            continue
        target = fields[target_index].strip() if options.targets and target_index is not None else ""
        rows.append((origin, fields[source_index].strip(), target))
    return rows, read, names


def _candidates(options: _Options, side: int) -> list[str]:
    """Column (key) names that mean one side, in the order they are looked for."""
    column = (options.source_column, options.target_column)[side]
    if column:
        return [column]
    lang = (options.source_lang, options.target_lang)[side]
    return [*([lang] if lang else []), *(SOURCE_COLUMNS, TARGET_COLUMNS)[side]]


def _tsv_header(cells: Sequence[str], options: _Options) -> tuple[int, int | None] | None:
    """`(source index, target index)` when `cells` are a header row naming both sides (the source
    only for predict), else None."""
    lowered = [cell.strip().lower() for cell in cells]

    def find(side: int, skip: int | None = None) -> int | None:
        for name in _candidates(options, side):
            for i, cell in enumerate(lowered):
                if cell == name.lower() and i != skip:
                    return i
        return None

    source = find(0)
    if source is None:
        return None
    target = find(1, skip=source)
    if target is None and options.targets:
        return None
    return source, target


def _check_no_named_columns(file: Path, cells: Sequence[str], options: _Options) -> None:
    """A named column needs a header row: raise when one was named but the first row is not a header."""
    named = [
        (argument, value)
        for argument, value in (
            ("source_column", options.source_column),
            ("target_column", options.target_column),
        )
        if value and (argument == "source_column" or options.targets)
    ]
    if not named:
        return
    first = ", ".join(f"'{cell}'" for cell in cells)
    looked = "; ".join(
        f"{side} {' or '.join(repr(name) for name in _candidates(options, i))}"
        for i, side in enumerate(("source", "target")[: 2 if options.targets else 1])
    )
    raise NotFoundError(
        f"{file.name} has no header row naming the columns to read: its first row is {first}, and the "
        f"columns looked for are {looked}. Expected a header row holding the named columns, or no "
        f"source_column and target_column to read columns 1 and 2. Received: "
        + ", ".join(f"{argument}='{value}'" for argument, value in named)
    )


def _jsonl_rows(file: Path, tally: _Tally, options: _Options) -> tuple[list[_Row], int, tuple[str, str]]:
    """The rows of a JSON Lines file, the number of lines read, and the keys read."""
    objects: list[tuple[str, dict[str, Any]]] = []
    read = 0
    for number, line in enumerate(_decoded_lines(file, tally), 1):
        if line is not None and not line.strip():
            continue
        read += 1
        if line is None:
            continue
        origin = f"{file.name}:{number}"
        value = json_object_or_reason(line)
        if isinstance(value, str):
            tally.note("bad_json", f"{origin}: {value}")
            continue
        objects.append((origin, value))
    if not objects:
        return [], read, ("", "")
    source_key = _json_key(file, objects, options, 0)
    target_key = _json_key(file, objects, options, 1) if options.targets else None
    rows = []
    for origin, item in objects:
        source = _json_text(item, source_key)
        target = "" if target_key is None else _json_text(item, target_key)
        if isinstance(source, _Problem) or isinstance(target, _Problem):
            problem = source if isinstance(source, _Problem) else target
            tally.note("bad_json", f"{origin}: {problem}")
            continue
        rows.append((origin, source.strip(), target.strip()))
    names = (_key_name(source_key), "" if target_key is None else _key_name(target_key))
    return rows, read, names


class _Problem(str):
    """Why a JSON object lacks one side's text (a str subclass, told apart from a text by its type)."""

    __slots__ = ()


# A JSON key: `(name, nested)`, nested meaning inside the object's "translation" object.
_Key = tuple[str, bool]


def _key_name(key: _Key) -> str:
    return f"translation.{key[0]}" if key[1] else key[0]


def _json_text(item: dict[str, Any], key: _Key) -> str | _Problem:
    name, nested = key
    holder = item.get("translation") if nested else item
    if not isinstance(holder, dict) or name not in holder:
        return _Problem(f"no '{_key_name(key)}' key")
    value = holder[name]
    if not isinstance(value, str):
        kind = "null" if value is None else f"a JSON {type(value).__name__}"
        return _Problem(f"'{_key_name(key)}' is {kind}, expected a string")
    return value


def _json_key(
    file: Path, objects: Sequence[tuple[str, dict[str, Any]]], options: _Options, side: int
) -> _Key:
    """The key holding one side: the first candidate name among the objects' keys (exactly, then
    case-insensitively), top-level keys before those of a Hugging Face "translation" object."""
    top: dict[str, None] = {}
    nested: dict[str, None] = {}
    for _, item in objects:
        top.update(dict.fromkeys(item))
        if isinstance(item.get("translation"), dict):
            nested.update(dict.fromkeys(item["translation"]))
    candidates = _candidates(options, side)
    for fold in (False, True):
        for name in candidates:
            for keys, is_nested in ((top, False), (nested, True)):
                match = next(
                    (key for key in keys if (key.lower() == name.lower() if fold else key == name)), None
                )
                if match is not None:
                    return match, is_nested
    found = ", ".join(f"'{key}'" for key in top) or "none"
    if nested:
        found += f" (its translation objects hold {', '.join(repr(key) for key in nested)})"
    argument = ("source_column", "target_column")[side]
    column = getattr(options, argument)
    if column:
        raise NotFoundError(
            f"{file.name} has no key '{column}'; its objects' keys are {found}. Expected {argument} to name "
            f"one of them, or '' to pick it automatically. Received: {argument}='{column}'"
        )
    lang_argument = ("source_lang", "target_lang")[side]
    side_name = ("source", "target")[side]
    default = (SOURCE_COLUMNS, TARGET_COLUMNS)[side][0]
    raise DataError(
        f"Cannot tell which key of {file.name} holds the {side_name} texts; its objects' keys are {found}. "
        f"Expected data.{argument} naming one, the {side_name} language code as a key or inside a "
        f"Hugging Face 'translation' object (data.{lang_argument}), or a '{default}' key. Received: "
        f"path='{file}', {lang_argument}='{getattr(options, lang_argument)}', {argument}='{column}'"
    )


# ------------------------------------------------------------------------------- locating files


def _gz(path: Path) -> list[Path]:
    """`path`, then `path.gz`."""
    return [path, path.with_name(path.name + ".gz")]


def _first_file(candidates: Sequence[Path]) -> Path | None:
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def _inner_suffix(path: Path) -> str:
    """The suffix under a `.gz`: ".tsv" for `train.tsv.gz`, ".en" for `train.en`."""
    name = path.name.lower().removesuffix(".gz")
    return Path(name).suffix


def _siblings(prefix: Path) -> list[str]:
    """Names of the files `PREFIX.*` beside `prefix`."""
    if not prefix.parent.is_dir():
        return []
    start = prefix.name + "."
    return sorted(p.name for p in prefix.parent.iterdir() if p.name.startswith(start) and p.is_file())


def _listed(names: Sequence[str]) -> str:
    more = f" and {len(names) - 10} more" if len(names) > 10 else ""
    return ", ".join(names[:10]) + more


def _locate(path: str | os.PathLike[str], split: str, options: _Options) -> _Located:
    """The layout and the files to read for `path`."""
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise InvalidArgumentError(f"No parallel data path given. Expected {_HINT}. Received: path={path!r}")
    # abspath, not resolve(): normalises `..` but keeps the symlinked names a user typed.
    root = Path(os.path.abspath(Path(path).expanduser()))
    langs = (options.source_lang, options.target_lang)
    if root.is_dir():
        return _locate_in_folder(root, split, options)
    if root.is_file():
        inner = _inner_suffix(root)
        layout = _TABLE_SUFFIXES.get(inner)
        if inner == ".txt" and not _first_line_has_tab(root):
            if not options.targets:
                return _Located(root, "text", (root,), None)
            raise InvalidArgumentError(
                f"The parallel data path is a '.txt' file without a tab in its first line, so not a TSV file "
                f"of source<TAB>target lines. Expected {_HINT}; or split='predict' to read one source per "
                f"line. Received: path='{path}'"
            )
        if layout is not None:
            return _Located(root, layout, (root,), None)
        if not options.targets:
            return _Located(root, "text", (root,), None)
        lang = inner[1:]
        base = root.name[: -len(".gz")] if root.name.lower().endswith(".gz") else root.name
        prefix = root.with_name(base[: len(base) - len(inner)])
        named = lang and lang in (options.source_lang.lower(), options.target_lang.lower())
        if named or (lang and not all(langs) and len(_siblings(prefix)) >= 2):
            # One file of an aligned pair (`train.en.gz`): read the pair, or say which codes it needs.
            return _Located(prefix, "aligned", _aligned_files(prefix, path, options), None)
        raise InvalidArgumentError(
            f"The parallel data path is a file with suffix '{inner}' that is neither TSV nor JSON Lines, nor "
            f"one of aligned files .<source_lang> and .<target_lang>. Expected {_HINT}; for aligned files, "
            f"{_LANGS_HINT}. Received: path='{path}', source_lang='{options.source_lang}', "
            f"target_lang='{options.target_lang}'"
        )
    return _Located(root, "aligned", _aligned_files(root, path, options), None)


def _first_line_has_tab(path: Path) -> bool:
    with path.open("rb") as file:
        compressed = file.read(2) == b"\x1f\x8b"
    try:
        with gzip.open(path, "rb") if compressed else path.open("rb") as file:
            return b"\t" in file.readline()
    except (OSError, EOFError, zlib.error):
        # Not a readable gzip file: reading it as TSV says so.
        return True


def _aligned_files(prefix: Path, path: str | os.PathLike[str], options: _Options) -> tuple[Path, ...]:
    """`(PREFIX.<source_lang>[.gz], PREFIX.<target_lang>[.gz])` (the source file only for predict)."""
    langs = [options.source_lang, options.target_lang] if options.targets else [options.source_lang]
    found = _siblings(prefix)
    received = (
        f"Received: path='{path}', source_lang='{options.source_lang}', target_lang='{options.target_lang}'"
    )
    if not all(langs):
        if not found:
            raise NotFoundError(
                f"The parallel data path does not exist, and no aligned file {prefix.name}.<lang>[.gz] "
                f"is beside it in {prefix.parent}. Expected {_HINT}. Received: path='{path}'"
            )
        raise InvalidArgumentError(
            f"Aligned files start with {prefix.name} ({_listed(found)}), and reading them needs "
            f"{_needed(options)}, but {_unset(options)} not set. Expected the codes that end the file names: "
            f"{_LANGS_HINT}. {received}"
        )
    files = []
    for lang in langs:
        candidates = _gz(prefix.with_name(f"{prefix.name}.{lang}"))
        file = _first_file(candidates)
        if file is None:
            tried = " or ".join(candidate.name for candidate in candidates)
            beside = (
                f"beside it are {_listed(found)}"
                if found
                else f"{prefix.parent} holds no {prefix.name}.* file"
            )
            raise NotFoundError(
                f"No aligned file for language '{lang}': looked for {tried} in {prefix.parent}; {beside}. "
                f"Expected {_HINT}. {received}"
            )
        files.append(file)
    return tuple(files)


def _needed(options: _Options) -> str:
    return "both language codes" if options.targets else "the source language code"


def _unset(options: _Options) -> str:
    """The codes needed but not set, for messages: "data.target_lang is", "data.source_lang and ... are"."""
    langs = (("source_lang", options.source_lang), ("target_lang", options.target_lang))
    unset = [f"data.{name}" for name, lang in langs[: 2 if options.targets else 1] if not lang]
    return f"{' and '.join(unset)} {'is' if len(unset) == 1 else 'are'}"


def _locate_in_folder(folder: Path, split: str, options: _Options) -> _Located:
    """The files of `split` in a folder: aligned `<split>.<lang>` files, or a `<split>.tsv` (...) file."""
    # Sentences to translate are the held-out ones.
    applied = "test" if split == "predict" else split
    langs = [options.source_lang, options.target_lang] if options.targets else [options.source_lang]
    table_suffixes = [".tsv", ".jsonl", ".ndjson", ".json", ".txt"]
    tried = []
    for name in SPLIT_NAMES[applied]:
        prefix = folder / name
        if all(langs) and _first_file(_gz(folder / f"{name}.{langs[0]}")) is not None:
            return _Located(prefix, "aligned", _aligned_files(prefix, prefix, options), applied)
        for suffix in table_suffixes:
            file = _first_file(_gz(folder / f"{name}{suffix}"))
            if file is not None:
                located = _locate(file, split, options)
                return located._replace(split=applied)
        tried.append(name)
    aligned = [
        name
        for name in sorted(p.name for p in folder.iterdir() if p.is_file())
        if name.split(".", 1)[0].lower() in SPLIT_NAMES[applied]
        and _inner_suffix(Path(name)) not in table_suffixes
    ]
    if aligned and not all(langs):
        raise InvalidArgumentError(
            f"The parallel data folder holds aligned files for split '{applied}' ({_listed(aligned)}), and "
            f"reading them needs {_needed(options)}, but {_unset(options)} not set. Expected the codes "
            f"that end the file names: {_LANGS_HINT}. Received: path='{folder}', split='{split}', "
            f"source_lang='{options.source_lang}', target_lang='{options.target_lang}'"
        )
    if all(langs):
        looked = ", ".join(f"{name}.{langs[0]}[.gz]" for name in tried)
    else:
        looked = ", ".join(f"{name}.<lang>[.gz]" for name in tried)
    prefixes = Counter(
        Path(name.removesuffix(".gz")).stem
        for name in (p.name for p in folder.iterdir() if p.is_file())
        if _inner_suffix(Path(name)) not in table_suffixes
    )
    pairs = sorted(prefix for prefix, count in prefixes.items() if count >= 2)
    hint = (
        f" Aligned files here start with {_listed(pairs)}: to read one, pass its prefix as the path "
        f"(e.g. {folder / pairs[0]})."
        if pairs
        else ""
    )
    raise NotFoundError(
        f"The parallel data folder has no '{applied}' split files: looked for {looked}, and "
        f"{', '.join(tried)} with suffix {', '.join(suffix + '[.gz]' for suffix in table_suffixes)}; found "
        f"{describe_path(folder)}.{hint} Expected {_HINT}. Received: path='{folder}', split='{split}', "
        f"source_lang='{options.source_lang}'"
    )


# ----------------------------------------------------------------------------------- arguments


def _checked_name(argument: str, value: str, lang: bool = False) -> str:
    """A language code or column name, stripped ("" when not given)."""
    if not isinstance(value, str):
        what = "a language code such as 'en'" if lang else "a column (JSON key) name"
        raise InvalidArgumentError(f"{argument} must be {what}, or ''. Received: {argument}={value!r}")
    value = value.strip()
    if lang and value and (value.startswith(".") or any(c in value for c in "/\\") or len(value.split()) > 1):
        raise InvalidArgumentError(
            f"{argument} must be a language code such as 'en': the suffix of aligned files, without dots, "
            f"slashes or spaces. Received: {argument}={value!r}"
        )
    return value


def _checked_max_length(max_length: int) -> int:
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 0:
        raise InvalidArgumentError(
            f"max_length must be a whole number of characters, or 0 for no limit. "
            f"Received: max_length={max_length!r}"
        )
    return max_length
