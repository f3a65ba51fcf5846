"""Retry-After, in both of its forms (RFC 9110 10.2.3), and what to say when it is too long.

A server may send delay-seconds (`120`) or an HTTP-date (`Wed, 02 Dec 2026 18:00:00 GMT`).
Both are read; a date in the past and a negative number mean "now". Anything else is ignored
(we back off on our own). Pure: the clock is passed in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from `now` (>= 0), or None when there is no usable value."""
    if value is None or not (text := value.strip()):
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP-date is GMT by definition
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if seconds != seconds or seconds == float("inf"):  # NaN, inf: not a wait anyone meant
        return None
    return max(0.0, seconds)


def wait_too_long(
    asked_s: float, cap_s: float, now: datetime, limit: str = "retry_after_max_s"
) -> str:
    """The clause a failure carries when the server asks for more than we wait (`limit`: the
    setting that bounds it, `cap_s` its value)."""
    until = (now + timedelta(seconds=asked_s)).astimezone(UTC)
    return (
        f"the server asked to wait {_duration(asked_s)} (Retry-After, until "
        f"{until:%Y-%m-%d %H:%M} UTC), more than {limit} ({_duration(cap_s)}) allows: "
        "not retried; rerun after then"
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"
