"""What an archive member is, from its path: host, log type, binary or text, rotation time.

The docs show two layouts (`<host>/<replset>/<port>/...` and the child jobs' `<host>/<port>/
mongodb`), so the kind comes from any path segment or the file name, never one template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

LOG_TYPES: Final = ("mongodb", "automation_agent", "backup_agent", "monitoring_agent")
_BY_SEGMENT: Final = {
    "automation_agent": "automation_agent",
    "backup_agent": "backup_agent",
    "monitoring_agent": "monitoring_agent",
    "mongodb": "mongodb",
    "mongos": "mongodb",
    "ftdc": "ftdc",
    "diagnostic.data": "ftdc",
}
_BY_FILE: Final = (
    ("automation-agent", "automation_agent"),
    ("backup-agent", "backup_agent"),
    ("monitoring-agent", "monitoring_agent"),
    ("metrics.", "ftdc"),
    ("mongo", "mongodb"),
)
# mongod's rename rotation: mongod.log.2026-10-02T17-54-00 (the time the file was closed).
_ROTATED: Final = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d)")


@dataclass(frozen=True, slots=True)
class Member:
    """An archive member as the search sees it."""

    name: str
    host: str
    log_type: str  # one of LOG_TYPES, "ftdc", or "other"
    gzipped: bool
    rotated_at_ms: int | None  # when the file was rotated away: none of its lines is later

    @property
    def binary(self) -> bool:
        return self.log_type == "ftdc"


def classify(name: str) -> Member:
    """Host (first path segment), log type and rotation time of a member path (pure)."""
    parts = [p for p in name.split("/") if p]
    host = parts[0] if len(parts) > 1 else ""
    base = parts[-1].lower() if parts else ""
    kind = next((_BY_SEGMENT[p] for p in parts[:-1] if p in _BY_SEGMENT), None)
    if kind is None:
        kind = next((k for prefix, k in _BY_FILE if base.startswith(prefix)), "other")
    rotated = None
    if m := _ROTATED.search(parts[-1] if parts else ""):
        try:
            when = datetime.fromisoformat(f"{m[1]}T{m[2]}:{m[3]}:{m[4]}").replace(tzinfo=UTC)
            rotated = int(when.timestamp() * 1000)
        except ValueError:
            pass
    return Member(name, host, kind, base.endswith(".gz"), rotated)


def looks_binary(head: bytes) -> bool:
    """A NUL in the first 8 KiB: what grep and git call binary."""
    return b"\0" in head[:8192]
