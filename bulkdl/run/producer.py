"""The producing half of a download run: list (or create) each group's jobs, queue the targets.

Each group is listed (or gets a job created: `collect`) concurrently; its downloadable jobs go
on the GroupQueue as soon as its listing is in, so downloads start while other groups are still
being listed. With --wait, IN_PROGRESS jobs are polled and queued the moment they finish. A
group's failure is its own failed line; only a fatal error (`ApiSession.fatal`) goes to
`on_fatal`, which ends the run. The steps that change something (queue, POST) are a `Steps`
collaborator: `Acting` does them, `bulkdl.run.dryrun.Planning` writes the plan instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.abc

from bulkdl.cloud.session import ApiSession
from bulkdl.domain.errors import BulkdlError
from bulkdl.domain.models import CollectionRange, GroupId, Job, JobId, JobResult, JobStatus, Outcome
from bulkdl.domain.planner import (
    DownloadTarget,
    NotDownloadable,
    Recorded,
    RecordKey,
    plan_group,
    plan_job,
)
from bulkdl.domain.selection import parse_api_date, unmatched_jobs
from bulkdl.report.summary import human_bytes
from bulkdl.run.group_queue import GroupQueue
from bulkdl.run.options import RunOptions
from bulkdl.run.record import (
    Recorder,
    failed_line,
    group_failed,
    malformed_result,
    not_downloadable,
    now,
)
from bulkdl.run.waits import WaitBoard, old_in_progress_warning
from bulkdl.store.manifest import created_earlier, request_fingerprint

MAX_POLL_INTERVAL_S = 30.0


@dataclass(frozen=True, slots=True)
class Listing:
    """One group's listing, sorted by what happens to each job."""

    jobs: list[Job]  # those the filter selects
    waiting: list[Job]  # IN_PROGRESS, to wait for (--wait)
    targets: list[DownloadTarget]  # to download now (or skip when already complete)
    unavailable: list[NotDownloadable]


@dataclass(frozen=True, slots=True)
class Collection:
    """One group's collect request: the POST body, its window, and their fingerprint."""

    body: dict[str, Any]
    window: CollectionRange | None
    fingerprint: str  # recorded with the created job, to resume it on the same request


class SpaceWatch:
    """Warns once when the listed sizes (an upper bound) exceed the free space."""

    def __init__(self, free: int | None, out_dir: Path, warn: Callable[[str], None]) -> None:
        self._free = free
        self._out_dir = out_dir
        self._warn = warn
        self._listed = 0  # uncompressed sizes of what is still to download
        self._warned = False

    def add(self, targets: list[DownloadTarget]) -> None:
        self._listed += sum(t.job.uncompressed_size_bytes or 0 for t in targets if not t.may_skip)
        if self._free is not None and not self._warned and self._listed > self._free:
            self._warned = True
            self._warn(
                f"the listed jobs hold up to {human_bytes(self._listed)} (uncompressed) "
                f"and {self._out_dir} has {human_bytes(self._free)} free: the disk may fill up"
            )


class Steps(Protocol):
    """What the producer does with what it found: each step that would change something."""

    async def take(self, group: GroupId, listing: Listing, wait: Callable[[JobId], object]) -> None:
        """One group's listing is in; `wait(job)` polls an IN_PROGRESS job and queues it."""

    def resume(self, group: GroupId, earlier: JobId) -> JobId | None:
        """A job an earlier collect created for the same request: the one to wait for."""

    async def create(self, group: GroupId, request: Collection, started: datetime) -> JobId | None:
        """The job to wait for after asking for a collection; raises BulkdlError if it failed."""

    def failed(self, group: GroupId, exc: BulkdlError) -> None:
        """A group failed (not fatally); its line is recorded next."""


