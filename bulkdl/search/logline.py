"""A log line's time, severity, component and id, read from its first bytes only.

Three formats: mongod 4.4+ JSON (`{"t":{"$date":...},"s":"I",  "c":"NETWORK",  "id":22943,`,
padding after the commas), the pre-4.4 text format (`2014-11-03T18:28:32.450-0500 I NETWORK
[ctx] ...`) and the agents' (`[2026-10-02T17:54:00.123+0000] [.error] [file:fn:line] ...`, or
`[2021/05/20 12:30:14.170]`). Anchored byte regexes: the line is never decoded for this.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final, NamedTuple

_JSON: Final = re.compile(
    rb'\{\s*"t"\s*:\s*\{\s*"\$date"\s*:\s*(?:"([^"]{10,40})"|\{\s*"\$numberLong"\s*:\s*"?(-?\d+)"?\s*\})'
    rb'\s*\}\s*,\s*"s"\s*:\s*"([A-Z0-9]{1,3})"\s*,\s*"c"\s*:\s*"([A-Za-z_\-]+)\s*"\s*,\s*"id"\s*:\s*(\d+)'
)
_JSON_TIME: Final = re.compile(
    rb'\{\s*"t"\s*:\s*\{\s*"\$date"\s*:\s*(?:"([^"]{10,40})"|\{\s*"\$numberLong"\s*:\s*"?(-?\d+)"?)'
)
_TEXT: Final = re.compile(
    rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
    rb"(?:\s+([FEWI]|D\d?)\s+([A-Z_\-]+)\s+\[)?"
)
_AGENT: Final = re.compile(
    rb"\[(\d{4}[-/]\d\d[-/]\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)\]"
    rb"(?:\s*\[\.?([A-Za-z]+)\])?"
)
_AGENT_LEVELS: Final = {
    b"fatal": "F",
    b"error": "E",
    b"warn": "W",
    b"warning": "W",
    b"info": "I",
    b"debug": "D",
    b"trace": "D",
}


class Fields(NamedTuple):
    """What the prefix says; None where the format has no such field or it is unreadable."""

    t_ms: int | None
    s: str | None
    c: str | None
    id: int | None


NOTHING: Final = Fields(None, None, None, None)


def iso_ms(raw: bytes) -> int | None:
    """Epoch milliseconds of an ISO time (`Z`, `+00:00`, `+0000`; no zone: UTC), or None."""
    try:
        when = datetime.fromisoformat(raw.decode("ascii").replace("/", "-"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def fields(line: bytes) -> Fields:
    """Time, severity, component and id of one line (bytes from its start)."""
    first = line[:1]
    if first == b"{":
        if m := _JSON.match(line):
            t = iso_ms(m[1]) if m[1] is not None else int(m[2])
            return Fields(t, m[3].decode(), m[4].decode(), int(m[5]))
        return Fields(line_time(line), None, None, None)
    if first == b"[":
        if m := _AGENT.match(line):
            level = _AGENT_LEVELS.get(m[2].lower()) if m[2] else None
            return Fields(iso_ms(m[1]), level, None, None)
        return NOTHING
    if first.isdigit() and (m := _TEXT.match(line)):
        s = m[2].decode() if m[2] else None
        return Fields(iso_ms(m[1]), s, m[3].decode() if m[3] else None, None)
    return NOTHING


def line_time(line: bytes) -> int | None:
    """Just the time of a line (epoch ms), for window checks on block edges."""
    first = line[:1]
    if first == b"{":
        if m := _JSON_TIME.match(line):
            return iso_ms(m[1]) if m[1] is not None else int(m[2])
        return None
    if first == b"[":
        return iso_ms(m[1]) if (m := _AGENT.match(line)) else None
    if first.isdigit() and (m := _TEXT.match(line)):
        return iso_ms(m[1])
    return None


# mongod's component tree (mongo src/mongo/logv2/log_component.h): a child's parent. REPL's and
# NETWORK's children are the documented ones; the sharding and storage ones follow the header.
PARENT: Final = {
    "ELECTION": "REPL",
    "REPL_HB": "REPL",
    "INITSYNC": "REPL",
    "ROLLBACK": "REPL",
    "ASIO": "NETWORK",
    "CONNPOOL": "NETWORK",
    "RDELETER": "SHARDING",
    "SH_REFR": "SHARDING",
    "MIGRATE": "SHARDING",
    "RESHARD": "SHARDING",
    "MIG_PERF": "MIGRATE",
    "RECOVERY": "STORAGE",
    "JOURNAL": "STORAGE",
}
_NAMES: Final = (
    "ACCESS COMMAND CONTROL EXECUTOR GEO INDEX NETWORK HEALTH QUERY REPL ELECTION REPL_HB "
    "INITSYNC ROLLBACK SHARDING RDELETER SH_REFR MIGRATE RESHARD MIG_PERF STORAGE RECOVERY "
    "JOURNAL WRITE FTDC ASIO BRIDGE TRACKING TXN TENANT_M CONNPOOL TEST -"
)
COMPONENTS: Final = frozenset(_NAMES.split())


def with_children(names: frozenset[str]) -> frozenset[str]:
    """`names` and every component below them in the tree."""
    out = set(names)
    for child in PARENT:
        node: str | None = child
        while node is not None:
            if node in names:
                out.add(child)
                break
            node = PARENT.get(node)
    return frozenset(out)


def format_ms(t_ms: int) -> str:
    """Epoch ms as ISO UTC with milliseconds: `2026-10-02T17:54:00.123Z`."""
    when = datetime.fromtimestamp(t_ms / 1000, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t_ms % 1000:03d}Z"
