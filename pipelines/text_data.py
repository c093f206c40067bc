"""Reading text-classification datasets from disk: CSV, TSV, JSON Lines and class folders of
`.txt` files, checked before training.

`read_text_dataset` returns the texts, their labels and a `TextDataReport`. Odd rows and files
never stop a read: they are dropped (or, for repeated texts, kept) and counted, with up to
`MAX_EXAMPLES` examples naming the file and line, in the report; only a dataset with nothing
usable at all, or a missing path or column, is an error::

    data = read_text_dataset("sst2/train.tsv")                 # GLUE's `sentence<TAB>label`
    print(data.report.summary())
    dev = read_text_dataset("sst2/dev.tsv", class_names=data.class_names)
    x, y = dev.texts(), dev.label_matrix()                     # list[str], float32 [N, K]

Layouts (detected from the path):

- "csv" (`.csv`) and "tsv" (`.tsv`, or `.txt` with a tab in its first line): a header row, then
  one text per row. CSV uses the usual double-quote quoting; TSV is read without quoting
  (`csv.QUOTE_NONE`), because GLUE's TSV files are not quoted yet hold `"` characters.
- "jsonl" (`.jsonl`, `.ndjson`, or `.json` with one object per line): the columns are the
  objects' keys; a label may be a string, an integer or (multi-label) a list.
- "folders": one sub-folder per class of UTF-8 `.txt` files (one text per file, searched
  recursively). A split layout (`train/`, `val/`, `test/`: the folder names of
  `pipelines.splits.SPLIT_NAMES`) is read from its `split` sub-folder.

Columns: an empty `text_column` picks the first of `TEXT_COLUMNS` present (case-insensitive), else
the only column that is not the label column; an empty `label_column` picks the first of
`LABEL_COLUMNS` present. Class names are the sorted label strings (numerically sorted when all are
integers: "2" before "10") unless `class_names` is given; then labels outside it are reported as
unknown, which is how a validation file with a class the training file lacks shows up.

This module imports neither TensorFlow nor `pipelines.reader` (which does), so that reading and
checking a dataset stays fast: the helpers it shares with the other readers come from the
TensorFlow-free `pipelines.dataset_files`, `pipelines.splits` and `pipelines.text_files`.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from tfapps.apps.errors import DataError, InvalidArgumentError, NotFoundError
from tfapps.pipelines.dataset_files import (
    IssueTally,
    checked_class_names,
    count_noun,
    describe_path,
    issue_lines,
)
from tfapps.pipelines.splits import SPLIT_NAMES, canonical_split
from tfapps.pipelines.text_files import checked_utf8_bytes, json_object_or_reason, utf8_error_reason

__all__ = [
    "LABEL_COLUMNS",
    "LAYOUTS",
    "MAX_EXAMPLES",
    "SPLITS",
    "TEXT_COLUMNS",
    "TextDataReport",
    "TextDataset",
    "TextRecord",
    "label_counts",
    "read_text_dataset",
]

logger = logging.getLogger(__name__)

LAYOUTS = ("csv", "tsv", "jsonl", "folders")
SPLITS = ("train", "val", "test", "predict")
TEXT_COLUMNS = ("text", "sentence", "review", "content", "document")
LABEL_COLUMNS = ("label", "labels", "category", "class", "sentiment", "target")
MAX_EXAMPLES = 5

_HINT = (
    "a CSV (.csv) or TSV (.tsv, or .txt with tabs) file with a header row, a JSON Lines file (.jsonl, or "
    ".json with one object per line), or a folder with one sub-folder per class of UTF-8 .txt files "
    "(optionally inside train/, val/, test/)"
)
_TABLE_HINT = (
    f"a header row naming a text column ({', '.join(TEXT_COLUMNS)}) and a label column "
    f"({', '.join(LABEL_COLUMNS)}), then one text per row"
)
_JSONL_HINT = (
    f"one JSON object per line, with a text key ({', '.join(TEXT_COLUMNS)}) and a label key "
    f"({', '.join(LABEL_COLUMNS)})"
)
_INTEGER = re.compile(r"-?[0-9]+")
# Beyond this many classes `summary()` lists the first ones only.
_SUMMARY_CLASSES = 20

# (report field, what it counts), in the order `summary()` lists them.
_ISSUES = (
    ("invalid_utf8", "lines or files that are not valid UTF-8 (dropped)"),
    (
        "bad_rows",
        "rows that cannot be read: wrong number of fields, not a JSON object, a missing key (dropped)",
    ),
    ("empty_texts", "empty or whitespace-only texts (dropped)"),
    ("empty_labels", "rows with an empty label (dropped)"),
    (
        "unknown_labels",
        "labels that are not a class (single-label: text dropped; multi-label: label dropped)",
    ),
    ("unsupported_files", "files in class folders that are not .txt (skipped)"),
    ("empty_classes", "classes without a text (kept)"),
    ("duplicate_texts", "texts that repeat an earlier text (kept)"),
)


# --------------------------------------------------------------------------------- public types


@dataclasses.dataclass(frozen=True)
class TextRecord:
    """One text and its labels.

    Attributes:
        text: the text, stripped of surrounding whitespace (Windows line endings inside it become `\\n`).
        labels: class ids, sorted: one for single-label data, any number (possibly none) for
            multi-label data, none when labels were not read (`split="predict"`).
        source: where it came from, for messages: "train.tsv:12" (file name and 1-based line of
            the row's start) or the `.txt` file's path.
    """

    text: str
    labels: tuple[int, ...]
    source: str


@dataclasses.dataclass(frozen=True)
class TextDataReport:
    """What reading a text dataset found: its size and every odd case, with examples.

    Examples name the file and line ("train.tsv:12") or the `.txt` file relative to the folder read.

    Attributes:
        source: the file or folder read.
        layout: "csv", "tsv", "jsonl" or "folders".
        split: the split folder read from a split layout, or None when the data has no split folders.
        records: texts kept.
        labelled: whether labels were read (False for `split="predict"`).
        multi_label: whether several labels per text were allowed.
        text_column: the column (or JSON key) the texts came from; "" for folders.
        label_column: the column (or JSON key) the labels came from; "" for folders or unlabelled data.
        class_counts: texts per class name (a multi-label text counts once per label); empty
            when labels were not read.
        invalid_utf8, bad_rows, ...: the odd-case counts listed by `issues()`.
        examples: up to `MAX_EXAMPLES` descriptions per non-zero count.
    """

    source: str
    layout: str
    split: str | None
    records: int
    labelled: bool = True
    multi_label: bool = False
    text_column: str = ""
    label_column: str = ""
    class_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    invalid_utf8: int = 0
    bad_rows: int = 0
    empty_texts: int = 0
    empty_labels: int = 0
    unknown_labels: int = 0
    unsupported_files: int = 0
    empty_classes: int = 0
    duplicate_texts: int = 0
    examples: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def issues(self) -> dict[str, int]:
        """The non-zero odd-case counts by field name, in report order."""
        return {name: getattr(self, name) for name, _ in _ISSUES if getattr(self, name)}

    def summary(self) -> str:
        """A few readable lines: totals, texts per class, then each odd case with examples."""
        split = f" (split '{self.split}')" if self.split else ""
        head = f"{self.layout} text data from {self.source}{split}: {count_noun(self.records, 'text')}"
        columns = []
        if self.text_column:
            columns.append(f"text column '{self.text_column}'")
        if self.label_column:
            columns.append(f"label column '{self.label_column}'")
        columns_text = f"; {', '.join(columns)}" if columns else ""
        if self.labelled:
            kind = "multi-label" if self.multi_label else "single-label"
            head += f", {count_noun(len(self.class_counts), 'class')}, {kind}{columns_text}."
        else:
            head += f", labels not read (split 'predict'){columns_text}."
        lines = [head]
        if self.class_counts:
            shown = list(self.class_counts.items())[:_SUMMARY_CLASSES]
            more = len(self.class_counts) - len(shown)
            lines.append(
                "Texts per class: "
                + ", ".join(f"{name}: {count}" for name, count in shown)
                + (f" and {more} more classes" if more else "")
                + "."
            )
        lines += issue_lines(self.issues(), _ISSUES, self.examples)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy: plain dicts, lists, strings, numbers and booleans."""
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        data["class_counts"] = dict(self.class_counts)
        data["examples"] = {name: list(examples) for name, examples in self.examples.items()}
        return data


@dataclasses.dataclass
class TextDataset:
    """A text-classification dataset read from disk.

    Attributes:
        records: one record per usable text, in file (or sorted folder) order.
        class_names: class names, indexed by the records' labels.
        multi_label: whether a text may have several labels (or none).
        layout: "csv", "tsv", "jsonl" or "folders".
        report: the counts and examples of odd cases.
    """

    records: list[TextRecord]
    class_names: tuple[str, ...]
    multi_label: bool
    layout: str
    report: TextDataReport

    def __len__(self) -> int:
        return len(self.records)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def texts(self) -> list[str]:
        """The records' texts, in record order."""
        return [record.text for record in self.records]

    def label_matrix(self) -> np.ndarray:
        """float32 `[N, K]` 0/1 targets: one-hot rows for single-label data, multi-hot for multi-label
        data (all-zero rows for texts without labels)."""
        matrix = np.zeros((len(self.records), len(self.class_names)), dtype=np.float32)
        rows = np.repeat(np.arange(len(self.records)), [len(record.labels) for record in self.records])
        columns = np.fromiter(
            (label for record in self.records for label in record.labels), dtype=np.int64, count=len(rows)
        )
        matrix[rows, columns] = 1.0
        return matrix


# ----------------------------------------------------------------------------- public functions


def read_text_dataset(
    path: str | Path,
    *,
    text_column: str = "",
    label_column: str = "",
    class_names: Sequence[str] | None = None,
    multi_label: bool = False,
    label_separator: str = "|",
    split: str = "train",
) -> TextDataset:
    """Read a text-classification dataset and check every text once.

    Args:
        path: a `.csv`, `.tsv` (or tab-separated `.txt`), `.jsonl` (or line-per-object `.json`)
            file, or a folder of class sub-folders of `.txt` files (optionally a split layout).
        text_column: the column (JSON key) holding the texts; "" picks the first of
            `TEXT_COLUMNS` present (case-insensitive), else the only non-label column.
        label_column: the column (JSON key) holding the labels; "" picks the first of
            `LABEL_COLUMNS` present (case-insensitive). Ignored by `split="predict"`.
        class_names: the class names in label order, usually the training set's. Labels outside
            it are reported as `unknown_labels` (a single-label text is then dropped, a multi-label
            text keeps its other labels); class folders outside it are not read. Default: the
            sorted labels found (numerically sorted when all are integers).
        multi_label: allow several labels per text, split on `label_separator` (or given as a
            JSON list); a text without labels is then valid.
        label_separator: what separates labels in a multi-label cell or string.
        split: "train", "val" or "test" (or an alias: "validation", "valid", "dev", "training",
            "testing") picks the split folder of a split layout; files are read whole for any
            split. "predict" reads texts only: labels are not read (a missing label column is
            then no error) and a split layout's test folder is read.

    Returns:
        The `TextDataset`.

    Raises:
        NotFoundError: `path`, a named column, or the split folder of a split layout does not exist.
        InvalidArgumentError: a bad argument, or a file of an unsupported kind.
        DataError: nothing usable at all, no label column outside `split="predict"`, no text
            column to pick, an empty file, or a header row that is not UTF-8.

    Example:
        >>> train = read_text_dataset("sst2_glue/train.tsv")
        >>> len(train), train.class_names, train.report.text_column
        (67349, ('0', '1'), 'sentence')
        >>> test = read_text_dataset("sst2_glue/test.tsv", split="predict", class_names=train.class_names)
        >>> test.records[0].labels
        ()
    """
    split = canonical_split(split)
    names = checked_class_names(class_names)
    for name, value in (("text_column", text_column), ("label_column", label_column)):
        if not isinstance(value, str):
            raise InvalidArgumentError(
                f"{name} must be a column name, or '' to pick it automatically. Received: {name}={value!r}"
            )
    if not isinstance(label_separator, str) or not label_separator:
        raise InvalidArgumentError(
            f"label_separator must be a non-empty string. Received: label_separator={label_separator!r}"
        )
    root = _existing_path(path)
    options = _Options(
        text_column=text_column.strip(),
        label_column=label_column.strip(),
        names=names,
        multi_label=bool(multi_label),
        separator=label_separator,
        labelled=split != "predict",
    )
    if root.is_file():
        dataset = _file_dataset(root, _file_layout(root, path), options)
    else:
        dataset = _folder_dataset(root, split, options)
    logger.info("%s", dataset.report.summary())
    return dataset


def label_counts(dataset: TextDataset) -> dict[str, int]:
    """Texts per class name, in class order (a multi-label text counts once for each of its labels).

    Args:
        dataset: a dataset from `read_text_dataset`.

    Returns:
        `{class name: count}`, zero for classes without a text.
    """
    counts = Counter(label for record in dataset.records for label in record.labels)
    return {name: counts[i] for i, name in enumerate(dataset.class_names)}


# --------------------------------------------------------------------------------------- tally


class _Tally(IssueTally):
    """Counts and examples of odd cases, gathered while reading files."""

    def __init__(self, root: Path):
        super().__init__(MAX_EXAMPLES)
        self.root = root

    def name(self, path: Path) -> str:
        """The path relative to the folder read, where it is inside it."""
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)

    def where(self, source: str) -> str:
        """A record's source for an example: a `.txt` path relative to the folder read; "file:line" as is."""
        path = Path(source)
        return self.name(path) if path.is_absolute() else source

    def report(self, **fields: Any) -> TextDataReport:
        return TextDataReport(
            source=str(self.root),
            examples={name: tuple(self.examples[name]) for name, _ in _ISSUES if self.examples[name]},
            **{name: self.counts[name] for name, _ in _ISSUES},
            **fields,
        )


