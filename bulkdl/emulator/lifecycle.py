"""Jobs collecting logs: IN_PROGRESS until their duration has passed, then SUCCESS or FAILURE.

No background task moves them, so a fake clock drives them exactly: `settle(now)` applies every
transition that is due, and the state calls it on every request. A run's duration and outcome
can be overridden per job, even while it runs, so tests can make jobs finish at different times
or fail; overrides outlive the run (a retried job keeps them). Only jobs started here move:
the demo fleet's IN_PROGRESS jobs stay in progress forever, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from bulkdl.emulator.fleet import EmulatedJob

OUTCOMES: Final = ("SUCCESS", "FAILURE")
_T = TypeVar("_T")


@dataclass(slots=True)
class Run:
    """One collection of a job: started at `started`, due `duration_s` later with `outcome`."""

    job: EmulatedJob
    started: float
    duration_s: float
    outcome: str


class Lifecycle:
    """Running collections and their per-job overrides; thread-safe (tests read from theirs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}
        self._durations: dict[str, float] = {}
        self._outcomes: dict[str, str] = {}
        self._finished: dict[str, float] = {}

    def start(self, job: EmulatedJob, now: float, duration_s: float, outcome: str) -> None:
        """Put `job` IN_PROGRESS from `now`; its defaults yield to this job's overrides."""
        _check_duration(duration_s)
        _check_outcome(outcome)
        with self._lock:
            job.status = "IN_PROGRESS"
            self._runs[job.id] = Run(job, now, duration_s, outcome)
            self._finished.pop(job.id, None)

    def set_duration(self, job_id: str, seconds: float | None) -> None:
        """This job's collections take `seconds` (counted from each start); None: the default."""
        self._override(self._durations, job_id, seconds, _check_duration)

    def set_outcome(self, job_id: str, outcome: str | None) -> None:
        """This job's collections end in `outcome`; None: decided by `failing_resources`."""
        self._override(self._outcomes, job_id, outcome, _check_outcome)

    def settle(self, now: float) -> list[tuple[float, EmulatedJob]]:
        """End every run due by `now`; (finish time, job) of those that ended, oldest first.

        A job whose status was changed by hand meanwhile is left as it is, and not reported.
        """
        with self._lock:
            due = sorted(
                (
                    (finish, run)
                    for run in self._runs.values()
                    if (finish := self._finish_time(run)) <= now
                ),
                key=lambda pair: pair[0],
            )
            ended: list[tuple[float, EmulatedJob]] = []
            for finish, run in due:
                del self._runs[run.job.id]
                if run.job.status != "IN_PROGRESS":
                    continue
                run.job.status = self._outcomes.get(run.job.id, run.outcome)
                self._finished[run.job.id] = finish
                ended.append((finish, run.job))
            return ended

    def forget(self, job_id: str) -> None:
        """Drop the job's run, overrides and finish time (it was deleted)."""
        with self._lock:
            self._runs.pop(job_id, None)
            self._durations.pop(job_id, None)
            self._outcomes.pop(job_id, None)
            self._finished.pop(job_id, None)

    def collecting(self, job_id: str) -> bool:
        """Whether a run of this job has not ended yet (as of the last `settle`)."""
        with self._lock:
            return job_id in self._runs

    def finished_at(self, job_id: str) -> float | None:
        """When the job's last run ended (monotonic), None if it never ended or runs again."""
        with self._lock:
            return self._finished.get(job_id)

    def _override(
        self, table: dict[str, _T], job_id: str, value: _T | None, check: Callable[[_T], None]
    ) -> None:
        """Set (after `check`) or, with None, drop one job's override in `table`."""
        with self._lock:
            if value is None:
                table.pop(job_id, None)
            else:
                check(value)
                table[job_id] = value

    def _finish_time(self, run: Run) -> float:
        return run.started + self._durations.get(run.job.id, run.duration_s)


def _check_duration(seconds: float) -> None:
    if not seconds >= 0:  # also refuses NaN
        raise ValueError(f"a collect duration must be >= 0 s, got {seconds}")


def _check_outcome(outcome: str) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"a collection ends in one of {OUTCOMES}, not {outcome!r}")
