"""Small file and argument helpers shared by the dataset readers (detection, segmentation,
medical, text). TensorFlow-free, so readers that do not need it import fast.

Image sizes come from the file header (PIL opens lazily: no pixel decode); folder and file
look-ups try names in order; descriptions and plurals keep the readers' messages uniform.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from tfapps.apps.errors import InvalidArgumentError
from tfapps.pipelines.splits import SPLIT_NAMES

__all__ = [
    "HeaderRead",
    "IssueTally",
    "issue_lines",
    "checked_class_names",
    "count_noun",
    "describe_path",
    "first_dir",
    "first_file",
    "read_image_header",
    "read_only_array",
    "split_aliases",
]


class IssueTally:
    """Counts, and the first `max_examples` examples, of each kind of odd case a reader meets.

    Readers subclass it with their own `report()`, which turns the tally into their report type.
    """

    def __init__(self, max_examples: int = 5):
        self.max_examples = max_examples
        self.counts: Counter[str] = Counter()
        self.examples: defaultdict[str, list[str]] = defaultdict(list)

    def note(self, issue: str, example: str) -> None:
        """Count one case of `issue`, keeping `example` while fewer than `max_examples` are kept."""
        self.counts[issue] += 1
        if len(self.examples[issue]) < self.max_examples:
            self.examples[issue].append(example)


def issue_lines(
    issues: dict[str, int],
    catalogue: Sequence[tuple[str, str]],
    examples: dict[str, Sequence[str]],
    details: dict[str, str] | None = None,
) -> list[str]:
    """A report summary's lines about odd cases: `No odd cases found.`, or one line per issue in
    `catalogue` order, `  - <description>: <count> (<detail>); e.g. <example>; <example>`.

    Args:
        issues: issue name → count (non-zero ones).
        catalogue: `(issue name, description)` pairs, in the order to list them.
        examples: issue name → examples.
        details: issue name → extra facts shown in parentheses after the count (which ids,
            how many pixels); optional.
    """
    if not issues:
        return ["No odd cases found."]
    lines = []
    for name, description in catalogue:
        if name in issues:
            line = f"  - {description}: {issues[name]}"
            if details and details.get(name):
                line += f" ({details[name]})"
            if examples.get(name):
                line += "; e.g. " + "; ".join(examples[name])
            lines.append(line)
    return lines


class HeaderRead(NamedTuple):
    """An image header read: `size` `(width, height)`, or None and the `error` that stopped it."""

    size: tuple[int, int] | None
    error: str


def read_image_header(path: Path) -> HeaderRead:
    """The image size from its header, or why it could not be read (never raises)."""
    try:
        with Image.open(path) as image:
            return HeaderRead(image.size, "")
    # PIL reports a broken or unknown header with any of these, depending on the plugin.
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        return HeaderRead(None, f"{type(error).__name__}: {error}")


def checked_class_names(class_names: Sequence[str] | None) -> tuple[str, ...] | None:
    """A `class_names` argument as a tuple (None stays None).

    Raises:
        InvalidArgumentError: a bare string, an empty sequence, empty or non-string names, or
            repeated names.
    """
    if class_names is None:
        return None
    names = (class_names,) if isinstance(class_names, str) else tuple(class_names)
    if isinstance(class_names, str) or not names or not all(isinstance(n, str) and n for n in names):
        raise InvalidArgumentError(
            f"class_names must be a non-empty sequence of non-empty strings. Received: class_names={class_names!r}"
        )
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise InvalidArgumentError(
            f"class_names must be unique; repeated: {', '.join(repeated)}. Received: class_names={class_names!r}"
        )
    return names


def describe_path(root: Path) -> str:
    """What is at `root`, for "found ..." in error messages (the first ten entries of a folder)."""
    if root.is_file():
        return f"a file with suffix '{root.suffix}'"
    entries = sorted(
        p.name + ("/" if p.is_dir() else "") for p in root.iterdir() if not p.name.startswith(".")
    )
    if not entries:
        return "an empty folder"
    more = f" and {len(entries) - 10} more" if len(entries) > 10 else ""
    return f"a folder holding {', '.join(entries[:10])}{more}"


def split_aliases(split: str) -> tuple[str, ...]:
    """The split's name first, then its usual aliases ("val": "validation", "valid", "dev")."""
    aliases = next((names for names in SPLIT_NAMES.values() if split.lower() in names), ())
    return tuple(dict.fromkeys((split, *aliases)))


def first_dir(folder: Path, names: Iterable[str]) -> Path | None:
    """The first of `folder/<name>` that is a directory, or None."""
    return next((folder / name for name in names if (folder / name).is_dir()), None)


def first_file(folder: Path, names: Iterable[str]) -> Path | None:
    """The first of `folder/<name>` that is a file, or None."""
    return next((folder / name for name in names if (folder / name).is_file()), None)


def count_noun(count: int, noun: str) -> str:
    """`1 image`, `2 images`, `3 boxes`."""
    plural = noun + ("es" if noun.endswith(("s", "x")) else "s")
    return f"{count} {noun if count == 1 else plural}"


def read_only_array(values: Any, dtype: Any) -> np.ndarray:
    """A read-only copy of `values` as `dtype` (the caller's array stays writable)."""
    array = np.array(values, dtype=dtype)
    array.setflags(write=False)
    return array
