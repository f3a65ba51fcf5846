"""One download run: list every group, plan, stream every archive, record every outcome.

Listing (bounded) and downloading overlap: a group's archives start as soon as its listing is
in. A fixed pool of `concurrency` workers takes targets from a GroupQueue, which also enforces
`per_group_concurrency`. Expected failures become JobResults (a group's or a job's), never
exceptions that cancel the others; only a rejected key (or no server at all) ends the run.
"""

from __future__ import annotations

import shutil
import signal
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import anyio

from bulkdl.api import CloudManagerClient, is_fatal
from bulkdl.config import Settings
from bulkdl.errors import BulkdlError, ConfigError, NetworkError, ResumeRejected
from bulkdl.manifest import ManifestWriter, read_previous
from bulkdl.models import GroupId, Job, JobResult, Outcome
from bulkdl.pacing import GroupPacer, retrying
from bulkdl.planner import DownloadTarget, NotDownloadable, Recorded, plan_group
from bulkdl.progress import Reporter
from bulkdl.scheduler import GroupQueue
from bulkdl.sink import (
    PartProgress,
    Written,
    already_complete,
    make_private_dir,
    receive,
    remove_part,
)
from bulkdl.summary import RunSummary, human_bytes


@dataclass(frozen=True, slots=True)
class RunResult:
    summary: RunSummary
    requests_sent: int


def _now() -> datetime:
    return datetime.now(UTC)