class _Options(NamedTuple):
    text_column: str
    label_column: str
    names: tuple[str, ...] | None
    multi_label: bool
    separator: str
    labelled: bool


# A text as read, before class ids: `(source, text, labels)`, labels as stripped strings, possibly
# none. A plain tuple: a named one costs a noticeable share of reading a large file.
_Row = tuple[str, str, tuple[str, ...]]


# ---------------------------------------------------------------------------------- assembling


def _dataset(
    rows: Sequence[_Row],
    options: _Options,
    tally: _Tally,
    *,
    layout: str,
    split: str | None = None,
    text_column: str = "",
    label_column: str = "",
    found_labels: Iterable[str] = (),
    listed: str,
    hint: str,
) -> TextDataset:
    """The dataset of `rows`: class ids, dropped rows and duplicates noted.

    `found_labels` are labels that name a class even without a text (empty class folders), so
    that classes do not depend on which texts are usable; `listed` says what was read, for the
    error when nothing is usable.
    """
    if not options.labelled:
        names = options.names or ()
    elif options.names is not None:
        names = options.names
    else:
        # Every row's labels, also those of rows dropped below, so a bad row does not renumber classes.
        names = _sorted_names([*found_labels, *(label for _, _, labels in rows for label in labels)])
    index = {name: i for i, name in enumerate(names)}
    first_source: dict[str, str] = {}
    records = []
    for source, text, row_labels in rows:
        if not text:
            tally.note("empty_texts", tally.where(source))
            continue
        labels: tuple[int, ...] = ()
        if options.labelled:
            if not row_labels and not options.multi_label:
                tally.note("empty_labels", tally.where(source))
                continue
            ids = [index.get(label) for label in row_labels]
            for label, label_id in zip(row_labels, ids, strict=True):
                if label_id is None:
                    tally.note("unknown_labels", f"{tally.where(source)}: {label!r}")
            if options.multi_label:
                labels = tuple(sorted({label_id for label_id in ids if label_id is not None}))
            elif ids[0] is None:
                continue
            else:
                labels = (ids[0],)
        earlier = first_source.setdefault(text, source)
        if earlier is not source:
            tally.note("duplicate_texts", f"{tally.where(source)} repeats {tally.where(earlier)}")
        records.append(TextRecord(text, labels, source))
    if not records:
        raise _nothing_usable_error(tally, listed, hint)
    if options.labelled and not names:
        raise DataError(
            f"No label in the text data: {listed}, and every label is empty. Expected at least one label, "
            f"or class_names. Received: path='{tally.root}', label_column='{label_column}'"
        )
    counts = Counter(label for record in records for label in record.labels)
    class_counts = {name: counts[i] for i, name in enumerate(names)} if options.labelled else {}
    for name, count in class_counts.items():
        if not count:
            tally.note("empty_classes", name)
    report = tally.report(
        layout=layout,
        split=split,
        records=len(records),
        labelled=options.labelled,
        multi_label=options.multi_label,
        text_column=text_column,
        label_column=label_column,
        class_counts=class_counts,
    )
    return TextDataset(records, names, options.multi_label, layout, report)


