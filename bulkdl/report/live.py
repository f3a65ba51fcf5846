"""The live display on a terminal: every planned archive counted from the start, elapsed time,
one bar per active download that says when it is stalled or waiting to retry. Kept apart from
progress.py so that plain and quiet runs never import rich's progress machinery.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Final

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID
from rich.table import Column
from rich.text import Text

from bulkdl.domain.models import JobResult, Outcome
from bulkdl.domain.planner import DownloadTarget
from bulkdl.domain.printable import shown
from bulkdl.report.progress import STALLED_AFTER_S, PlainReporter
from bulkdl.report.summary import human_bytes, human_duration

_LISTING_GROUPS: Final = ", listing groups"  # the overall line until every group is listed
NARROW: Final = 100  # below this many columns, bars carry only the job id and a short bar


def _cell() -> Column:
    """Every cell on one line: a redraw that wraps scrolls the screen on every refresh."""
    return Column(no_wrap=True, overflow="ellipsis")


def _archives(task: Task) -> str:
    total = f"{task.total:.0f}" if task.fields["listing"] != _LISTING_GROUPS else "?"
    return f"{task.completed:.0f}/{total} archives, {human_bytes(task.fields['bytes'])}"


class _LabelColumn(ProgressColumn):
    """A bar: its group and job (narrow: the job id alone, never cut). Overall: `all`, or on a
    narrow terminal the archive count, which the size column has no room for there."""

    def render(self, task: Task) -> Text:
        if task.fields.get("overall") and task.fields.get("narrow"):
            return Text(_archives(task))
        return Text(task.description)


class _SizeColumn(ProgressColumn):
    """Overall: archives done of planned, and bytes so far. A bar: bytes of its archive."""

    def render(self, task: Task) -> Text:
        narrow = task.fields.get("narrow")
        if task.fields.get("overall"):
            return Text("" if narrow else _archives(task))
        if narrow:
            return Text(human_bytes(task.completed))
        of = human_bytes(task.total) if task.total else "?"
        return Text(f"{human_bytes(task.completed)}/{of}")


class _StateColumn(ProgressColumn):
    """Overall: elapsed time and average rate. A bar: its rate, or why it has none."""

    def render(self, task: Task) -> Text:
        now = time.monotonic()
        if task.fields.get("overall"):
            elapsed = now - task.fields["since"]
            rate = task.fields["bytes"] / elapsed if elapsed > 0 else 0.0
            listing = task.fields.get("listing", "")
            if task.fields.get("narrow"):
                return Text(f"{human_bytes(rate)}/s {human_duration(elapsed)}")
            return Text(f"{human_bytes(rate)}/s, elapsed {human_duration(elapsed)}{listing}")
        retry = task.fields.get("retry")
        if retry is not None and now < retry[2]:
            attempt, attempts, until = retry
            of = f"/{attempts}" if attempts else ""
            return Text(f"retry {attempt}{of} in {until - now:.0f} s", style="yellow")
        silent = now - task.fields["last_data"]
        if silent >= STALLED_AFTER_S:
            return Text(f"stalled {silent:.0f} s", style="yellow")
        # The average since the bar started: a burst out of a buffer is not a rate.
        running = now - task.fields["since"]
        return Text(f"{human_bytes(task.completed / running)}/s" if running >= 1 else "starting")


class RichReporter(PlainReporter):
    """Live progress on a terminal; outcome lines print above the bars."""

    def __init__(self, console: Console, *, quiet: bool = False, verbose: bool = False) -> None:
        super().__init__(console, quiet=quiet, verbose=verbose)
        self._narrow = console.width < NARROW
        self._progress = Progress(
            _LabelColumn(table_column=_cell()),
            BarColumn(bar_width=4 if self._narrow else 20, table_column=_cell()),
            _SizeColumn(table_column=_cell()),
            _StateColumn(table_column=_cell()),
            console=console,
            refresh_per_second=4,
            transient=True,
        )
        self._overall = self._progress.add_task(
            "all",
            total=0,
            overall=True,
            bytes=0,
            since=time.monotonic(),
            listing=_LISTING_GROUPS,
            narrow=self._narrow,
        )
        self._groups_planned = 0
        self._groups_listed = 0
        self._archives_planned = 0
        self._archives_done = 0
        self._bytes = 0
        self._bars: dict[tuple[str, str | None], TaskID] = {}
        self._progress.start()

    def _say(self, text: str) -> None:
        self._progress.console.print(shown(text), markup=False, highlight=False, soft_wrap=True)

    def _update_listing(self) -> None:
        waiting = self._groups_planned - self._groups_listed
        listing = (
            f", listing {self._groups_listed}/{self._groups_planned} groups" if waiting > 0 else ""
        )
        self._progress.update(self._overall, listing=listing)

    def planned(self, groups: Mapping[str, str | None]) -> None:
        super().planned(groups)
        self._groups_planned = len(groups)
        self._update_listing()

    def listed(
        self, group: str, jobs: int, to_download: int, unavailable: Sequence[str] = ()
    ) -> None:
        super().listed(group, jobs, to_download, unavailable)
        self._groups_listed += 1
        self._archives_planned += to_download
        self._progress.update(self._overall, total=self._archives_planned)
        self._update_listing()

    def _bar(self, target: DownloadTarget) -> TaskID:
        """The job's bar, created when its first response (or first retry) comes."""
        bar = self._bars.get((target.group_id, target.job.id))
        if bar is None:
            name = self._names.get(target.group_id) or target.group_id
            label = target.job.id if self._narrow else f"{name} {target.job.id}"
            now = time.monotonic()
            bar = self._progress.add_task(label, total=None, since=now, last_data=now, retry=None)
            self._bars[target.group_id, target.job.id] = bar
        return bar

    def started(self, target: DownloadTarget, total_bytes: int | None) -> None:
        """Called per attempt that got a response: the size is known from then on."""
        self._progress.update(self._bar(target), total=total_bytes, last_data=time.monotonic())

    def progress(self, target: DownloadTarget, delta_bytes: int) -> None:
        bar = self._bars.get((target.group_id, target.job.id))
        if bar is not None:
            self._progress.update(bar, advance=delta_bytes, last_data=time.monotonic(), retry=None)
        self._bytes += delta_bytes
        self._progress.update(self._overall, bytes=self._bytes)

    def retrying(
        self,
        error: str,
        attempt: int,
        delay_s: float,
        target: DownloadTarget | None = None,
        attempts: int | None = None,
    ) -> None:
        if target is None:  # the API's (a listing's) retry: no bar to show it, so a line
            super().retrying(error, attempt, delay_s, target, attempts)
            return
        # An archive's retry shows in its bar; a line comes only if it finally fails.
        bar = self._bar(target)
        until = time.monotonic() + delay_s
        # Silence while waiting to retry is not a stall: the clock restarts after the wait.
        self._progress.update(bar, retry=(attempt + 1, attempts, until), last_data=until)

    def finished(self, result: JobResult) -> None:
        if result.job_id is None or result.outcome is Outcome.CREATED:
            # A group that could not be listed, or one where `collect` created a job: done
            # with listing either way.
            self._groups_listed += 1
            self._update_listing()
        if (
            result.job_id is not None
            and (bar := self._bars.pop((result.group_id, result.job_id), None)) is not None
        ):
            self._progress.remove_task(bar)
        done = (Outcome.DOWNLOADED, Outcome.REPLACED, Outcome.SKIPPED, Outcome.FAILED)
        if result.outcome in done and (result.job_id is not None):
            self._archives_done += 1
            # Jobs waited for (--wait, collect) were not in a listing's count: count them now.
            self._archives_planned = max(self._archives_planned, self._archives_done)
            self._progress.update(
                self._overall, completed=self._archives_done, total=self._archives_planned
            )
        super().finished(result)

    def close(self) -> None:
        self._progress.stop()