class Acting:
    """The real steps: record what cannot be downloaded, queue the rest, POST collections."""

    def __init__(
        self,
        session: ApiSession,
        recorder: Recorder,
        options: RunOptions,
        queue: GroupQueue[DownloadTarget],
        space: SpaceWatch,
    ) -> None:
        self.session = session
        self.recorder = recorder
        self.options = options
        self.queue = queue
        self._space = space

    async def take(self, group: GroupId, listing: Listing, wait: Callable[[JobId], object]) -> None:
        """Record what cannot be downloaded, queue the rest, wait for the IN_PROGRESS."""
        reporter = self.recorder.reporter
        statuses = [u.job.raw_status for u in listing.unavailable]
        reporter.listed(group, len(listing.jobs), len(listing.targets), statuses)
        self._space.add(listing.targets)
        at = now()  # when the listing said so: one time for the group's lines
        unavailable = [not_downloadable(item, at) for item in listing.unavailable]
        await self.recorder.record_many(unavailable)
        if self.options.download:
            self.recorder.summary.queued += len(listing.targets)
            for target in listing.targets:
                self.queue.put(group, target)
        for job in listing.waiting:
            wait(job.id)

    def resume(self, group: GroupId, earlier: JobId) -> JobId | None:
        self.recorder.reporter.note(resume_note(group, earlier, "resuming"))
        return earlier

    async def create(self, group: GroupId, request: Collection, started: datetime) -> JobId | None:
        """POST one collection job and record it."""
        client = self.session.client
        body, window = request.body, request.window

        async def create_and_record(_attempt: int) -> JobId:
            # Shielded together: once the POST is out, its answer is awaited and its line
            # written even if a signal lands meanwhile, so no job exists without its line.
            with anyio.CancelScope(shield=True):
                new_id = await (
                    client.create_job(group, body)
                    if window is None
                    else client.create_job_in_range(group, body, window)
                )
                await self.recorder.record(
                    JobResult(
                        group_id=group,
                        job_id=new_id,
                        status=JobStatus.IN_PROGRESS.value,
                        outcome=Outcome.CREATED,
                        attempts=1,
                        started_at=started,
                        finished_at=now(),
                        request_sha256=request.fingerprint,
                        collection_range=window,
                    )
                )
            return new_id

        new_id, _ = await self.session.attempts(group, create_and_record)
        return new_id

    def failed(self, group: GroupId, exc: BulkdlError) -> None:
        pass  # the producer records the line