def _sorted_names(labels: Iterable[str]) -> tuple[str, ...]:
    """Unique labels sorted, numerically when all are integers ("2" before "10")."""
    unique = set(labels)
    if unique and all(_INTEGER.fullmatch(label) for label in unique):
        return tuple(sorted(unique, key=lambda label: (int(label), label)))
    return tuple(sorted(unique))


def _nothing_usable_error(tally: _Tally, listed: str, hint: str) -> DataError:
    examples = [e for name, _ in _ISSUES for e in tally.examples.get(name, ())][:MAX_EXAMPLES]
    found = f" e.g. {'; '.join(examples)}." if examples else ""
    issues = ", ".join(f"{name} {count}" for name, count in tally.counts.items() if count)
    return DataError(
        f"No usable text in the text data: {listed} ({issues or 'no odd case'}).{found} Expected {hint}. "
        f"Received: path='{tally.root}'"
    )


# --------------------------------------------------------------------------------- file layouts


def _file_layout(root: Path, path: str | Path) -> str:
    suffix = root.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".tsv":
        return "tsv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".txt":
        with root.open("rb") as file:
            if b"\t" in file.readline():
                return "tsv"
        raise InvalidArgumentError(
            f"The text data path is a '.txt' file without a tab in its first line, so not a TSV file. "
            f"Expected {_HINT}. Received: path='{path}'"
        )
    raise InvalidArgumentError(
        f"The text data path is a '{suffix}' file. Expected {_HINT}. Received: path='{path}'"
    )


