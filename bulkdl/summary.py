"""The end-of-run summary: counts, bytes, time, failures, and the exit status they imply (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bulkdl.errors import ExitStatus
from bulkdl.models import JobResult, Outcome


@dataclass(slots=True)
class RunSummary:
    """Accumulates job outcomes; `failures` holds one printable line per failed job or group."""

    created: int = 0
    downloaded: int = 0  # replaced ones included
    replaced: int = 0
    skipped: int = 0
    not_downloadable: int = 0
    failed: int = 0
    bytes: int = 0
    elapsed_s: float = 0.0
    interrupted: bool = False
    failures: list[str] = field(default_factory=list)

    def add(self, result: JobResult) -> None:
        if result.outcome is Outcome.CREATED:
            self.created += 1
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
            self.failures.append(describe_failure(result))

    @property
    def exit_status(self) -> ExitStatus:
        if self.interrupted:
            return ExitStatus.INTERRUPTED
        return ExitStatus.FAILED if self.failed else ExitStatus.OK

    @property
    def throughput_bps(self) -> float:
        return self.bytes / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "downloaded": self.downloaded,
            "replaced": self.replaced,
            "skipped": self.skipped,
            "notDownloadable": self.not_downloadable,
            "failed": self.failed,
            "bytes": self.bytes,
            "elapsedSeconds": round(self.elapsed_s, 3),
            "throughputBytesPerSecond": round(self.throughput_bps),
            "interrupted": self.interrupted,
            "exitCode": int(self.exit_status),
            "failures": self.failures,
        }

    def line(self) -> str:
        head = "interrupted" if self.interrupted else "done"
        created = f"{self.created} jobs created, " if self.created else ""
        replaced = f" ({self.replaced} replaced)" if self.replaced else ""
        return (
            f"{head}: {created}{self.downloaded} downloaded{replaced}, {self.skipped} skipped, "
            f"{self.not_downloadable} not downloadable, {self.failed} failed; "
            f"{human_bytes(self.bytes)} in {self.elapsed_s:.1f} s "
            f"({human_bytes(self.throughput_bps)}/s)"
        )


def describe_failure(result: JobResult) -> str:
    """One line naming the group (and job) and what went wrong."""
    if not result.group_id:  # a group listing entry with a malformed id: the error names it
        return result.error or "failed"
    what = f"group {result.group_id}" + (f" job {result.job_id}" if result.job_id else "")
    error = result.error or "failed"
    # Errors from the API layer already start with "group ...": do not say it twice.
    return error if error.startswith(what) else f"{what}: {error}"


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
