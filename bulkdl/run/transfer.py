"""One archive's download: skip it if complete, else stream it (resuming across retries,
replacing a stale copy), then extract it if asked; always a JobResult, never an exception.

The archive is written as a .part and renamed into place by `bulkdl.store.archive_file`;
what is left of a .part after a failure is removed here.
"""

from __future__ import annotations

import functools
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import anyio

from bulkdl.cloud.session import ApiSession
from bulkdl.domain.errors import (
    BulkdlError,
    CorruptArchive,
    ResumeRejected,
    TransferError,
    error_code,
    where,
)
from bulkdl.domain.models import ChildJob, Job, JobResult, JobStatus, Outcome
from bulkdl.domain.planner import DownloadTarget
from bulkdl.report.progress import Reporter
from bulkdl.run.record import now
from bulkdl.store.archive_file import ArchiveFile, Written, already_complete, discard, receive
from bulkdl.store.extract import extract_archive
from bulkdl.store.outdir import OutDir


async def already_on_disk(target: DownloadTarget, out: OutDir | None) -> bool:
    """What a run skips: the manifest recorded this archive and the file in OUT matches."""
    prev = target.previous
    return (
        prev is not None
        and out is not None
        and target.may_skip
        and await already_complete(
            out, target.job.group_id, target.final_path.name, prev.bytes, prev.sha256
        )
    )


