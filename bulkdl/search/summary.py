"""--summary: per host, matches by severity in the window, and the first and last match time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from bulkdl.search.logline import format_ms
from bulkdl.search.scan import Tally

COLUMNS: Final = ("F", "E", "W", "I", "D", "-")  # "-": lines without a severity (text, agents)


@dataclass(slots=True)
class HostSummary:
    host: str
    counts: dict[str, int] = field(default_factory=dict)
    first_ms: int | None = None
    last_ms: int | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, tally: Tally) -> None:
        for severity, n in tally.severities.items():
            key = severity[0] if severity[0] in "FEWID" else "-"
            self.counts[key] = self.counts.get(key, 0) + n
        if tally.first_ms is not None:
            old = self.first_ms
            self.first_ms = tally.first_ms if old is None else min(old, tally.first_ms)
        if tally.last_ms is not None:
            old = self.last_ms
            self.last_ms = tally.last_ms if old is None else max(old, tally.last_ms)

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "matches": self.total,
            "bySeverity": {k: self.counts.get(k, 0) for k in COLUMNS},
            "first": format_ms(self.first_ms) if self.first_ms is not None else None,
            "last": format_ms(self.last_ms) if self.last_ms is not None else None,
        }


def table(hosts: list[HostSummary]) -> str:
    """A plain aligned table, hosts in the order given."""
    head = ["host", *COLUMNS, "total", "first", "last"]
    rows = [head] + [
        [
            h.host,
            *(str(h.counts.get(k, 0)) for k in COLUMNS),
            str(h.total),
            format_ms(h.first_ms) if h.first_ms is not None else "-",
            format_ms(h.last_ms) if h.last_ms is not None else "-",
        ]
        for h in hosts
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:-2], widths[1:-2], strict=True)
        ]
        lines.append("  ".join([*cells, r[-2].ljust(widths[-2]), r[-1]]).rstrip())
    return "\n".join(lines) + "\n"
