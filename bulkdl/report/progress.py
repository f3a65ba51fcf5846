"""What the user sees while a run goes on. Core code talks to a Reporter. Here: plain lines, no
control codes (off a terminal, and under --quiet: warnings and errors only); the live display
of a terminal is live.py's, imported only when it is shown. Sizes in binary units (KiB, MiB),
as in the summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Final, Protocol

from rich.console import Console

from bulkdl.domain.models import JobResult, Outcome
from bulkdl.domain.planner import DownloadTarget
from bulkdl.domain.printable import shown
from bulkdl.report.summary import describe_failure, human_bytes

STALLED_AFTER_S: Final = 2.0  # a bar with no bytes for this long says "stalled", not a rate


class Reporter(Protocol):
    """Events of a run, in the order they happen; implementations must be cheap per call."""

    def planned(self, groups: Mapping[str, str | None]) -> None: ...
    def listed(
        self, group: str, jobs: int, to_download: int, unavailable: Sequence[str] = ()
    ) -> None: ...
    def started(self, target: DownloadTarget, total_bytes: int | None) -> None: ...
    def progress(self, target: DownloadTarget, delta_bytes: int) -> None: ...
    def finished(self, result: JobResult) -> None: ...
    def retrying(
        self,
        error: str,
        attempt: int,
        delay_s: float,
        target: DownloadTarget | None = None,
        attempts: int | None = None,
    ) -> None: ...
    def note(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def close(self) -> None: ...


def unavailable_counts(statuses: Sequence[str]) -> str:
    """'2 EXPIRED, 1 IN_PROGRESS': the not-downloadable jobs of a group, in one phrase."""
    return ", ".join(f"{n} {status}" for status, n in sorted(Counter(statuses).items()))


class PlainReporter:
    """One line per event on stderr, for logs and pipes; quiet=True keeps only failures.

    Jobs that are not downloadable are counted in their group's line; verbose=True also names
    each one (the manifest always does).
    """

    def __init__(self, console: Console, *, quiet: bool = False, verbose: bool = False) -> None:
        self._console = console
        self._quiet = quiet
        self._verbose = verbose
        self._names: dict[str, str] = {}

    def _say(self, text: str) -> None:
        # One write, not Console.print: rich lays out every line as Text and segments, ~80 us a
        # line (0.16 s of CPU for 2,000 archives), for lines that have no markup and no style.
        # Server text in it (names, errors) is escaped by the one rule, domain.printable.
        self._console.file.write(f"{shown(text)}\n")

    def label(self, group: str) -> str:
        """A group as people know it: its name when discovery told us, else its full id."""
        name = self._names.get(group)
        return f"{name} ({group})" if name else group

    def planned(self, groups: Mapping[str, str | None]) -> None:
        self._names.update({g: shown(name) for g, name in groups.items() if name})

    def listed(
        self, group: str, jobs: int, to_download: int, unavailable: Sequence[str] = ()
    ) -> None:
        if self._quiet:
            return
        line = f"group {self.label(group)}: {jobs} jobs listed, {to_download} to download"
        if unavailable:
            line += f"; not downloadable: {unavailable_counts(unavailable)}"
        self._say(line)

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
            self._say(f"downloaded {result.path} ({human_bytes(result.bytes or 0)})")
        elif result.outcome is Outcome.REPLACED:
            size = human_bytes(result.bytes or 0)
            self._say(f"replaced {result.path} ({size}; the listing changed)")
        elif result.outcome is Outcome.SKIPPED:
            self._say(f"skipped {result.path} (already complete)")
        elif result.outcome is Outcome.CREATED:
            self._say(f"created job {result.job_id} in group {self.label(result.group_id)}")
        elif self._verbose:
            self._say(
                f"not downloadable: group {result.group_id} job {result.job_id}: {result.error}"
            )

    def retrying(
        self,
        error: str,
        attempt: int,
        delay_s: float,
        target: DownloadTarget | None = None,
        attempts: int | None = None,
    ) -> None:
        if not self._quiet:
            of = f"/{attempts}" if attempts else ""
            self._say(f"retrying (attempt {attempt + 1}{of}) in {delay_s:.1f} s: {error}")

    def note(self, message: str) -> None:
        if not self._quiet:
            self._say(message)

    def warn(self, message: str) -> None:
        self._say(f"warning: {message}")

    def close(self) -> None:
        pass
