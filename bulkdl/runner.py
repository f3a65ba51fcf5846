"""One download run: list every group, plan, stream every archive, record every outcome.

Listing (bounded) and downloading overlap: a group's archives start as soon as its listing is
in. A fixed pool of `concurrency` workers takes targets from a GroupQueue, which also enforces
`per_group_concurrency`. Expected failures become JobResults (a group's or a job's), never
exceptions that cancel the others; only a rejected key (or no server at all) ends the run.
"""

from __future__ import annotations

import shutil
import signal
import stat
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
    DiskError,
    NetworkError,
    ResumeRejected,
    TransferError,
    error_code,
)
from bulkdl.extract import extract_archive
from bulkdl.manifest import ManifestWriter, created_earlier, read_previous, request_fingerprint
from bulkdl.models import (
    ChildJob,
    CollectionRange,
    GroupId,
    Job,
    JobId,
    JobResult,
    JobStatus,
    Malformed,
    Outcome,
)
from bulkdl.outdir import OutDir, open_folder
from bulkdl.pacing import GroupPacer, retrying
from bulkdl.planner import DownloadTarget, NotDownloadable, Recorded, plan_group, plan_job
from bulkdl.progress import Reporter
from bulkdl.scheduler import GroupQueue
from bulkdl.selection import JobFilter, choose_groups, parse_api_date, unmatched_jobs
from bulkdl.sink import ArchiveFile, Written, already_complete, discard, receive
from bulkdl.summary import RunSummary, human_bytes
from bulkdl.waits import WaitBoard, old_in_progress_warning

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """What a run does beyond `bulkdl download`'s defaults."""

    filter: JobFilter = field(default_factory=JobFilter)
    wait: bool = False  # poll IN_PROGRESS jobs until they finish, then download them
    timeout_s: float = 3600.0  # how long to wait for a job at most
    collect: dict[str, Any] | None = None  # create one job per group with this POST body
    new: bool = False  # collect: create fresh jobs even where OUT's manifest has one for it
    collect_range: CollectionRange | None = None  # limit the created jobs to this window
    download: bool = True  # False: `bulkdl collect` without --download
    dry_run: bool = False  # list and plan; no POST, no download
    extract: bool = False  # unpack each verified archive to OUT/<groupId>/<jobId>/
    wait_report_s: float | None = None  # with wait: a "still waiting" line this often


@dataclass(slots=True)
class GroupPlan:
    """What a dry run found for one group."""

    group_id: str
    statuses: dict[str, int] = field(default_factory=dict)
    to_download: int = 0
    to_skip: int = 0  # already complete in OUT: the manifest says so and the file matches
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


