"""Instants as people type them (`--since`, `--from`, `--to`) and as the API sends them: one
parser, UTC everywhere (pure).

Forms read, for every flag alike:
- ISO 8601 (`2026-12-02`, `2026-12-02T02:10`, `2026-12-02T02:10Z`, `...T02:10+01:00`): without
  an offset it is UTC, the API's own rule (never the local zone of the machine that runs it);
- `HH:MM` (or `HH:MM:SS`): that time today, UTC (what an incident channel says: "since 02:10");
- relative, before now: `90m`, `12h`, `7d`, `2w` (also `90m ago`, `90 min`), and `now`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Final

from bulkdl.domain.errors import ConfigError

_RELATIVE: Final = re.compile(
    r"(\d+)\s*(s|sec|m|min|h|hr|hour|hours|d|day|days|w|week|weeks)(?:\s+ago)?", re.IGNORECASE
)
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_CLOCK: Final = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*(?:z|utc))?", re.IGNORECASE)
FORMS: Final = (
    "an ISO date/time (2026-12-02, 2026-12-02T02:10, 2026-12-02T02:10Z; no offset = UTC), "
    "HH:MM (today, UTC), or 90m / 12h / 7d ago"
)


def parse_iso(raw: str) -> datetime | None:
    """ISO 8601 as an aware datetime (no offset: UTC); None when it is not one."""
    try:
        parsed = datetime.fromisoformat(raw.strip())  # 3.11 reads `Z` and most of ISO 8601
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_instant(raw: str, now: datetime, flag: str = "--since") -> datetime:
    """One of the forms above, as an aware UTC datetime; ConfigError naming `flag` otherwise."""
    text = raw.strip()
    if text.lower() == "now":
        return now
    if m := _RELATIVE.fullmatch(text):
        try:
            return now - timedelta(seconds=int(m[1]) * _UNITS[m[2][0].lower()])
        except OverflowError:  # before the year 1, or too large for timedelta itself
            raise ConfigError(
                f"{flag}: {raw!r} reaches too far back (before the year 1)",
                hint="use a nearer instant: an ISO date (2026-11-25) or 90m / 12h / 7d",
            ) from None
    if m := _CLOCK.fullmatch(text):
        hour, minute, second = int(m[1]), int(m[2]), int(m[3] or 0)
        if hour < 24 and minute < 60 and second < 60:
            return datetime.combine(
                now.astimezone(UTC).date(), time(hour, minute, second, tzinfo=UTC)
            )
    parsed = parse_iso(text)
    if parsed is None:
        raise ConfigError(f"{flag}: cannot read {raw!r} as a date", hint=f"use {FORMS}")
    return parsed.astimezone(UTC)