def prepare_out_dir(out_dir: Path) -> None:
    """Create the output folder (0700) and prove we can write into it; ConfigError if not."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"output path {out_dir} exists and is not a directory")
    try:
        make_private_dir(out_dir)
    except OSError as exc:
        raise ConfigError(
            f"output directory {out_dir}: cannot create it ({exc.strerror})"
        ) from None
    probe = out_dir / ".bulkdl-write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"output directory {out_dir} is not writable ({exc.strerror})") from None


def free_bytes(path: Path) -> int:
    """Free space on the filesystem holding `path` (blocking)."""
    return shutil.disk_usage(path).free


class Run:
    """The state of one run: settings, client, manifest, reporter and the running summary."""

    def __init__(self, settings: Settings, reporter: Reporter) -> None:
        self.settings = settings
        self.reporter = reporter
        self.summary = RunSummary()
        self._previous: dict[str, Recorded] = {}
        self._queue: GroupQueue[DownloadTarget] = GroupQueue(settings.per_group_concurrency)
        self._scope = anyio.CancelScope()
        self._fatal: BulkdlError | None = None
        self._pacer = GroupPacer()
        self._policy = settings.retry_policy()
        self._listed_bytes = 0  # upper bound (uncompressed sizes) of what is still to download
        self._free_bytes: int | None = None
        self._space_warned = False

    async def execute(self, *, handle_signals: bool = False) -> RunResult:
        """Run to the end; raises the error that stopped the run from starting (exit 2).

        With handle_signals, SIGINT/SIGTERM stop it: nothing new starts, what is in flight is
        cancelled (its .part removed), and the summary comes back with interrupted=True.
        """
        s = self.settings
        await anyio.to_thread.run_sync(prepare_out_dir, s.out_dir)
        self._previous = await read_previous(s.out_dir)
        self._free_bytes = await anyio.to_thread.run_sync(free_bytes, s.out_dir)
        started = time.monotonic()
        client = CloudManagerClient(s, max_connections=s.concurrency + s.list_concurrency)
        try:
            async with (
                ManifestWriter(s.out_dir) as manifest,
                client,
                anyio.create_task_group() as outer,
            ):
                self._scope = outer.cancel_scope
                if handle_signals:
                    outer.start_soon(self._watch_signals)
                async with anyio.create_task_group() as work:
                    work.start_soon(self._list_all, client, manifest)
                    for n in range(s.concurrency):
                        work.start_soon(self._worker, client, manifest, name=f"worker {n}")
                outer.cancel_scope.cancel()  # all work done: stop watching for signals
        finally:
            self.summary.elapsed_s = time.monotonic() - started
        if self._fatal is not None:
            raise self._fatal
        return RunResult(self.summary, client.requests_sent)

    def interrupt(self) -> None:
        """Stop the run as Ctrl-C does."""
        self.summary.interrupted = True
        self._scope.cancel()

    def _abort(self, exc: BulkdlError) -> None:
        """An error that makes every other request pointless (a rejected key): stop everything."""
        if self._fatal is None:
            self._fatal = exc
        self._scope.cancel()

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                self.interrupt()
                return

    async def _record(self, manifest: ManifestWriter, result: JobResult) -> None:
        await manifest.write(result)
        self.summary.add(result)
        self.reporter.finished(result)

    async def _list_all(self, client: CloudManagerClient, manifest: ManifestWriter) -> None:
        limiter = anyio.CapacityLimiter(self.settings.list_concurrency)
        try:
            async with anyio.create_task_group() as tg:
                for group in self.settings.groups:
                    tg.start_soon(self._list_group, client, manifest, group, limiter)
        finally:
            self._queue.close()

    async def _list_group(
        self,
        client: CloudManagerClient,
        manifest: ManifestWriter,
        group: GroupId,
        limiter: anyio.CapacityLimiter,
    ) -> None:
        async with limiter:
            started = _now()

            async def list_once(attempt: int) -> list[Job]:
                return await client.list_jobs(group)

            def never_reached(exc: BulkdlError) -> bool:
                # Nothing answers at base_url at all: say so at once instead of retrying.
                return isinstance(exc, NetworkError) and not client.reached

            try:
                jobs, _ = await retrying(
                    list_once,
                    group=group,
                    policy=self._policy,
                    pacer=self._pacer,
                    on_retry=lambda exc, n, delay: self.reporter.retrying(str(exc), n, delay),
                    give_up=never_reached,
                )
            except BulkdlError as exc:
                if is_fatal(exc) or never_reached(exc):
                    self._abort(exc)
                    return
                failed = JobResult(
                    group_id=group,
                    job_id=None,
                    status=None,
                    outcome=Outcome.FAILED,
                    error=str(exc),
                    attempts=exc.attempts,
                    started_at=started,
                    finished_at=_now(),
                )
                await self._record(manifest, failed)
                return
        targets, unavailable = plan_group(jobs, self.settings.out_dir, self._previous)
        self.reporter.listed(group, len(jobs), len(targets))
        self._check_space(targets)
        for item in unavailable:
            await self._record(manifest, _not_downloadable(item))
        for target in targets:
            self._queue.put(group, target)

    def _check_space(self, targets: list[DownloadTarget]) -> None:
        """Warn once when the listed sizes (an upper bound) exceed the free space."""
        self._listed_bytes += sum(
            t.job.uncompressed_size_bytes or 0 for t in targets if t.previous is None
        )
        free = self._free_bytes
        if free is not None and not self._space_warned and self._listed_bytes > free:
            self._space_warned = True
            self.reporter.warn(
                f"the listed jobs hold up to {human_bytes(self._listed_bytes)} (uncompressed) "
                f"and {self.settings.out_dir} has {human_bytes(free)} free: "
                "the disk may fill up"
            )

    async def _worker(self, client: CloudManagerClient, manifest: ManifestWriter) -> None:
        while (ready := await self._queue.get()) is not None:
            group, target = ready
            try:
                result = await self._download(client, target)
            finally:
                self._queue.done(group)
            await self._record(manifest, result)

    async def _download(self, client: CloudManagerClient, target: DownloadTarget) -> JobResult:
        job = target.job
        base = JobResult(
            group_id=job.group_id,
            job_id=job.id,
            status=job.raw_status,
            outcome=Outcome.FAILED,
            path=str(target.final_path),
            started_at=_now(),
        )
        prev = target.previous
        if prev is not None and await already_complete(target.final_path, prev.bytes, prev.sha256):
            return replace(
                base,
                outcome=Outcome.SKIPPED,
                bytes=prev.bytes,
                sha256=prev.sha256,
                finished_at=_now(),
            )
        part = PartProgress()
        reported = 0  # bytes shown in progress for this job

        def on_bytes(n: int) -> None:
            nonlocal reported
            reported += n
            self.reporter.progress(target, n)

        async def attempt(n: int) -> Written:
            nonlocal reported
            # Rewind the progress display to what the .part really holds.
            self.reporter.progress(target, part.written - reported)
            reported = part.written
            try:
                async with client.open_download(
                    job, resume_from=part.written, validator=part.validator
                ) as body:
                    if n == 1:
                        self.reporter.started(target, body.total_length)
                    part.validator = body.validator
                    return await receive(
                        body.chunks,
                        final_path=target.final_path,
                        part_path=target.part_path,
                        start=body.start,
                        total_length=body.total_length,
                        progress=part,
                        on_bytes=on_bytes,
                        verify=self.settings.verify,
                    )
            except ResumeRejected:
                part.reset()
                await remove_part(target.part_path)
                raise

        try:
            written, attempts = await retrying(
                attempt,
                group=job.group_id,
                policy=self._policy,
                pacer=self._pacer,
                on_retry=lambda exc, n, delay: self.reporter.retrying(str(exc), n, delay),
            )
        except BulkdlError as exc:
            await remove_part(target.part_path)
            if is_fatal(exc):
                self._abort(exc)
            self.reporter.progress(target, -reported)
            return replace(base, attempts=exc.attempts, error=str(exc), finished_at=_now())
        return replace(
            base,
            outcome=Outcome.DOWNLOADED,
            bytes=written.bytes,
            sha256=written.sha256,
            attempts=attempts,
            finished_at=_now(),
        )


def _not_downloadable(item: NotDownloadable) -> JobResult:
    now = _now()
    return JobResult(
        group_id=item.job.group_id,
        job_id=item.job.id,
        status=item.job.raw_status,
        outcome=Outcome.NOT_DOWNLOADABLE,
        error=item.reason,
        started_at=now,
        finished_at=now,
    )