class Transfer:
    """Downloads archives into one locked OUT through one API session."""

    def __init__(
        self,
        session: ApiSession,
        out: OutDir,
        reporter: Reporter,
        *,
        extract: bool,
        on_fatal: Callable[[BulkdlError], None],
    ) -> None:
        self.session = session
        self.out = out
        self.reporter = reporter
        self.extract = extract
        self._on_fatal = on_fatal

    async def download(self, target: DownloadTarget) -> JobResult:
        job = target.job
        stale = target.replaces
        base = JobResult(
            group_id=job.group_id,
            job_id=job.id,
            status=job.raw_status,
            outcome=Outcome.FAILED,
            path=str(target.final_path),
            started_at=now(),
            listed_size_bytes=job.uncompressed_size_bytes,
            creation_date=job.creation_date,
            previous_sha256=stale.sha256 if stale is not None else None,
            collection_range=job.collection_range,
        )
        prev = target.previous
        if prev is not None and await already_on_disk(target, self.out):
            skipped = replace(
                base,
                outcome=Outcome.SKIPPED,
                bytes=prev.bytes,
                sha256=prev.sha256,
                finished_at=now(),
                empty=prev.empty,
            )
            return await self._extract_kept(target, skipped)
        # Asked before the first byte: once the archive is renamed into place nothing may
        # stand between it and its manifest line (a Ctrl-C there would lose the line).
        failed_parts = await self._failed_parts(job)
        try:
            written, attempts = await self._fetch(target)
        except BulkdlError as exc:
            if self.session.fatal(exc):
                self._on_fatal(exc)
            return replace(
                base,
                attempts=exc.attempts,
                error=str(exc),
                error_code=error_code(exc),
                finished_at=now(),
            )
        done = replace(
            base,
            outcome=Outcome.DOWNLOADED if stale is None else Outcome.REPLACED,
            bytes=written.bytes,
            sha256=written.sha256,
            attempts=attempts,
            finished_at=now(),
            failed_parts=failed_parts,
            empty=written.empty,
        )
        if written.empty:
            self.reporter.warn(
                f"{where(job.group_id, job.id)}: the archive is empty (the job collected no "
                "logs: nothing in its window?); kept, recorded with empty: true"
            )
        return await self._extract_new(job, done) if self.extract else done

    async def _fetch(self, target: DownloadTarget) -> tuple[Written, int]:
        """Stream the archive under the retry policy, each attempt resuming the .part."""
        job = target.job
        client = self.session.client
        settings = self.session.settings
        file = ArchiveFile(
            self.out, job.group_id, target.final_path.name, check_gzip=settings.check_gzip
        )
        reported = 0  # bytes shown in progress for this job
        judged: set[str] = set()  # sha256 of bodies the archive check refused

        def on_bytes(n: int) -> None:
            nonlocal reported
            reported += n
            self.reporter.progress(target, n)

        async def attempt(_n: int) -> Written:
            nonlocal reported
            # Rewind the progress display to what the .part really holds.
            self.reporter.progress(target, file.written - reported)
            reported = file.written
            try:
                async with client.open_download(
                    job, resume_from=file.written, validator=file.validator
                ) as body:
                    self.reporter.started(target, body.total_length)  # again after a retry
                    file.validator = body.validator
                    return await receive(
                        body.chunks,
                        file=file,
                        start=body.start,
                        total_length=body.total_length,
                        on_bytes=on_bytes,
                        verify=self.session.settings.verify,
                    )
            except ResumeRejected:
                await discard(file)
                raise
            except CorruptArchive as exc:
                exc.repeated = exc.sha256 in judged  # the same bytes again: not retried
                judged.add(exc.sha256 or "")
                raise

        def on_retry(exc: BulkdlError, n: int, delay: float) -> None:
            self.reporter.retrying(str(exc), n, delay, target, self.session.policy.attempts)

        try:
            return await self.session.attempts(job.group_id, attempt, on_retry=on_retry)
        except BulkdlError:
            self.reporter.progress(target, -reported)
            raise
        finally:
            await discard(file)  # whatever is left of a .part (nothing after a rename)

    async def _failed_parts(self, job: Job) -> tuple[ChildJob, ...]:
        """A FAILURE job's failed host parts, for its manifest line: the archive lacks them.

        One verbose GET per FAILURE job (listings stay lean); () with a warning if it fails.
        """
        if job.status is not JobStatus.FAILURE:
            return ()
        if job.child_jobs is not None:
            return job.failed_parts
        client = self.session.client
        try:
            detailed: Job = await self.session.call(
                job.group_id, lambda: client.get_job(job.group_id, job.id, verbose=True)
            )
        except BulkdlError as exc:
            self.reporter.warn(f"{where(job.group_id, job.id)}: no failed parts ({exc})")
            return ()
        return detailed.failed_parts

    async def _extract_new(self, job: Job, done: JobResult) -> JobResult:
        """--extract: unpack the archive just downloaded; its failure fails the job."""
        try:
            dest = await self._unpack(job)
        except TransferError as exc:
            return replace(done, outcome=Outcome.FAILED, error=str(exc), error_code=error_code(exc))
        return replace(done, extracted_path=str(dest))

    async def _extract_kept(self, target: DownloadTarget, kept: JobResult) -> JobResult:
        """--extract on an archive already on disk: unpack it unless its folder is there."""
        dest = target.final_path.with_name(target.job.id)
        if not self.extract:
            return kept
        if await anyio.to_thread.run_sync(_is_real_dir, dest):
            return replace(kept, extracted_path=str(dest))
        try:
            await self._unpack(target.job)
        except TransferError as exc:
            return replace(kept, outcome=Outcome.FAILED, error=str(exc), error_code=error_code(exc))
        self.reporter.note(f"extracted {target.final_path} into {dest}/ (downloaded earlier)")
        return replace(kept, extracted_path=str(dest))

    async def _unpack(self, job: Job) -> Path:
        """Extract in a thread; each member the data filter refused is named in a warning."""
        ratio = self.session.settings.extract_max_ratio
        done = await anyio.to_thread.run_sync(
            functools.partial(extract_archive, self.out, job.group_id, job.id, max_ratio=ratio)
        )
        for member in done.refused:
            self.reporter.warn(f"{where(job.group_id, job.id)}: not extracted: {member}")
        return done.path


def _is_real_dir(path: Path) -> bool:
    """A folder that is not a link (a planted link is left to extract_archive to refuse)."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False
