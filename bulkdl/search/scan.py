"""One member's lines against a Query: whole blocks through `re`, only matching lines cut out.

The pattern runs over each inflated block (MBs at a time, in C); only the lines it hits are
sliced out and have their prefix read. With --from/--to a block whose last line is before the
window is skipped unsearched, and the first line past --to ends the member: logs are in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from bulkdl.search.logline import Fields, fields, line_time
from bulkdl.search.query import Mode, Query

_NO_NEWLINE_LIMIT: Final = 64 * 1024 * 1024  # a "line" this long is searched as it is


class Hit(NamedTuple):
    lineno: int
    t_ms: int | None
    s: str | None
    c: str | None
    id: int | None
    text: bytes  # the line, without its newline


@dataclass(slots=True)
class Tally:
    """What one member yielded: matches (kept in LINES mode), counts, first and last time."""

    count: int = 0
    severities: dict[str, int] = field(default_factory=dict)
    first_ms: int | None = None
    last_ms: int | None = None
    hits: list[Hit] = field(default_factory=list)
    lines_read: int = 0
    done: bool = False  # --max-count reached or past --to: the rest is not looked at

    def add(self, hit: Hit, keep: bool) -> None:
        self.count += 1
        key = hit.s or "-"
        self.severities[key] = self.severities.get(key, 0) + 1
        if hit.t_ms is not None:
            if self.first_ms is None or hit.t_ms < self.first_ms:
                self.first_ms = hit.t_ms
            if self.last_ms is None or hit.t_ms > self.last_ms:
                self.last_ms = hit.t_ms
        if keep:
            self.hits.append(hit)


def line_blocks(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """Re-cut blocks so each ends with a newline (a last line without one gets one)."""
    carry = b""
    for block in blocks:
        cut = block.rfind(b"\n")
        if cut < 0 and len(carry) + len(block) < _NO_NEWLINE_LIMIT:
            carry += block
            continue
        if cut < 0:
            cut = len(block) - 1
        if cut == len(block) - 1:
            yield carry + block if carry else block
            carry = b""
        else:
            yield carry + block[: cut + 1]
            carry = block[cut + 1 :]
    if carry:
        yield carry + b"\n"


def scan(blocks: Iterable[bytes], q: Query) -> Tally:
    """Search a text member's blocks; stops early when the Tally says it is done."""
    tally = Tally()
    keep = q.mode is Mode.LINES
    for block in line_blocks(blocks):
        _scan_block(block, tally, q, keep)
        if tally.done:
            break  # the archive's reader passes over the rest without looking at it
        tally.lines_read += block.count(b"\n")
    return tally


def _outside(block: bytes, tally: Tally, q: Query) -> bool:
    """Whether the block lies wholly before the window (or wholly after: then done)."""
    if q.from_ms is not None:
        last = line_time(block[block.rfind(b"\n", 0, len(block) - 1) + 1 :])
        if last is not None and last < q.from_ms:
            return True
    if q.to_ms is not None:
        first = line_time(block)
        if first is not None and first > q.to_ms:
            tally.done = True
            return True
    return False


def _scan_block(block: bytes, tally: Tally, q: Query, keep: bool) -> None:
    if q.windowed and _outside(block, tally, q):
        return
    base = tally.lines_read + 1
    for lineno, text in _candidates(block, base, q):
        hit = _accept(lineno, text, q, tally)
        if hit is not None:
            tally.add(hit, keep)
            if q.max_count is not None and tally.count >= q.max_count:
                tally.done = True
        if tally.done:
            return


def _candidates(block: bytes, base: int, q: Query) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of each line the pattern selects, in order."""
    rx = q.regex
    if q.invert or q.matches_every_line:
        for i, text in enumerate(block[:-1].split(b"\n")):
            if q.matches_every_line or rx.search(text) is None:
                yield base + i, text
        return
    pos = counted = 0
    lineno = base
    end_of_block = len(block)
    while pos < end_of_block and (m := rx.search(block, pos)) is not None:
        start = block.rfind(b"\n", 0, m.start()) + 1
        end = block.find(b"\n", m.start())
        if m.end() > end and rx.search(block, start, end) is None:
            # the match ran over a newline (`\s`, `[^x]`): it is not one on this line alone
            pos = end + 1
            continue
        lineno += block.count(b"\n", counted, start)
        counted = start
        yield lineno, block[start:end]
        pos = end + 1


def _accept(lineno: int, text: bytes, q: Query, tally: Tally) -> Hit | None:
    f: Fields = fields(text)
    if q.windowed:
        if f.t_ms is None:
            return None
        if q.to_ms is not None and f.t_ms > q.to_ms:
            tally.done = True
            return None
        if q.from_ms is not None and f.t_ms < q.from_ms:
            return None
    if q.severities is not None and (f.s is None or not _severity_in(f.s, q.severities)):
        return None
    if q.components is not None and f.c not in q.components:
        return None
    if q.ids is not None and f.id not in q.ids:
        return None
    if q.slow_ms is not None and not _slow(text, q.slow_ms):
        return None
    return Hit(lineno, f.t_ms, f.s, f.c, f.id, text)


def _severity_in(s: str, wanted: frozenset[str]) -> bool:
    return s in wanted or s[0] in wanted  # D covers D1..D5


def _slow(text: bytes, at_least: int) -> bool:
    if b"durationMillis" not in text:
        return False
    try:
        doc = json.loads(text)
        value = doc["attr"]["durationMillis"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(value, int | float) and value >= at_least
