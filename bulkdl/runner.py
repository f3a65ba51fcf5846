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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio

from bulkdl.api import CloudManagerClient, is_fatal
from bulkdl.config import Settings
from bulkdl.errors import (
    BulkdlError,
    ConfigError,
    DiskError,
    NetworkError,
    ResumeRejected,
    TransferError,
    error_code,
)
from bulkdl.extract import extract_archive
from bulkdl.manifest import ManifestWriter, read_previous
from bulkdl.models import GroupId, Job, JobId, JobResult, JobStatus, Outcome
from bulkdl.pacing import GroupPacer, retrying
from bulkdl.planner import DownloadTarget, NotDownloadable, Recorded, plan_group, plan_job
from bulkdl.progress import Reporter
from bulkdl.scheduler import GroupQueue
from bulkdl.selection import JobFilter, choose_groups
from bulkdl.sink import (
    PartProgress,
    Written,
    already_complete,
    make_private_dir,
    receive,
    remove_part,
)
from bulkdl.summary import RunSummary, human_bytes

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """What a run does beyond `bulkdl download`'s defaults."""

    filter: JobFilter = field(default_factory=JobFilter)
    wait: bool = False  # poll IN_PROGRESS jobs until they finish, then download them
    timeout_s: float = 3600.0  # how long to wait for a job at most
    collect: dict[str, Any] | None = None  # create one job per group with this POST body
    download: bool = True  # False: `bulkdl collect` without --download
    dry_run: bool = False  # list and plan; no POST, no download
    extract: bool = False  # unpack each verified archive to OUT/<groupId>/<jobId>/


