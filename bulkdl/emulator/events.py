"""A time-ordered log of what happened to jobs, so tests can prove ordering across jobs.

Counters say how often; the log says when: "job A's download started before job B finished".
Times come from the state's monotonic clock (fake in tests). A job's "finished" entry carries
the moment its collection ended, which is only noticed at the next request (statuses are
computed lazily), so entries are inserted in time order rather than appended.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from typing import Final

EVENT_KINDS: Final = (
    "created",  # POST made the job (IN_PROGRESS)
    "retried",  # PUT …/retry took it from FAILURE back to IN_PROGRESS
    "finished",  # its collection ended; `detail` is SUCCESS or FAILURE
    "deleted",  # DELETE removed it
    "download_started",  # an archive body (whole or a range) began streaming
    "download_completed",  # that body was sent in full
    "download_cut",  # that body ended early: client gone, fault, server stopping
)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened to one job, at a monotonic time."""

    at: float
    kind: str
    group_id: str
    job_id: str
    detail: str = ""


class EventLog:
    """Events sorted by `at` (ties keep their recording order); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []

    def record(self, event: Event) -> None:
        """Insert `event` after every event at the same time or earlier."""
        if event.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {event.kind!r}")
        with self._lock:
            bisect.insort_right(self._events, event, key=lambda e: e.at)

    def snapshot(self) -> list[Event]:
        """A copy of the log, oldest first."""
        with self._lock:
            return list(self._events)

    def clear(self) -> None:
        """Forget every event."""
        with self._lock:
            self._events.clear()
