"""Where every outcome of a run goes: its manifest line, the summary, the reporter.

Also the JobResults of outcomes that are no download's (a group that failed, a malformed id, a
job that cannot be downloaded), built the same way wherever the run meets them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from bulkdl.domain.errors import BulkdlError, DiskError, error_code
from bulkdl.domain.models import GroupId, JobId, JobResult, Malformed, Outcome
from bulkdl.domain.planner import NotDownloadable
from bulkdl.report.progress import Reporter
from bulkdl.report.summary import RunSummary
from bulkdl.store.manifest import ManifestWriter


def now() -> datetime:
    return datetime.now(UTC)


class Recorder:
    """Writes each result's manifest line, then counts and shows it."""

    def __init__(self, manifest: ManifestWriter, summary: RunSummary, reporter: Reporter) -> None:
        self.manifest = manifest
        self.summary = summary
        self.reporter = reporter

    async def record(self, result: JobResult) -> None:
        await self.record_many((result,))

    async def record_many(self, results: Sequence[JobResult]) -> None:
        """Each result's manifest line, written together (all there, or none), then counted
        and shown."""
        try:
            await self.manifest.write_many(results)
        except DiskError as exc:  # the lines are not there (cut back): these jobs did not succeed
            results = [_unrecorded(result, exc) for result in results]
        for result in results:
            self.summary.add(result)
            self.reporter.finished(result)


def _unrecorded(result: JobResult, exc: DiskError) -> JobResult:
    """A result whose manifest line could not be written: it did not succeed."""
    was = f"{result.outcome.value}, but " if result.outcome is not Outcome.FAILED else ""
    return replace(result, outcome=Outcome.FAILED, error=f"{was}{exc}")


def failed_line(error: str, group: str | None = None, job: JobId | None = None) -> JobResult:
    """A failure that is no download's: a --group or --job that selected nothing."""
    at = now()
    return JobResult(
        group_id=group or "",
        job_id=job,
        status=None,
        outcome=Outcome.FAILED,
        error=error,
        started_at=at,
        finished_at=at,
    )


def group_failed(
    group: GroupId, exc: BulkdlError, started: datetime, job: JobId | None = None
) -> JobResult:
    """A group (or the job waited for in it) that failed before any download."""
    return JobResult(
        group_id=group,
        job_id=job,
        status=None,
        outcome=Outcome.FAILED,
        error=str(exc),
        error_code=error_code(exc),
        attempts=exc.attempts,
        started_at=started,
        finished_at=now(),
    )


def malformed_result(bad: Malformed) -> JobResult:
    """The failed line of a listing entry skipped for its id: quoted, never a path."""
    at = now()
    in_group = bad.group_id is not None
    return JobResult(
        group_id=bad.group_id or "",
        job_id=None,
        status=None,
        outcome=Outcome.FAILED,
        error=bad.error,
        started_at=at,
        finished_at=at,
        raw_job_id=bad.raw_id if in_group else None,
        raw_group_id=None if in_group else bad.raw_id,
    )


def not_downloadable(item: NotDownloadable, at: datetime | None = None) -> JobResult:
    """A job the API will not serve; `at`: when its listing was read (one time per group)."""
    at = at or now()
    return JobResult(
        group_id=item.job.group_id,
        job_id=item.job.id,
        status=item.job.raw_status,
        outcome=Outcome.NOT_DOWNLOADABLE,
        error=item.reason,
        started_at=at,
        finished_at=at,
    )
