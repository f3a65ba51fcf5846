"""What a run waiting for IN_PROGRESS jobs tells a log (pure: no I/O).

Without a live display, `--wait` would be silent for as long as the jobs take (forever, for a
job that never finishes): a line every WAIT_REPORT_S says what is still waited on. Jobs that
have been IN_PROGRESS for more than a day may never finish: a warning says so up front.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Final

from bulkdl.domain.models import Job
from bulkdl.domain.selection import parse_api_date

WAIT_REPORT_S: Final = 30.0  # a "still waiting" line this often, when no live display
WAIT_REPORT_ENV: Final = "BULKDL_WAIT_REPORT_S"  # overrides it (tests shrink it)
OLD_IN_PROGRESS: Final = timedelta(days=1)


def wait_report_interval(env: Mapping[str, str], *, live_display: bool) -> float | None:
    """Seconds between "still waiting" lines; None on a live display (it shows the state)."""
    if live_display:
        return None
    try:
        value = float(env.get(WAIT_REPORT_ENV, WAIT_REPORT_S))
    except ValueError:
        return WAIT_REPORT_S
    return value if math.isfinite(value) and value > 0 else WAIT_REPORT_S


def human_age(seconds: float) -> str:
    """A coarse age for a log line: 45 s, 12 min, 5 h, 3 days."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s"
    if s < 2 * 3600:
        return f"{s // 60} min"
    if s < 2 * 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} days"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class WaitBoard:
    """The jobs a run is waiting on, each with its group and creation time."""

    def __init__(self) -> None:
        self._jobs: dict[str, tuple[str, datetime]] = {}

    def waiting(self, group: str, job_id: str, created: datetime) -> None:
        self._jobs[job_id] = (group, created)

    def done(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)

    def line(self, now: datetime) -> str | None:
        """One line on what is still waited on; None when nothing is."""
        if not self._jobs:
            return None
        groups = {group for group, _ in self._jobs.values()}
        oldest = min(created for _, created in self._jobs.values())
        return (
            f"still waiting for {_plural(len(self._jobs), 'job')} IN_PROGRESS in "
            f"{_plural(len(groups), 'group')}; the oldest was created "
            f"{human_age((now - oldest).total_seconds())} ago"
        )


def old_in_progress_warning(jobs: Iterable[Job], now: datetime) -> str | None:
    """A warning when jobs waited on have been IN_PROGRESS for more than a day."""
    dated = [(created, job) for job in jobs if (created := parse_api_date(job.creation_date))]
    old = [(created, job) for created, job in dated if now - created > OLD_IN_PROGRESS]
    if not old:
        return None
    groups = {job.group_id for _, job in old}
    oldest = min(created for created, _ in old)
    return (
        f"--wait includes {_plural(len(old), 'IN_PROGRESS job')} in "
        f"{_plural(len(groups), 'group')} created more than a day ago (the oldest "
        f"{human_age((now - oldest).total_seconds())} ago); they may never finish: --since "
        "leaves old jobs out, --timeout bounds the wait"
    )
