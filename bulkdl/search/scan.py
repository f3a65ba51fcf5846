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


Span = tuple[bytes, int, int]  # buf[lo:hi] is whole lines, the last ending at hi - 1


def line_blocks(blocks: Iterable[bytes]) -> Iterator[Span]:
    """Spans of whole lines over the blocks, without copying them: only a line cut by a block
    edge is glued into a small block of its own. A last line without a newline gets one."""
    carry = b""
    for block in blocks:
        cut = block.rfind(b"\n")
        if cut < 0:
            carry += block
            if len(carry) >= _NO_NEWLINE_LIMIT:  # no newline for 64 MiB: search it as it is
                yield carry + b"\n", 0, len(carry) + 1
                carry = b""
            continue
        lo = 0
        if carry:
            lo = block.find(b"\n") + 1
            glued = carry + block[:lo]
            yield glued, 0, len(glued)
        if lo <= cut:
            yield block, lo, cut + 1
        carry = block[cut + 1 :]
    if carry:
        yield carry + b"\n", 0, len(carry) + 1


def scan(blocks: Iterable[bytes], q: Query) -> Tally:
    """Search a text member's blocks; stops early when the Tally says it is done."""
    tally = Tally()
    keep = q.mode is Mode.LINES
    for span in line_blocks(blocks):
        _scan_block(span, tally, q, keep)
        if tally.done:
            break  # the archive's reader passes over the rest without looking at it
        buf, lo, hi = span
        tally.lines_read += buf.count(b"\n", lo, hi)
    return tally


def _outside(span: Span, tally: Tally, q: Query) -> bool:
    """Whether the span lies wholly before the window (or wholly after: then done)."""
    buf, lo, hi = span
    if q.from_ms is not None:
        start = (buf.rfind(b"\n", lo, hi - 1) + 1) or lo
        last = line_time(buf[start : start + 256])
        if last is not None and last < q.from_ms:
            return True
    if q.to_ms is not None:
        first = line_time(buf[lo : lo + 256])
        if first is not None and first > q.to_ms:
            tally.done = True
            return True
    return False


def _scan_block(span: Span, tally: Tally, q: Query, keep: bool) -> None:
    if q.windowed and _outside(span, tally, q):
        return
    base = tally.lines_read + 1
    for lineno, text in _candidates(span, base, q):
        hit = _accept(lineno, text, q, tally)
        if hit is not None:
            tally.add(hit, keep)
            if q.max_count is not None and tally.count >= q.max_count:
                tally.done = True
        if tally.done:
            return


def _candidates(span: Span, base: int, q: Query) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of each line the pattern selects, in order."""
    buf, lo, hi = span
    rx = q.regex
    if q.invert or q.matches_every_line:
        for i, text in enumerate(buf[lo : hi - 1].split(b"\n")):
            if q.matches_every_line or rx.search(text) is None:
                yield base + i, text
        return
    literal = q.literal
    pos = counted = lo
    lineno = base
    while pos < hi:
        if literal is not None:  # bytes.find: several times faster than re on a plain string
            at = buf.find(literal, pos, hi)
            if at < 0:
                return
            reach = at
        else:
            m = rx.search(buf, pos, hi)
            if m is None:
                return
            at, reach = m.start(), m.end()
        start = (buf.rfind(b"\n", lo, at) + 1) or lo
        end = buf.find(b"\n", at, hi)
        if reach > end and rx.search(buf, start, end) is None:
            pos = end + 1  # the match ran over a newline (`\s`, `[^x]`): not on this line
            continue
        lineno += buf.count(b"\n", counted, start)
        counted = start
        yield lineno, buf[start:end]
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