def _file_dataset(root: Path, layout: str, options: _Options) -> TextDataset:
    tally = _Tally(root)
    if layout == "jsonl":
        columns, items = _read_jsonl(root, tally)
        hint = _JSONL_HINT
    else:
        columns, items = _read_table(root, "\t" if layout == "tsv" else ",", tally)
        hint = _TABLE_HINT
    if not items and tally.counts:
        raise _nothing_usable_error(tally, f"no readable row in {root.name}", hint)
    text_index, label_index = _resolve_columns(columns, options, root)
    text_key, label_key = columns[text_index], None if label_index is None else columns[label_index]
    rows = []
    for line, item in items:
        source = f"{root.name}:{line}"
        if layout == "jsonl":
            row = _json_row(source, item, text_key, label_key, options)
        elif len(item) != len(columns):
            row = f"{len(item)} fields, expected {len(columns)}"
        else:
            label_cell = "" if label_index is None else item[label_index]
            row = (source, _clean_text(item[text_index]), _split_labels(label_cell, options))
        if isinstance(row, str):
            tally.note("bad_rows", f"{source}: {row}")
        else:
            rows.append(row)
    return _dataset(
        rows,
        options,
        tally,
        layout=layout,
        text_column=text_key,
        label_column=label_key or "",
        listed=f"{count_noun(len(items), 'row')} in {root.name}",
        hint=hint,
    )


