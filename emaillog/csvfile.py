"""Reading a CSV file an admin saved from a spreadsheet, before any row means anything: its bytes as
UTF-8 text (with or without Excel's byte order mark, at most 64 MB), the delimiter told from the
header row, the header's cells matched to the columns a kind declares, and each record as a Row
whose cells the kind then checks.

A file that cannot be read, that is not CSV, or whose header is wrong is refused here, whole;
nothing here knows the database.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from . import adminvalues

if TYPE_CHECKING:
    from .csvkinds import Kind

T = TypeVar("T")
R = TypeVar("R")

DELIMITERS = ",;\t"
# 64 MB is some 500,000 users; a file past it is read no further (/dev/zero, or a log file named by
# mistake, was read whole until the machine ran out of memory).
MAX_FILE_BYTES = 64_000_000


class CsvRejected(adminvalues.AdminError):
    """The file, or some of its rows, cannot be imported; the message lists every problem."""

    def __init__(self, path: Path, problems: Sequence[tuple[int, str]]) -> None:
        rows = len({line for line, _ in problems})
        lines = "\n".join(f"line {line}: {what}" for line, what in problems)
        super().__init__(f"{path}: {rows} bad row{'s' if rows != 1 else ''}, nothing imported\n{lines}")


@dataclass(frozen=True)
class Column:
    name: str
    required: bool = False
    aliases: tuple[str, ...] = ()


@dataclass
class Row:
    """One data row: its first line in the file, and its cells by canonical column name."""

    line: int
    cells: dict[str, str]
    problems: list[str] = field(default_factory=list)

    def required(self, column: str, check: Callable[[str], T]) -> T | None:
        text = self.cells.get(column, "")
        if not text:
            self.problems.append(f"{column} is empty")
            return None
        return self._checked(column, text, check)

    def optional(self, column: str, check: Callable[[str], T], default: T) -> T:
        text = self.cells.get(column, "")
        if not text:
            return default
        value = self._checked(column, text, check)
        return default if value is None else value

    def _checked(self, column: str, text: str, check: Callable[[str], T]) -> T | None:
        try:
            return check(text)
        except adminvalues.AdminError as exc:
            self.problems.append(f"{column}: {exc}")
            return None


def read_text(path: Path) -> str:
    """The file as text: UTF-8, with or without the byte order mark Excel writes."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise adminvalues.AdminError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        limit = f"{MAX_FILE_BYTES / 1e6:g} MB"
        raise adminvalues.AdminError(f"{path} is more than {limit}: split it into smaller files")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise adminvalues.AdminError(
            f'{path} is not UTF-8 text (line {line}, byte 0x{data[exc.start]:02x}): save it as "CSV UTF-8"'
        ) from None


def delimiter(text: str) -> str:
    """Comma, semicolon (Excel in locales with a decimal comma) or tab, from the header row: no
    column name contains one, so the most frequent is the delimiter."""
    header = text.lstrip("\r\n").partition("\n")[0]
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def records(path: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) of each non-blank record; a broken quote rejects the file."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter(text), strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvRejected(path, [(start, f"not CSV: {exc} (a quote not closed?)")]) from None
        if any(f.strip() for f in fields):
            yield start, fields
        start = reader.line_num + 1


def canonical(name: str) -> str:
    return re.sub(r"[\s_-]+", "_", name.strip().lower())


def header_columns(
    kind: type[Kind[R]], line: int, names: list[str]
) -> tuple[list[str], list[tuple[int, str]]]:
    """The canonical column of each header cell, and what is wrong with the header."""
    known = {canonical(alias): c.name for c in kind.columns for alias in (c.name, *c.aliases)}
    expected = ", ".join(c.name for c in kind.columns)
    columns = [known.get(canonical(n), "") for n in names]
    # A header cell left empty is no column: Excel writes one for each column a sheet once used
    # ("Email;Name;;"), which refused the file as "unknown column ''". Its cells must be empty too.
    problems = [
        (line, f"unknown column {n!r} (the columns are: {expected})")
        for n, c in zip(names, columns, strict=True)
        if not c and n.strip()
    ]
    problems += [
        (line, f"column {c!r} appears twice") for c in sorted(set(columns)) if c and columns.count(c) > 1
    ]
    problems += [
        (line, f"no column {c.name!r}") for c in kind.columns if c.required and c.name not in columns
    ]
    return columns, problems


def read_rows(path: Path, kind: type[Kind[R]]) -> list[Row]:
    found = records(path, read_text(path))
    first = next(found, None)
    if first is None:
        raise adminvalues.AdminError(f"{path} is empty: its first row names the columns ({_names(kind)})")
    columns, problems = header_columns(kind, *first)
    if problems:
        raise CsvRejected(path, problems)
    rows = []
    for line, fields in found:
        row = Row(line, dict(zip(columns, (f.strip() for f in fields), strict=False)))
        if len(fields) != len(columns):
            row.problems.append(f"{len(fields)} fields, the header has {len(columns)}")
        unnamed = [n for n, (c, f) in enumerate(zip(columns, fields, strict=False), 1) if not c and f.strip()]
        if unnamed:
            row.problems.append(f"a value in column {unnamed[0]}, which the header row leaves without a name")
        row.cells.pop("", None)
        rows.append(row)
    return rows


def _names(kind: type[Kind[R]]) -> str:
    return ", ".join(c.name for c in kind.columns)
