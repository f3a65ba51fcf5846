"""What the user sees while a run goes on. Core code talks to a Reporter; only this module
imports rich. On a TTY: a live display (overall jobs and bytes, one bar per active download).
Elsewhere: plain lines, no control codes. Quiet: errors only.
"""

from __future__ import annotations

from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from bulkdl.models import JobResult, Outcome
from bulkdl.planner import DownloadTarget
from bulkdl.summary import describe_failure


class Reporter(Protocol):
    """Events of a run, in the order they happen; implementations must be cheap per call."""

    def listed(self, group: str, jobs: int, to_download: int) -> None: ...
    def started(self, target: DownloadTarget, total_bytes: int | None) -> None: ...
    def progress(self, target: DownloadTarget, delta_bytes: int) -> None: ...
    def finished(self, result: JobResult) -> None: ...
    def retrying(self, error: str, attempt: int, delay_s: float) -> None: ...
    def note(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def close(self) -> None: ...


class PlainReporter:
    """One line per event on stderr, for logs and pipes; quiet=True keeps only failures."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self._console = console
        self._quiet = quiet

    def _say(self, text: str) -> None:
        self._console.print(text, markup=False, highlight=False, soft_wrap=True)

    def listed(self, group: str, jobs: int, to_download: int) -> None:
        if not self._quiet:
            self._say(f"group {group}: {jobs} jobs listed, {to_download} to download")

    def started(self, target: DownloadTarget, total_bytes: int | None) -> None:
        pass

    def progress(self, target: DownloadTarget, delta_bytes: int) -> None:
        pass

    def finished(self, result: JobResult) -> None:
        if result.outcome is Outcome.FAILED:
            self._say(f"error: {describe_failure(result)}")
        elif self._quiet:
            return
        elif result.outcome is Outcome.DOWNLOADED:
            self._say(f"downloaded {result.path} ({result.bytes} bytes)")
        elif result.outcome is Outcome.REPLACED:
            self._say(f"replaced {result.path} ({result.bytes} bytes; the listing changed)")
        elif result.outcome is Outcome.SKIPPED:
            self._say(f"skipped {result.path} (already complete)")
        elif result.outcome is Outcome.CREATED:
            self._say(f"created job {result.job_id} in group {result.group_id}")
        else:
            self._say(
                f"not downloadable: group {result.group_id} job {result.job_id}: {result.error}"
            )

    def retrying(self, error: str, attempt: int, delay_s: float) -> None:
        if not self._quiet:
            self._say(f"retrying in {delay_s:.1f} s (attempt {attempt} failed): {error}")

    def note(self, message: str) -> None:
        if not self._quiet:
            self._say(message)

    def warn(self, message: str) -> None:
        self._say(f"warning: {message}")

    def close(self) -> None:
        pass


class RichReporter(PlainReporter):
    """Live progress on a terminal; outcome lines print above the bars."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        super().__init__(console, quiet=quiet)
        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            refresh_per_second=5,
            transient=True,
        )
        self._overall = self._progress.add_task("all archives", total=0)
        self._jobs_total = 0
        self._jobs_done = 0
        self._bars: dict[str, TaskID] = {}
        self._progress.start()

    def _say(self, text: str) -> None:
        self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def _describe_overall(self) -> None:
        self._progress.update(
            self._overall, description=f"{self._jobs_done}/{self._jobs_total} archives"
        )

    def listed(self, group: str, jobs: int, to_download: int) -> None:
        super().listed(group, jobs, to_download)
        self._jobs_total += to_download
        self._describe_overall()

    def started(self, target: DownloadTarget, total_bytes: int | None) -> None:
        self._bars[target.job.id] = self._progress.add_task(
            f"{target.group_id[-6:]}/{target.job.id}", total=total_bytes
        )
        if total_bytes:
            total = self._progress.tasks[self._overall].total or 0
            self._progress.update(self._overall, total=total + total_bytes)

    def progress(self, target: DownloadTarget, delta_bytes: int) -> None:
        bar = self._bars.get(target.job.id)
        if bar is not None:
            self._progress.advance(bar, delta_bytes)
        self._progress.advance(self._overall, delta_bytes)

    def finished(self, result: JobResult) -> None:
        if result.job_id is not None and (bar := self._bars.pop(result.job_id, None)) is not None:
            self._progress.remove_task(bar)
        done = (Outcome.DOWNLOADED, Outcome.REPLACED, Outcome.SKIPPED, Outcome.FAILED)
        if result.outcome in done and (
            result.job_id is not None
        ):
            self._jobs_done += 1
            self._describe_overall()
        super().finished(result)

    def close(self) -> None:
        self._progress.stop()