def _decoded_lines(path: Path, tally: _Tally) -> tuple[list[str], list[int] | None]:
    """The file's UTF-8 lines (with their endings) and their 1-based line numbers (None: every
    line, numbered in order). Lines that are not UTF-8 are noted and left out, so one bad byte
    costs one line rather than the file."""
    data = checked_utf8_bytes(path.read_bytes(), path)
    try:
        # newline="" splits on \n, \r and \r\n only, as the csv module expects; str.splitlines
        # would also split inside texts at \x0c, \x1c or \u2028.
        return io.StringIO(data.decode("utf-8"), newline="").readlines(), None
    except UnicodeDecodeError:
        pass
    lines, numbers = [], []
    # bytes.splitlines splits where newline="" does, so line numbers match the fast path's.
    for number, raw in enumerate(data.splitlines(keepends=True), 1):
        try:
            lines.append(raw.decode("utf-8"))
            numbers.append(number)
        except UnicodeDecodeError as error:
            tally.note("invalid_utf8", f"{path.name}:{number}: {utf8_error_reason(raw, error)}")
    return lines, numbers


def _read_table(path: Path, delimiter: str, tally: _Tally) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header's column names and `(line, fields)` of each non-blank row after it."""
    lines, numbers = _decoded_lines(path, tally)
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(lines, delimiter=delimiter, quoting=quoting)
    header: list[str] | None = None
    rows = []
    while True:
        # The lines the reader has taken so far: the index of the next row's first line.
        start = reader.line_num
        line = numbers[start] if numbers is not None and start < len(numbers) else start + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            # The reader goes on with the next line: e.g. after one field over csv.field_size_limit().
            tally.note("bad_rows", f"{path.name}:{line}: {error}")
            continue
        if not fields:
            continue
        if header is None:
            # A line left out before the header's: the header itself was not UTF-8.
            if line != start + 1:
                raise DataError(
                    f"The header row of {path.name} is not valid UTF-8 ({tally.examples['invalid_utf8'][0]}). "
                    f"Expected a UTF-8 file with {_TABLE_HINT}. Received: path='{path}'"
                )
            header = [name.strip() for name in fields]
            continue
        rows.append((line, fields))
    if header is None:
        raise DataError(f"{path.name} is empty. Expected {_TABLE_HINT}. Received: path='{path}'")
    return header, rows