class Producer:
    """Fills the queue with every group's download targets, then closes it."""

    def __init__(
        self,
        session: ApiSession,
        recorder: Recorder,
        options: RunOptions,
        previous: dict[RecordKey, Recorded],
        queue: GroupQueue[DownloadTarget],
        *,
        on_fatal: Callable[[BulkdlError], None],
        free_bytes: int | None = None,
        steps: Steps | None = None,
    ) -> None:
        """`steps`: what is done with each listing and collect request (default: `Acting`)."""
        self.session = session
        self.settings = session.settings
        self.recorder = recorder
        self.reporter = recorder.reporter
        self.options = options
        self.previous = previous
        self.queue = queue
        self._on_fatal = on_fatal
        self._space = SpaceWatch(free_bytes, self.settings.out_dir, self.reporter.warn)
        self._named_jobs: list[Job] = []  # listed jobs that --job names, matched or not
        self._old_waits: list[Job] = []  # IN_PROGRESS jobs to wait for, to warn about old ones
        self._waits = WaitBoard()
        self._steps = steps or Acting(session, recorder, options, queue, self._space)

    async def produce(self, groups: list[GroupId]) -> None:
        """Find (or create) every group's jobs and queue what is downloadable; then wait for
        the IN_PROGRESS ones (--wait), saying what is still waited on now and then."""
        try:
            async with anyio.create_task_group() as reports:
                if self.options.wait and self.options.wait_report_s is not None:
                    reports.start_soon(self._report_waits, self.options.wait_report_s)
                async with anyio.create_task_group() as waits:
                    async with anyio.create_task_group() as listings:
                        for group in groups:
                            listings.start_soon(self._produce_group, group, waits)
                    await self._after_listings()
                reports.cancel_scope.cancel()
        finally:
            self.queue.close()

    async def _after_listings(self) -> None:
        """Every group listed: fail each --job that selected nothing; warn about old waits."""
        for found in unmatched_jobs(self.options.filter, self._named_jobs):
            await self.recorder.record(failed_line(found.error, found.group_id, found.job_id))
        if self.options.filter.since is None and (
            warning := old_in_progress_warning(self._old_waits, now())
        ):
            self.reporter.warn(warning)

    async def _report_waits(self, every_s: float) -> None:
        while True:
            await anyio.sleep(every_s)
            if line := self._waits.line(now()):
                self.reporter.note(line)

    async def _failed(
        self, group: GroupId, exc: BulkdlError, started: datetime, job: JobId | None = None
    ) -> bool:
        """Record a group's failure; False when it is fatal (the run is ending instead)."""
        if self.session.fatal(exc):
            self._on_fatal(exc)
            return False
        self._steps.failed(group, exc)
        await self.recorder.record(group_failed(group, exc, started, job))
        return True

    async def _produce_group(self, group: GroupId, waits: anyio.abc.TaskGroup) -> None:
        if self.options.collect is not None:
            job_id = await self._collect_in(group, self.options.collect)
            if job_id is not None and self.options.wait:
                waits.start_soon(self._wait_then_queue, group, job_id)
            return
        if (listing := await self._list_group(group)) is not None:
            await self._steps.take(
                group,
                listing,
                lambda job_id: waits.start_soon(self._wait_then_queue, group, job_id),
            )

    async def _list_group(self, group: GroupId) -> Listing | None:
        """List one group and sort its jobs; None when the listing failed (recorded)."""
        opts = self.options
        started = now()
        client = self.session.client
        try:
            listed, malformed = await self.session.call(group, lambda: client.list_jobs(group))
        except BulkdlError as exc:
            await self._failed(group, exc, started)
            return None
        for bad in malformed:  # skipped and named; the group's other jobs go on
            await self.recorder.record(malformed_result(bad))
        job_filter = opts.filter
        if job_filter.job_ids:
            self._named_jobs.extend(j for j in listed if j.id in job_filter.job_ids)
        jobs = listed if job_filter.selects_all else [j for j in listed if job_filter.matches(j)]
        waiting: list[Job] = []
        ready = jobs
        if opts.wait:  # split by status: `not in waiting` compared whole jobs, n x m times
            waiting = [j for j in jobs if j.status is JobStatus.IN_PROGRESS]
            ready = [j for j in jobs if j.status is not JobStatus.IN_PROGRESS]
        self._old_waits.extend(waiting)
        targets, unavailable = plan_group(ready, self.settings.out_dir, self.previous)
        return Listing(jobs, waiting, targets, unavailable)

    async def _collect_in(self, group: GroupId, body: dict[str, Any]) -> JobId | None:
        """The job to wait for in `group`: one created earlier into OUT for the same request
        (unless --new), else a new one. None when there is nothing to wait for."""
        window = self.options.collect_range
        # The window is part of the request: another window is another collection.
        fingerprint = request_fingerprint({**body, **(window.to_json() if window else {})})
        earlier = None if self.options.new else created_earlier(self.previous, group, fingerprint)
        if earlier is not None:
            return self._steps.resume(group, earlier)
        started = now()
        try:
            return await self._steps.create(group, Collection(body, window, fingerprint), started)
        except BulkdlError as exc:
            await self._failed(group, exc, started)
            return None

    async def _wait_then_queue(self, group: GroupId, job_id: JobId) -> None:
        """Poll one job until it leaves IN_PROGRESS, then queue its download at once."""
        started = now()
        self._waits.waiting(group, job_id, started)
        try:
            job = await self._poll(group, job_id, started)
        finally:
            self._waits.done(job_id)
        if job is None:
            return
        self.reporter.note(f"group {group} job {job_id} finished: {job.raw_status}")
        planned = plan_job(job, self.settings.out_dir, self.previous)
        if isinstance(planned, NotDownloadable):
            await self.recorder.record(not_downloadable(planned))
        elif self.options.download:
            self._space.add([planned])
            self.recorder.summary.queued += 1
            self.queue.put(group, planned)

    async def _poll(self, group: GroupId, job_id: JobId, started: datetime) -> Job | None:
        """The job once it is no longer IN_PROGRESS; None when polling failed (recorded).

        Polls until the --timeout deadline itself (the last sleep is cut short to end there),
        and a job still IN_PROGRESS then fails once, with the time really waited."""
        began = time.monotonic()
        deadline = began + self.options.timeout_s
        interval = self.settings.poll_interval_s
        client = self.session.client
        while True:
            try:
                job: Job = await self.session.call(group, lambda: client.get_job(group, job_id))
            except BulkdlError as exc:
                await self._failed(group, exc, started, job_id)
                return None
            if job.status is not JobStatus.IN_PROGRESS:
                return job
            self._waits.waiting(group, job_id, parse_api_date(job.creation_date) or started)
            left = deadline - time.monotonic()
            if left <= 0:
                waited = time.monotonic() - began
                error = (
                    f"still IN_PROGRESS after waiting {waited:.1f} s "
                    f"(--timeout {self.options.timeout_s:g})"
                )
                await self.recorder.record(
                    JobResult(
                        group_id=group,
                        job_id=job_id,
                        status=job.raw_status,
                        outcome=Outcome.FAILED,
                        started_at=started,
                        finished_at=now(),
                        error=error,
                    )
                )
                return None
            await anyio.sleep(min(interval, left))
            interval = min(MAX_POLL_INTERVAL_S, interval * 1.5)


def resume_note(group: GroupId, earlier: JobId, verb: str) -> str:
    return (
        f"group {group}: {verb} job {earlier}, created earlier for the same request "
        "(--new creates another)"
    )
