"""Tables for `groups`, `list` and dry-run plans, in the three shapes `-o` offers.

- table: aligned columns, no box characters, one row per line. On a terminal the lesser columns
  are shortened (with an ellipsis) or dropped to fit its width; ids are never cut or folded, so
  `grep <jobId>` always finds the whole line. Piped, every column is printed in full.
- json: the records as one JSON array (what `--json` prints).
- csv: the records' fields as columns, for spreadsheets.

Fitting is pure (`fit`, `render`); only `emit` writes.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from bulkdl.domain.printable import shown

if TYPE_CHECKING:
    from rich.console import Console

GAP: Final = "  "
ELLIPSIS: Final = "…"


class Format(StrEnum):
    """`-o`: the names mongocli and atlas use."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: its title, how a record becomes its cell, and how it may give way.

    priority: lower gives way first. shrink_to: shortened down to this many characters before
    being dropped (0: dropped whole). keep: never shortened or dropped (ids, statuses).
    """

    title: str
    cell: Callable[[Mapping[str, Any]], str]
    priority: int = 0
    keep: bool = False
    shrink_to: int = 0
    right: bool = False


def field(name: str) -> Callable[[Mapping[str, Any]], str]:
    """The cell is the record's `name` field ('' when missing or null)."""

    def cell(record: Mapping[str, Any]) -> str:
        value = record.get(name)
        return "" if value is None else str(value)

    return cell


def fit(columns: Sequence[Column], cells: Sequence[Sequence[str]], width: int | None) -> list[int]:
    """Each column's width (0: dropped) so that a row fits `width` (None: no limit).

    Lowest priority first, each column is shortened (down to its shrink_to) or, when that is
    not enough, dropped, until the row fits. Columns empty in every row are dropped too. What
    `keep` protects may still exceed `width`: a wrapped line is better than a cut id.
    """
    widths = [
        max([len(c.title)] + [len(row[i]) for row in cells]) if any(row[i] for row in cells) else 0
        for i, c in enumerate(columns)
    ]
    if width is None:
        return widths
    limit = width
    order = sorted(range(len(columns)), key=lambda i: columns[i].priority)

    def excess() -> int:
        shown = [w for w in widths if w]
        return sum(shown) + len(GAP) * (len(shown) - 1) - limit

    for i in order:
        col = columns[i]
        if excess() <= 0:
            break
        if col.keep:
            continue
        if col.shrink_to and widths[i] > col.shrink_to:
            widths[i] = max(col.shrink_to, len(col.title), widths[i] - excess())
        if excess() > 0:
            widths[i] = 0
    return widths


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + ELLIPSIS


def render(
    columns: Sequence[Column], records: Sequence[Mapping[str, Any]], width: int | None
) -> list[str]:
    """The header line and one line per record (pure)."""
    cells = [[shown(c.cell(r)) for c in columns] for r in records]  # server text, escaped
    widths = fit(columns, cells, width)
    visible = [i for i, w in enumerate(widths) if w]
    lines = []
    for row in [[c.title for c in columns], *cells]:
        parts = []
        for n, i in enumerate(visible):
            text = _clip(row[i], widths[i])
            last = n == len(visible) - 1
            if columns[i].right:
                text = text.rjust(widths[i])
            elif not last:
                text = text.ljust(widths[i])
            parts.append(text)
        lines.append(GAP.join(parts).rstrip())
    return lines


def to_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """The records' fields as CSV columns; lists joined with commas, null as empty (pure)."""
    if not records:
        return ""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    keys = list(records[0])
    writer.writerow(keys)
    for record in records:
        writer.writerow([shown(_csv_value(record.get(k))) for k in keys])  # escaped, as tables
    return buf.getvalue()


def _csv_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def emit(
    columns: Sequence[Column],
    records: Sequence[Mapping[str, Any]],
    fmt: Format,
    *,
    title: str | None = None,
    err: Console | None = None,
    table_to_stderr: bool = False,
) -> None:
    """Print `records` on stdout in `fmt`; a table's title goes to stderr (stdout stays rows).

    table_to_stderr: a table that accompanies a command's real work (a dry run's plan) goes
    with the other human lines, on stderr; JSON and CSV stay on stdout.
    """
    if fmt is Format.JSON:
        sys.stdout.write(json.dumps(list(records)) + "\n")
        return
    if fmt is Format.CSV:
        sys.stdout.write(to_csv(records))
        return
    if title and err is not None:
        err.print(title, markup=False, highlight=False, soft_wrap=True)
    from rich.console import Console  # here: `--help` needs Format, not rich

    out = Console(highlight=False, stderr=table_to_stderr)
    width = out.width if out.is_terminal else None
    if records:
        stream = sys.stderr if table_to_stderr else sys.stdout
        stream.write("\n".join(render(columns, records, width)) + "\n")