def _read_jsonl(path: Path, tally: _Tally) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """Every key seen (first-seen order) and `(line, object)` of each JSON-object line."""
    keys: dict[str, None] = {}
    objects = []
    lines, numbers = _decoded_lines(path, tally)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        number = i + 1 if numbers is None else numbers[i]
        value = json_object_or_reason(line)
        if isinstance(value, str):
            tally.note("bad_rows", f"{path.name}:{number}: {value}")
            continue
        keys.update(dict.fromkeys(value))
        objects.append((number, value))
    if not objects and not tally.counts:
        raise DataError(f"{path.name} is empty. Expected {_JSONL_HINT}. Received: path='{path}'")
    return list(keys), objects


def _resolve_columns(columns: Sequence[str], options: _Options, path: Path) -> tuple[int, int | None]:
    """The text column's index and the label column's (None when labels are not read)."""
    lowered = [column.lower() for column in columns]
    found = ", ".join(f"'{column}'" for column in columns) or "none"

    def named(name: str, argument: str) -> int:
        if name in columns:
            return columns.index(name)
        if name.lower() in lowered:
            return lowered.index(name.lower())
        raise NotFoundError(
            f"{path.name} has no column '{name}'; its columns are {found}. Expected {argument} to name one "
            f"of them, or '' to pick it automatically. Received: {argument}='{name}'"
        )

    label = None
    if options.labelled:
        if options.label_column:
            label = named(options.label_column, "label_column")
        else:
            label = next((lowered.index(name) for name in LABEL_COLUMNS if name in lowered), None)
            if label is None:
                raise DataError(
                    f"{path.name} has no label column; its columns are {found}. Expected one of "
                    f"{', '.join(LABEL_COLUMNS)}, a label_column naming one, or split='predict' to read "
                    f"texts without labels. Received: path='{path}'"
                )
    if options.text_column:
        text = named(options.text_column, "text_column")
    else:
        text = next(
            (i for name in TEXT_COLUMNS for i, column in enumerate(lowered) if column == name and i != label),
            None,
        )
        others = [i for i in range(len(columns)) if i != label]
        if text is None and len(others) == 1:
            text = others[0]
        if text is None:
            raise DataError(
                f"Cannot tell which column of {path.name} holds the texts; its columns are {found}. Expected "
                f"one of {', '.join(TEXT_COLUMNS)}, a single column besides the label, or a text_column "
                f"naming one. Received: path='{path}'"
            )
    if text == label:
        raise InvalidArgumentError(
            f"The text and label columns must differ. Received: text_column='{columns[text]}', "
            f"label_column='{columns[label]}'"
        )
    return text, label


def _json_row(
    source: str, item: dict[str, Any], text_key: str, label_key: str | None, options: _Options
) -> _Row | str:
    """The row of a JSON object, or why it is a bad row."""
    if text_key not in item:
        return f"no '{text_key}' key"
    text = item[text_key]
    if not isinstance(text, str):
        return f"'{text_key}' is a JSON {type(text).__name__}, expected a string"
    if label_key is None:
        return (source, _clean_text(text), ())
    if label_key not in item:
        return f"no '{label_key}' key"
    value = item[label_key]
    if isinstance(value, list):
        labels = [_json_label(v) for v in value]
        if any(label is None for label in labels):
            return f"'{label_key}' holds a value that is not a string or integer: {value!r}"
        labels = [label for label in labels if label]
        if len(labels) > 1 and not options.multi_label:
            return f"'{label_key}' holds {len(labels)} labels; pass multi_label=True to read several labels"
        return (source, _clean_text(text), tuple(dict.fromkeys(labels)))
    label = "" if value is None else _json_label(value)
    if label is None:
        return f"'{label_key}' is {value!r}, expected a string, an integer or a list of them"
    return (source, _clean_text(text), _split_labels(label, options))


