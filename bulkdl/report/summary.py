"""The end-of-run summary: counts, bytes, time, failures, and the exit status they imply (pure).

Its JSON shape (`to_json`) is documented field by field in `bulkdl.report.schema.SummaryDoc`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bulkdl.domain.errors import ExitStatus, where
from bulkdl.domain.models import CollectionRange, JobResult, Outcome
from bulkdl.domain.planner import MANIFEST_NAME
from bulkdl.report.schema import CreatedDoc, FailureDoc, SummaryDoc, WindowDoc

_DISK_FULL = "No space left on device"  # ENOSPC's strerror, as the archive writer reports it
DISK_FULL_HINT = " (hint: free space on that disk, or rerun with another --out: the rest resumes)"


def new_run_id() -> str:
    """Sortable and unique enough: UTC time to the second plus 6 random hex digits."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed job (or group, when job_id is None), as a runbook needs it."""

    group_id: str
    job_id: str | None
    error: str
    error_code: str | None

    def line(self) -> str:
        """One line naming the group (and job) and what went wrong."""
        if not self.group_id:  # a group listing entry with a malformed id: the error names it
            return self.error
        place = where(self.group_id, self.job_id)
        # An error raised about a group (the API's, a listing's) is recorded as its message,
        # which names the group with the same where(): do not say it twice.
        line = self.error if self.error.startswith(place) else f"{place}: {self.error}"
        return f"{line}{DISK_FULL_HINT}" if _DISK_FULL in self.error else line

    def to_json(self) -> FailureDoc:
        return {
            "groupId": self.group_id,
            "jobId": self.job_id,
            "error": self.error,
            "errorCode": self.error_code,
        }


@dataclass(slots=True)
class RunSummary:
    """Accumulates job outcomes for one run (identified by run_id, also on its manifest lines)."""

    out_dir: Path | None = None
    run_id: str = field(default_factory=new_run_id)
    created: int = 0
    downloaded: int = 0  # replaced ones included
    replaced: int = 0
    skipped: int = 0
    empty: int = 0  # downloaded or skipped archives that hold no logs (counted there too)
    not_downloadable: int = 0
    failed: int = 0
    bytes: int = 0
    elapsed_s: float = 0.0
    interrupted: bool = False
    failures: list[Failure] = field(default_factory=list)
    created_jobs: list[tuple[str, str]] = field(default_factory=list)  # (group id, job id)
    results: list[JobResult] = field(default_factory=list)  # every outcome, for `-o csv`
    window: CollectionRange | None = None  # collect --from/--to, resolved to UTC
    queued: int = 0  # archives handed to the downloaders
    transferred: int = 0  # of those, the ones that came to an outcome

    def add(self, result: JobResult) -> None:
        self.results.append(result)
        self.empty += result.empty and result.outcome is not Outcome.FAILED
        if result.outcome is Outcome.CREATED:
            self.created += 1
            if result.job_id is not None:
                self.created_jobs.append((result.group_id, result.job_id))
        elif result.outcome in (Outcome.DOWNLOADED, Outcome.REPLACED):
            self.downloaded += 1
            self.replaced += result.outcome is Outcome.REPLACED
            self.bytes += result.bytes or 0
        elif result.outcome is Outcome.SKIPPED:
            self.skipped += 1
        elif result.outcome is Outcome.NOT_DOWNLOADABLE:
            self.not_downloadable += 1
        else:
            self.failed += 1
            self.failures.append(failure_of(result))

    @property
    def exit_status(self) -> ExitStatus:
        if self.interrupted:
            return ExitStatus.INTERRUPTED
        return ExitStatus.FAILED if self.failed else ExitStatus.OK

    @property
    def throughput_bps(self) -> float:
        return self.bytes / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def left(self) -> int:
        """Archives queued that this run did not finish (an interrupt's count of what is left)."""
        return max(0, self.queued - self.transferred)

    def to_json(self) -> SummaryDoc:
        folder = self.out_dir.absolute() if self.out_dir is not None else None
        out = str(folder) if folder is not None else None
        manifest = str(folder / MANIFEST_NAME) if folder is not None else None
        created: list[CreatedDoc] = [{"groupId": g, "jobId": j} for g, j in self.created_jobs]
        return {
            "runId": self.run_id,
            "outDir": out,
            "manifest": manifest,
            "created": self.created,
            "createdJobs": created,
            "downloaded": self.downloaded,
            "replaced": self.replaced,
            "skipped": self.skipped,
            "empty": self.empty,
            "notDownloadable": self.not_downloadable,
            "failed": self.failed,
            "bytes": self.bytes,
            "elapsedSeconds": round(self.elapsed_s, 3),
            "throughputBytesPerSecond": round(self.throughput_bps),
            "interrupted": self.interrupted,
            "left": self.left,
            "window": window_doc(self.window),
            "exitCode": int(self.exit_status),
            "failures": [f.to_json() for f in self.failures],
        }

    def line(self) -> str:
        head = "interrupted" if self.interrupted else "done"
        created = f"{self.created} jobs created, " if self.created else ""
        replaced = f" ({self.replaced} replaced)" if self.replaced else ""
        replaced += f" ({self.empty} empty)" if self.empty else ""
        return (
            f"{head}: {created}{self.downloaded} downloaded{replaced}, {self.skipped} skipped, "
            f"{self.not_downloadable} not downloadable, {self.failed} failed; "
            f"{human_bytes(self.bytes)} in {human_duration(self.elapsed_s)} "
            f"({human_bytes(self.throughput_bps)}/s){self._left_part()}{self._where()}"
        )

    def _left_part(self) -> str:
        if not self.interrupted:
            return ""
        return f"; {self.left} archives left (run the same command again to finish)"

    def _where(self) -> str:
        """The folder and its manifest, absolute: what the SRE opens next."""
        if self.out_dir is None:
            return ""
        folder = self.out_dir.absolute()
        return f"; in {folder} (manifest {folder / MANIFEST_NAME})"


def window_doc(window: CollectionRange | None) -> WindowDoc | None:
    if window is None:
        return None
    start, end = window.to_json().values()
    return {"logCollectionFromDate": start, "logCollectionToDate": end}


def failure_of(result: JobResult) -> Failure:
    return Failure(result.group_id, result.job_id, result.error or "failed", result.error_code)


def describe_failure(result: JobResult) -> str:
    """One line naming the group (and job) and what went wrong."""
    return failure_of(result).line()


def human_bytes(n: float) -> str:
    """Binary units everywhere (live display, summary, README): 1 MiB = 1024 KiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    """12.3 s, 4 m 05 s, 1 h 02 m: short enough for a progress line."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"