def prepare_out_dir(out_dir: Path) -> OutDir:
    """Create the output folder (0700), lock it for this run (which proves it writable).

    ConfigError (exit 2) when it cannot be, is a link, or another run holds it. Blocking.
    """
    return OutDir.open(out_dir)


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
        self._out: OutDir | None = None  # OUT, locked (None in a dry run)
        self._peek: OutDir | None = None  # OUT opened to read only (a dry run)
        self._named_jobs: list[Job] = []  # listed jobs that --job names, matched or not
        self._old_waits: list[Job] = []  # IN_PROGRESS jobs to wait for, to warn about old ones
        self._waits = WaitBoard()

    async def execute(self, *, handle_signals: bool = False) -> RunResult:
        """Run to the end; raises the error that stopped the run from starting (exit 2).

        With handle_signals, SIGINT/SIGTERM stop it: nothing new starts, what is in flight is
        cancelled (its .part removed), and the summary comes back with interrupted=True.
        """
        s = self.settings
        if not self.options.dry_run:
            self._out = await anyio.to_thread.run_sync(prepare_out_dir, s.out_dir)
        try:
            return await self._execute(handle_signals)
        finally:
            if self._out is not None:
                self._out.close()  # releases the lock: after the manifest's last line
            if self._peek is not None:
                self._peek.close()

    async def _execute(self, handle_signals: bool) -> RunResult:
        s = self.settings
        if self._out is not None:
            for warning in self._out.warnings:
                self.reporter.warn(warning)
            self._previous = await read_previous(s.out_dir, self._out.fd)
        elif (peek := await anyio.to_thread.run_sync(_peek_folder, s.out_dir)) is not None:
            # A dry run reads OUT's manifest and archives too (without locking): it counts
            # what would really download.
            self._peek = OutDir(s.out_dir, peek, -1, [])
            self._previous = await read_previous(s.out_dir, peek)
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
                    self._out, on_repair=self.reporter.warn, run_id=self.summary.run_id
                ) as manifest,
                client,
                anyio.create_task_group() as outer,
            ):
                self._scope = outer.cancel_scope
                if handle_signals:
                    outer.start_soon(self._watch_signals)
                groups = await self._resolve_groups(client, manifest)
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

    async def _resolve_groups(
        self, client: CloudManagerClient, manifest: ManifestWriter
    ) -> list[GroupId]:
        """The configured groups, or every group the key can see (narrowed by org and name).

        A listed group with a malformed id fails alone (a line naming it); the others run.
        """
        s = self.settings
        if not s.discover:
            self.reporter.planned(dict.fromkeys(s.groups))
            return list(s.groups)
        try:
            found, malformed = await self._api(
                client, GroupId(""), lambda: client.list_groups(s.org)
            )
            for bad in malformed:
                await self._record(manifest, _malformed_result(bad))
            chosen, missing = choose_groups(s, found)
        except BulkdlError as exc:
            self._abort(exc)
            return []
        for line in missing:
            await self._record(manifest, _failed_line(line))
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
        except DiskError as exc:  # the line is not there (cut back): this job did not succeed
            was = f"{result.outcome.value}, but " if result.outcome is not Outcome.FAILED else ""
            result = replace(result, outcome=Outcome.FAILED, error=f"{was}{exc}")
        self.summary.add(result)
        self.reporter.finished(result)

    async def _produce_all(
        self, client: CloudManagerClient, manifest: ManifestWriter, groups: list[GroupId]
    ) -> None:
        """Find (or create) every group's jobs and queue what is downloadable; then wait for
        the IN_PROGRESS ones (--wait), saying what is still waited on now and then."""
        try:
            async with anyio.create_task_group() as reports:
                if self.options.wait and self.options.wait_report_s is not None:
                    reports.start_soon(self._report_waits, self.options.wait_report_s)
                async with anyio.create_task_group() as waits:
                    async with anyio.create_task_group() as listings:
                        for group in groups:
                            listings.start_soon(
                                self._produce_group, client, manifest, group, waits
                            )
                    await self._after_listings(manifest)
                reports.cancel_scope.cancel()
        finally:
            self._queue.close()

    async def _after_listings(self, manifest: ManifestWriter) -> None:
        """Every group listed: fail each --job that selected nothing; warn about old waits."""
        for found in unmatched_jobs(self.options.filter, self._named_jobs):
            await self._record(manifest, _failed_line(found.error, found.group_id, found.job_id))
        if self.options.filter.since is None and (
            warning := old_in_progress_warning(self._old_waits, _now())
        ):
            self.reporter.warn(warning)

    async def _report_waits(self, every_s: float) -> None:
        while True:
            await anyio.sleep(every_s)
            if line := self._waits.line(_now()):
                self.reporter.note(line)

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
            job_id = await self._collect_in(client, manifest, group, opts.collect)
            if job_id is not None and opts.wait:
                tg.start_soon(self._wait_then_queue, client, manifest, group, job_id)
            return
        try:
            listed, malformed = await self._api(client, group, lambda: client.list_jobs(group))
        except BulkdlError as exc:
            await self._group_failed(manifest, client, group, exc, started)
            return
        for bad in malformed:  # skipped and named; the group's other jobs go on
            await self._record(manifest, _malformed_result(bad))
        self._named_jobs.extend(j for j in listed if j.id in opts.filter.job_ids)
        jobs = [j for j in listed if opts.filter.matches(j)]
        waiting = [j for j in jobs if opts.wait and j.status is JobStatus.IN_PROGRESS]
        self._old_waits.extend(waiting)
        ready = [j for j in jobs if j not in waiting]
        targets, unavailable = plan_group(ready, self.settings.out_dir, self._previous)
        statuses = [u.job.raw_status for u in unavailable]
        if opts.dry_run:  # says what a real run would do, so the files are checked here
            complete = {t.job.id for t in targets if await self._is_complete(t)}
            self.reporter.listed(group, len(jobs), len(targets) - len(complete), statuses)
            self.plan.append(_group_plan(group, jobs, targets, waiting, complete))
            return
        self.reporter.listed(group, len(jobs), len(targets), statuses)
        self._check_space(targets)
        for item in unavailable:
            await self._record(manifest, _not_downloadable(item))
        if opts.download:
            for target in targets:
                self._queue.put(group, target)
        for job in waiting:
            tg.start_soon(self._wait_then_queue, client, manifest, group, job.id)

    async def _collect_in(
        self,
        client: CloudManagerClient,
        manifest: ManifestWriter,
        group: GroupId,
        body: dict[str, Any],
    ) -> JobId | None:
        """The job to wait for in `group`: one created earlier into OUT for the same request
        (unless --new), else a new one. None when there is nothing to wait for."""
        window = self.options.collect_range
        # The window is part of the request: another window is another collection.
        fingerprint = request_fingerprint({**body, **(window.to_json() if window else {})})
        earlier = None if self.options.new else created_earlier(self._previous, group, fingerprint)
        if earlier is not None:
            verb = "would resume" if self.options.dry_run else "resuming"
            self.reporter.note(
                f"group {group}: {verb} job {earlier}, created earlier for the same request "
                "(--new creates another)"
            )
            return None if self.options.dry_run else earlier
        if self.options.dry_run:
            self.plan.append(GroupPlan(group, would_create=body))
            return None
        started = _now()

        async def create_and_record(_attempt: int) -> JobId:
            # Shielded together: once the POST is out, its answer is awaited and its line
            # written even if a signal lands meanwhile, so no job exists without its line.
            with anyio.CancelScope(shield=True):
                new_id = await (
                    client.create_job(group, body)
                    if window is None
                    else client.create_job_in_range(group, body, window)
                )
                created = JobResult(
                    group_id=group,
                    job_id=new_id,
                    status=JobStatus.IN_PROGRESS.value,
                    outcome=Outcome.CREATED,
                    attempts=1,
                    started_at=started,
                    finished_at=_now(),
                    request_sha256=fingerprint,
                    collection_range=window,
                )
                await self._record(manifest, created)
            return new_id

        try:
            new_id, _ = await retrying(
                create_and_record,
                group=group,
                policy=self._policy,
                pacer=self._pacer,
                on_retry=lambda exc, n, delay: self.reporter.retrying(str(exc), n, delay),
                give_up=self._never_reached(client),
            )
        except BulkdlError as exc:
            await self._group_failed(manifest, client, group, exc, started)
            return None
        return new_id

    async def _wait_then_queue(
        self,
        client: CloudManagerClient,
        manifest: ManifestWriter,
        group: GroupId,
        job_id: JobId,
    ) -> None:
        """Poll one job until it leaves IN_PROGRESS, then queue its download at once.

        Polls until the --timeout deadline itself (the last sleep is cut short to end there),
        and a job still IN_PROGRESS then fails once, with the time really waited."""
        started = _now()
        began = time.monotonic()
        deadline = began + self.options.timeout_s
        interval = self.settings.poll_interval_s
        self._waits.waiting(group, job_id, started)
        try:
            while True:
                try:
                    job: Job = await self._api(
                        client, group, lambda: client.get_job(group, job_id)
                    )
                except BulkdlError as exc:
                    await self._group_failed(manifest, client, group, exc, started, job_id)
                    return
                if job.status is not JobStatus.IN_PROGRESS:
                    break
                self._waits.waiting(group, job_id, parse_api_date(job.creation_date) or started)
                left = deadline - time.monotonic()
                if left <= 0:
                    waited = time.monotonic() - began
                    await self._record(
                        manifest,
                        JobResult(
                            group_id=group,
                            job_id=job_id,
                            status=job.raw_status,
                            outcome=Outcome.FAILED,
                            started_at=started,
                            finished_at=_now(),
                            error=f"still IN_PROGRESS after waiting {waited:.1f} s "
                            f"(--timeout {self.options.timeout_s:g})",
                        ),
                    )
                    return
                await anyio.sleep(min(interval, left))
                interval = min(30.0, interval * 1.5)
        finally:
            self._waits.done(job_id)
        self.reporter.note(f"group {group} job {job_id} finished: {job.raw_status}")
        planned = plan_job(job, self.settings.out_dir, self._previous)
        if isinstance(planned, NotDownloadable):
            await self._record(manifest, _not_downloadable(planned))
        elif self.options.download:
            self._check_space([planned])
            self._queue.put(group, planned)

    async def _is_complete(self, target: DownloadTarget) -> bool:
        """What a real run would skip: the manifest recorded this archive and the file matches."""
        prev, out = target.previous, self._out or self._peek
        return (
            prev is not None
            and out is not None
            and target.may_skip
            and await already_complete(
                out, target.job.group_id, target.final_path.name, prev.bytes, prev.sha256
            )
        )

    async def _extract_kept(self, target: DownloadTarget, kept: JobResult) -> JobResult:
        """--extract on an archive already on disk: unpack it unless its folder is there."""
        dest = target.final_path.with_name(target.job.id)
        if not self.options.extract or self._out is None:
            return kept
        if await anyio.to_thread.run_sync(_is_real_dir, dest):
            return replace(kept, extracted_path=str(dest))
        job = target.job
        try:
            await anyio.to_thread.run_sync(extract_archive, self._out, job.group_id, job.id)
        except TransferError as exc:
            return replace(kept, outcome=Outcome.FAILED, error=str(exc))
        self.reporter.note(f"extracted {target.final_path} into {dest}/ (downloaded earlier)")
        return replace(kept, extracted_path=str(dest))

    def _check_space(self, targets: list[DownloadTarget]) -> None:
        """Warn once when the listed sizes (an upper bound) exceed the free space."""
        self._listed_bytes += sum(
            t.job.uncompressed_size_bytes or 0 for t in targets if not t.may_skip
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

    async def _failed_parts(self, client: CloudManagerClient, job: Job) -> tuple[ChildJob, ...]:
        """A FAILURE job's failed host parts, for its manifest line: the archive lacks them.

        One verbose GET per FAILURE job (listings stay lean); () with a warning if it fails.
        """
        if job.status is not JobStatus.FAILURE:
            return ()
        if job.child_jobs is not None:
            return job.failed_parts
        try:
            detailed: Job = await self._api(
                client, job.group_id, lambda: client.get_job(job.group_id, job.id, verbose=True)
            )
        except BulkdlError as exc:
            self.reporter.warn(f"group {job.group_id} job {job.id}: no failed parts ({exc})")
            return ()
        return detailed.failed_parts

    async def _download(self, client: CloudManagerClient, target: DownloadTarget) -> JobResult:
        job = target.job
        stale = target.replaces
        base = JobResult(
            group_id=job.group_id,
            job_id=job.id,
            status=job.raw_status,
            outcome=Outcome.FAILED,
            path=str(target.final_path),
            started_at=_now(),
            listed_size_bytes=job.uncompressed_size_bytes,
            creation_date=job.creation_date,
            previous_sha256=stale.sha256 if stale is not None else None,
            collection_range=job.collection_range,
        )
        assert self._out is not None  # downloads happen only in a run that locked OUT
        name = target.final_path.name
        prev = target.previous
        if prev is not None and await self._is_complete(target):
            skipped = replace(
                base,
                outcome=Outcome.SKIPPED,
                bytes=prev.bytes,
                sha256=prev.sha256,
                finished_at=_now(),
            )
            return await self._extract_kept(target, skipped)
        # Asked before the first byte: once the archive is renamed into place nothing may
        # stand between it and its manifest line (a Ctrl-C there would lose the line).
        failed_parts = await self._failed_parts(client, job)
        file = ArchiveFile(self._out, job.group_id, name)
        reported = 0  # bytes shown in progress for this job

        def on_bytes(n: int) -> None:
            nonlocal reported
            reported += n
            self.reporter.progress(target, n)

        async def attempt(n: int) -> Written:
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
                        verify=self.settings.verify,
                    )
            except ResumeRejected:
                await discard(file)
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
        finally:
            await discard(file)  # whatever is left of a .part (nothing after a rename)
        done = replace(
            base,
            outcome=Outcome.DOWNLOADED if stale is None else Outcome.REPLACED,
            bytes=written.bytes,
            sha256=written.sha256,
            attempts=attempts,
            finished_at=_now(),
            failed_parts=failed_parts,
        )
        if not self.options.extract:
            return done
        try:
            dest = await anyio.to_thread.run_sync(extract_archive, self._out, job.group_id, job.id)
        except TransferError as exc:
            return replace(done, outcome=Outcome.FAILED, error=str(exc), error_code=error_code(exc))
        return replace(done, extracted_path=str(dest))