def _json_label(value: Any) -> str | None:
    """A JSON label as a string ("" for an empty one), or None for a value that is not a label."""
    if isinstance(value, str):
        return value.strip()
    # bool is an int subclass, but true/false is no class id.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    # pandas writes integer labels of a column with missing values as floats (1.0).
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None


def _split_labels(cell: str, options: _Options) -> tuple[str, ...]:
    if not options.labelled:
        return ()
    if not options.multi_label:
        label = cell.strip()
        return (label,) if label else ()
    return tuple(dict.fromkeys(label.strip() for label in cell.split(options.separator) if label.strip()))


def _clean_text(text: str) -> str:
    return (text.replace("\r\n", "\n") if "\r" in text else text).strip()


# ------------------------------------------------------------------------------- folder layout


def _folder_dataset(root: Path, split: str, options: _Options) -> TextDataset:
    folder, applied = _split_folder(root, split)
    tally = _Tally(folder)
    class_dirs = {p.name: p for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")}
    if not options.labelled:
        # Texts only: from class folders, or .txt files directly in the folder.
        candidates = [(file, ()) for file in _walk(folder) if file.suffix.lower() == ".txt"]
        if not candidates:
            raise DataError(
                f"The text folder holds no .txt file; found {describe_path(folder)}. Expected {_HINT}. "
                f"Received: path='{folder}'"
            )
    elif not class_dirs:
        raise DataError(
            f"The text folder has no class sub-folders; found {describe_path(folder)}. Expected {_HINT}. "
            f"Received: path='{folder}'"
        )
    else:
        candidates = _labelled_files(class_dirs, options.names, tally)
    rows = []
    for file, labels in candidates:
        data = file.read_bytes().removeprefix(codecs.BOM_UTF8)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            tally.note("invalid_utf8", f"{tally.name(file)}: {utf8_error_reason(data, error)}")
            continue
        rows.append((str(file), _clean_text(text), labels))
    return _dataset(
        rows,
        options,
        tally,
        layout="folders",
        split=applied,
        # Empty class folders are classes too, so a class does not vanish with its last usable text.
        found_labels=class_dirs if options.labelled and options.names is None else (),
        listed=f"{count_noun(len(candidates), '.txt file')} in {describe_path(folder)}",
        hint=_HINT,
    )


def _labelled_files(
    class_dirs: dict[str, Path], names: tuple[str, ...] | None, tally: _Tally
) -> list[tuple[Path, tuple[str, ...]]]:
    """`(file, (class name,))` of each .txt file in the class folders of `names` (all by default)."""
    candidates = []
    for name, class_dir in class_dirs.items():
        for file in _walk(class_dir):
            if file.suffix.lower() != ".txt":
                tally.note("unsupported_files", tally.name(file))
            elif names is not None and name not in names:
                # Not opened: its text would be dropped anyway.
                tally.note("unknown_labels", f"{tally.name(file)}: {name!r}")
            else:
                candidates.append((file, (name,)))
    return candidates


def _walk(folder: Path) -> list[Path]:
    """The non-hidden files under `folder`, recursively, sorted; hidden folders are not entered."""
    files = []
    for current, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files += [Path(current, name) for name in sorted(names) if not name.startswith(".")]
    return files


def _split_folder(root: Path, split: str) -> tuple[Path, str | None]:
    """The folder to read and the split applied: `root/<split>` for a split layout, else `root` whole."""
    known = {name for names in SPLIT_NAMES.values() for name in names}
    children = {p.name.lower(): p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if not children or not set(children) <= known:
        return root, None
    # Texts to predict are the held-out ones.
    applied = "test" if split == "predict" else split
    for name in SPLIT_NAMES[applied]:
        if name in children:
            return children[name], applied
    raise NotFoundError(
        f"The text folder has no '{applied}' split folder (tried {', '.join(SPLIT_NAMES[applied])}); it "
        f"holds {', '.join(f'{p.name}/' for p in sorted(children.values()))}. Expected {_HINT}. "
        f"Received: path='{root}', split='{split}'"
    )


# ----------------------------------------------------------------------------------- arguments


def _existing_path(path: str | Path) -> Path:
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise InvalidArgumentError(f"No text data path given. Expected {_HINT}. Received: path={path!r}")
    # abspath, not resolve(): normalises `..` but keeps the symlinked names a user typed.
    root = Path(os.path.abspath(Path(path).expanduser()))
    if not root.exists():
        raise NotFoundError(f"The text data path does not exist. Expected {_HINT}. Received: path='{path}'")
    return root