@dataclass(slots=True)
class GroupPlan:
    """What a dry run found for one group."""

    group_id: str
    statuses: dict[str, int] = field(default_factory=dict)
    to_download: int = 0
    bytes_upper_bound: int = 0
    would_create: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    summary: RunSummary
    requests_sent: int
    plan: list[GroupPlan] = field(default_factory=list)
    free_bytes: int | None = None


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

    def __init__(
        self, settings: Settings, reporter: Reporter, options: RunOptions | None = None
    ) -> None:
        self.settings = settings
        self.reporter = reporter
        self.options = options or RunOptions()
        self.plan: list[GroupPlan] = []
        self.summary = RunSummary(out_dir=settings.out_dir)
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
        if not self.options.dry_run:
            await anyio.to_thread.run_sync(prepare_out_dir, s.out_dir)
            self._previous = await read_previous(s.out_dir)
        self._free_bytes = await anyio.to_thread.run_sync(free_bytes, _existing_parent(s.out_dir))
        started = time.monotonic()
        client = CloudManagerClient(
            s,
            max_connections=s.concurrency + s.list_concurrency,
            budget=s.request_budget(),
        )
        try:
            async with (
                ManifestWriter(
                    s.out_dir, enabled=not self.options.dry_run, run_id=self.summary.run_id
                ) as manifest,
                client,
                anyio.create_task_group() as outer,
            ):
                self._scope = outer.cancel_scope
                if handle_signals:
                    outer.start_soon(self._watch_signals)
                groups = await self._resolve_groups(client)
                if groups:
                    async with anyio.create_task_group() as work:
                        work.start_soon(self._produce_all, client, manifest, groups)
                        for n in range(s.concurrency):
                            work.start_soon(self._worker, client, manifest, name=f"worker {n}")
                outer.cancel_scope.cancel()  # all work done: stop watching for signals
        finally:
            self.summary.elapsed_s = time.monotonic() - started
        if self._fatal is not None:
            raise self._fatal
        return RunResult(self.summary, client.requests_sent, self.plan, self._free_bytes)

    async def _resolve_groups(self, client: CloudManagerClient) -> list[GroupId]:
        """The configured groups, or every group the key can see (narrowed by org and name)."""
        s = self.settings
        if not s.discover:
            self.reporter.planned(dict.fromkeys(s.groups))
            return list(s.groups)
        try:
            found = await self._api(client, GroupId(""), lambda: client.list_groups(s.org))
            chosen = choose_groups(s, found)
        except BulkdlError as exc:
            self._abort(exc)
            return []
        names = {g.id: g.name for g in found}
        self.reporter.planned({g: names.get(g) for g in chosen})
        self.reporter.note(f"{len(chosen)} groups selected")
        return chosen

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
        try:
            await manifest.write(result)
        except DiskError as exc:  # without a manifest the run cannot report honestly: stop
            self._abort(exc)
        self.summary.add(result)
        self.reporter.finished(result)

    async def _produce_all(
        self, client: CloudManagerClient, manifest: ManifestWriter, groups: list[GroupId]
    ) -> None:
        """Find (or create) every group's jobs and queue what is downloadable."""
        try:
            async with anyio.create_task_group() as tg:
                for group in groups:
                    tg.start_soon(self._produce_group, client, manifest, group, tg)
        finally:
            self._queue.close()

    def _never_reached(self, client: CloudManagerClient) -> Callable[[BulkdlError], bool]:
        def check(exc: BulkdlError) -> bool:
            # Nothing answers at base_url at all: say so at once instead of retrying.
            return isinstance(exc, NetworkError) and not client.reached

        return check

    async def _api(
        self, client: CloudManagerClient, group: GroupId, call: Callable[[], Awaitable[T]]
    ) -> T:
        """One API operation under the retry policy (give up at once if nothing answers)."""
        result, _ = await retrying(
            lambda _attempt: call(),
            group=group,
            policy=self._policy,
            pacer=self._pacer,
            on_retry=lambda exc, n, delay: self.reporter.retrying(str(exc), n, delay),
            give_up=self._never_reached(client),
        )
        return result

    async def _group_failed(
        self,
        manifest: ManifestWriter,
        client: CloudManagerClient,
        group: GroupId,
        exc: BulkdlError,
        started: datetime,
        job: str | None = None,
    ) -> None:
        if is_fatal(exc) or self._never_reached(client)(exc):
            self._abort(exc)
            return
        failed = JobResult(
            group_id=group,
            job_id=job,
            status=None,
            outcome=Outcome.FAILED,
            error=str(exc),
            error_code=error_code(exc),
            attempts=exc.attempts,
            started_at=started,
            finished_at=_now(),
        )
        if self.options.dry_run:
            self.plan.append(GroupPlan(group, error=str(exc)))
        await self._record(manifest, failed)

    async def _produce_group(
        self,
        client: CloudManagerClient,
        manifest: ManifestWriter,
        group: GroupId,
        tg: anyio.abc.TaskGroup,
    ) -> None:
        opts = self.options
        started = _now()
        if opts.collect is not None:
            if opts.dry_run:
                self.plan.append(GroupPlan(group, would_create=opts.collect))
                return
            try:
                new_id: JobId = await self._api(
                    client, group, lambda: client.create_job(group, opts.collect or {})
                )
            except BulkdlError as exc:
                await self._group_failed(manifest, client, group, exc, started)
                return
            await self._record(
                manifest,
                JobResult(
                    group_id=group,
                    job_id=new_id,
                    status=JobStatus.IN_PROGRESS.value,
                    outcome=Outcome.CREATED,
                    attempts=1,
                    started_at=started,
                    finished_at=_now(),
                ),
            )
            if opts.wait:
                tg.start_soon(self._wait_then_queue, client, manifest, group, new_id)
            return
        try:
            jobs: list[Job] = await self._api(client, group, lambda: client.list_jobs(group))
        except BulkdlError as exc:
            await self._group_failed(manifest, client, group, exc, started)
            return
        jobs = [j for j in jobs if opts.filter.matches(j)]
        waiting = [j for j in jobs if opts.wait and j.status is JobStatus.IN_PROGRESS]
        ready = [j for j in jobs if j not in waiting]
        targets, unavailable = plan_group(ready, self.settings.out_dir, self._previous)
        self.reporter.listed(
            group, len(jobs), len(targets), [u.job.raw_status for u in unavailable]
        )
        if opts.dry_run:
            self.plan.append(_group_plan(group, jobs, targets, waiting))
            return
        self._check_space(targets)
        for item in unavailable:
            await self._record(manifest, _not_downloadable(item))
        if opts.download:
            for target in targets:
                self._queue.put(group, target)
        for job in waiting:
            tg.start_soon(self._wait_then_queue, client, manifest, group, job.id)

    async def _wait_then_queue(
        self,
        client: CloudManagerClient,
        manifest: ManifestWriter,
        group: GroupId,
        job_id: JobId,
    ) -> None:
        """Poll one job until it leaves IN_PROGRESS, then queue its download at once."""
        started = _now()
        deadline = time.monotonic() + self.options.timeout_s
        interval = self.settings.poll_interval_s
        while True:
            try:
                job: Job = await self._api(client, group, lambda: client.get_job(group, job_id))
            except BulkdlError as exc:
                await self._group_failed(manifest, client, group, exc, started, job_id)
                return
            if job.status is not JobStatus.IN_PROGRESS:
                break
            if time.monotonic() + interval > deadline:
                await self._record(
                    manifest,
                    JobResult(
                        group_id=group,
                        job_id=job_id,
                        status=job.raw_status,
                        outcome=Outcome.FAILED,
                        started_at=started,
                        finished_at=_now(),
                        error=f"still IN_PROGRESS after waiting {self.options.timeout_s:g} s",
                    ),
                )
                return
            await anyio.sleep(interval)
            interval = min(30.0, interval * 1.5)
        self.reporter.note(f"group {group} job {job_id} finished: {job.raw_status}")
        planned = plan_job(job, self.settings.out_dir, self._previous)
        if isinstance(planned, NotDownloadable):
            await self._record(manifest, _not_downloadable(planned))
        elif self.options.download:
            self._check_space([planned])
            self._queue.put(group, planned)

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
            with anyio.CancelScope(shield=True):  # an archive on disk always gets its line
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
                    self.reporter.started(target, body.total_length)  # again after a retry
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
                on_retry=lambda exc, n, delay: self.reporter.retrying(
                    str(exc), n, delay, target, self._policy.attempts
                ),
            )
        except BulkdlError as exc:
            await remove_part(target.part_path)
            if is_fatal(exc):
                self._abort(exc)
            self.reporter.progress(target, -reported)
            return replace(
                base,
                attempts=exc.attempts,
                error=str(exc),
                error_code=error_code(exc),
                finished_at=_now(),
            )
        done = replace(
            base,
            outcome=Outcome.DOWNLOADED,
            bytes=written.bytes,
            sha256=written.sha256,
            attempts=attempts,
            finished_at=_now(),
        )
        if not self.options.extract:
            return done
        dest = target.final_path.with_name(job.id)
        try:
            await anyio.to_thread.run_sync(extract_archive, target.final_path, dest)
        except TransferError as exc:
            return replace(done, outcome=Outcome.FAILED, error=str(exc), error_code=error_code(exc))
        return replace(done, extracted_path=str(dest))


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


def _existing_parent(path: Path) -> Path:
    """The nearest folder that exists, to ask for free space before `path` is created."""
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate
    return Path.cwd()


def _group_plan(
    group: GroupId, jobs: list[Job], targets: list[DownloadTarget], waiting: list[Job]
) -> GroupPlan:
    plan = GroupPlan(group)
    for job in jobs:
        plan.statuses[job.raw_status] = plan.statuses.get(job.raw_status, 0) + 1
    fresh = [t for t in targets if t.previous is None]
    plan.to_download = len(fresh) + len(waiting)
    plan.bytes_upper_bound = sum(
        j.uncompressed_size_bytes or 0 for j in [*(t.job for t in fresh), *waiting]
    )
    return plan