def _failed_line(
    error: str, group: str | None = None, job: JobId | None = None
) -> JobResult:
    """A failure that is no download's: a --group or --job that selected nothing."""
    now = _now()
    return JobResult(
        group_id=group or "",
        job_id=job,
        status=None,
        outcome=Outcome.FAILED,
        error=error,
        started_at=now,
        finished_at=now,
    )


def _malformed_result(bad: Malformed) -> JobResult:
    """The failed line of a listing entry skipped for its id: quoted, never a path."""
    now = _now()
    in_group = bad.group_id is not None
    return JobResult(
        group_id=bad.group_id or "",
        job_id=None,
        status=None,
        outcome=Outcome.FAILED,
        error=bad.error,
        started_at=now,
        finished_at=now,
        raw_job_id=bad.raw_id if in_group else None,
        raw_group_id=None if in_group else bad.raw_id,
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


def _is_real_dir(path: Path) -> bool:
    """A folder that is not a link (a planted link is left to extract_archive to refuse)."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def _peek_folder(path: Path) -> int | None:
    """OUT as an fd for a dry run to read its manifest; None when there is no OUT yet."""
    return open_folder(path) if path.is_dir() else None


def _existing_parent(path: Path) -> Path:
    """The nearest folder that exists, to ask for free space before `path` is created."""
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate
    return Path.cwd()


def _group_plan(
    group: GroupId,
    jobs: list[Job],
    targets: list[DownloadTarget],
    waiting: list[Job],
    complete: set[JobId],
) -> GroupPlan:
    """The counts a real run would show: `complete` ones skipped, every other target fetched
    (new, stale, or recorded but damaged or missing on disk), plus the jobs waited for."""
    plan = GroupPlan(group)
    for job in jobs:
        plan.statuses[job.raw_status] = plan.statuses.get(job.raw_status, 0) + 1
    fresh = [t for t in targets if t.job.id not in complete]
    plan.to_skip = len(targets) - len(fresh)
    plan.to_download = len(fresh) + len(waiting)
    plan.bytes_upper_bound = sum(
        j.uncompressed_size_bytes or 0 for j in [*(t.job for t in fresh), *waiting]
    )
    return plan
