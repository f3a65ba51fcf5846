"""Fleet-wide API operations that download nothing: list, extend, retry, delete.

Each goes through one ApiSession (the groups it resolves, its retry policy and request budget,
as a download's) and runs one call per group or job concurrently. Expected failures are
returned per group or job, never raised past the others.
SIGINT/SIGTERM during extend/retry stop sending; a change already sent is awaited to its
answer, so the actions returned are exactly the changes made (`interrupted` is then set).
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final

import anyio

from bulkdl.cloud.session import ApiSession
from bulkdl.domain.errors import ApiError, BulkdlError, ConfigError, GroupAccessError
from bulkdl.domain.models import GroupId, Job, JobResult, JobStatus, Outcome
from bulkdl.domain.selection import JobFilter, format_api_date, new_expiration, unmatched_jobs
from bulkdl.settings.load import Settings
from bulkdl.store.manifest import ManifestWriter


@dataclass(frozen=True, slots=True)
class Action:
    """One extend/retry decision and what became of it."""

    group_id: str
    job_id: str | None
    what: str  # e.g. "extend to 2026-12-25T10:00:00Z", "retry"
    done: bool  # sent and accepted (False on a dry run or an error)
    error: str | None = None
    attempts: int = 0  # requests sent for it (0 on a dry run), retries included


async def list_jobs(
    session: ApiSession, job_filter: JobFilter, *, verbose: bool = False
) -> tuple[list[Job], list[str]]:
    """Every matching job of every group (with its host parts when `verbose`), and one line
    per group that could not be listed (or listed entry skipped for a malformed id, or
    --group / --job that matched nothing)."""
    resolved = await session.resolve_groups()
    groups = resolved.chosen
    failures = [m.error for m in resolved.malformed] + resolved.missing
    found: dict[str, list[Job]] = {}
    listed: list[Job] = []
    fatal: list[BulkdlError] = []

    async def one(group: GroupId) -> None:
        try:
            jobs, malformed = await session.call(
                group, lambda: session.client.list_jobs(group, verbose=verbose)
            )
        except BulkdlError as exc:
            if session.fatal(exc):
                fatal.append(exc)
                tg.cancel_scope.cancel()
            else:
                failures.append(str(exc))
            return
        failures.extend(m.error for m in malformed)
        listed.extend(jobs)
        found[group] = [j for j in jobs if job_filter.matches(j)]

    async with anyio.create_task_group() as tg:
        for group in groups:
            tg.start_soon(one, group)
    if fatal:
        raise fatal[0]
    failures.extend(u.error for u in unmatched_jobs(job_filter, listed))
    return [j for g in groups for j in found.get(g, [])], failures


class Actions:
    """Changes to jobs (extend, retry, delete) through one API session; notes an interrupt."""

    def __init__(self, settings: Settings) -> None:
        self.session = ApiSession(settings)
        self.client = self.session.client
        self.interrupted = False  # a signal stopped act() before every job was sent

    async def jobs(
        self, job_filter: JobFilter, *, verbose: bool = False
    ) -> tuple[list[Job], list[str]]:
        """The selected jobs and the failure lines of selecting them (see `list_jobs`)."""
        return await list_jobs(self.session, job_filter, verbose=verbose)

    async def act(
        self,
        jobs: list[Job],
        decide: Callable[[Job], str | None],
        send: Callable[[Job, int], Awaitable[None]],
        *,
        dry_run: bool,
    ) -> list[Action]:
        """For each job: `decide` names the action (None: not applicable), then `send` it
        (with its attempt number, from 1: a retried change is sent again)."""
        actions: list[Action] = []
        fatal: list[BulkdlError] = []

        async def one(job: Job) -> None:
            try:
                what = decide(job)
            except ConfigError as exc:
                actions.append(Action(job.group_id, job.id, "refused", False, str(exc)))
                return
            if what is None:
                return
            if dry_run:
                actions.append(Action(job.group_id, job.id, what, False))
                return

            async def send_shielded(attempt: int) -> None:
                # Once sent, a change is awaited to its answer: an interrupt then knows
                # whether it was made.
                with anyio.CancelScope(shield=True):
                    await send(job, attempt)

            try:
                _, tries = await self.session.attempts(job.group_id, send_shielded)
            except BulkdlError as exc:
                if self.session.fatal(exc):
                    fatal.append(exc)
                    tg.cancel_scope.cancel()
                    return
                actions.append(Action(job.group_id, job.id, what, False, str(exc), exc.attempts))
                return
            actions.append(Action(job.group_id, job.id, what, True, attempts=tries))

        async with anyio.create_task_group() as outer:
            outer.start_soon(self._stop_on_signal, outer.cancel_scope)
            async with anyio.create_task_group() as tg:
                for job in jobs:
                    tg.start_soon(one, job)
            outer.cancel_scope.cancel()  # all sent: stop watching for signals
        if fatal:
            raise fatal[0]
        order: dict[tuple[str, str], int] = {(j.group_id, j.id): n for n, j in enumerate(jobs)}
        return sorted(actions, key=lambda a: order.get((a.group_id, a.job_id or ""), 0))

    async def _stop_on_signal(self, scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                self.interrupted = True
                scope.cancel()
                return


async def extend_jobs(
    fleet: Actions, job_filter: JobFilter, days: int, now: datetime, *, dry_run: bool
) -> tuple[list[Action], list[str]]:
    """PATCH expirationDate = now + days on every selected job that has not expired."""
    jobs, failures = await fleet.jobs(job_filter)

    def decide(job: Job) -> str | None:
        if job.status is JobStatus.EXPIRED:
            _refuse_if_named(job, job_filter, "an EXPIRED job cannot be extended")
            return None
        return f"extend to {format_api_date(new_expiration(job, days, now))}"

    async def send(job: Job, _attempt: int) -> None:
        await fleet.client.extend_job(
            job.group_id, job.id, format_api_date(new_expiration(job, days, now))
        )

    return await fleet.act(jobs, decide, send, dry_run=dry_run), failures


async def retry_jobs(
    fleet: Actions, job_filter: JobFilter, *, dry_run: bool
) -> tuple[list[Action], list[str]]:
    """PUT .../retry on every selected FAILURE job."""
    jobs, failures = await fleet.jobs(job_filter)

    def decide(job: Job) -> str | None:
        if job.status is JobStatus.FAILURE:
            return "retry"
        _refuse_if_named(job, job_filter, f"only FAILURE jobs are retried (it is {job.raw_status})")
        return None

    async def send(job: Job, _attempt: int) -> None:
        await fleet.client.retry_job(job.group_id, job.id)

    return await fleet.act(jobs, decide, send, dry_run=dry_run), failures


GONE: Final = "already gone"


async def delete_jobs(
    fleet: Actions, jobs: list[Job], *, dry_run: bool, manifest: ManifestWriter | None = None
) -> list[Action]:
    """DELETE each job (any state); a 404 for the job means it is already gone: reported, not
    an error. Each deletion gets its manifest line as soon as the API confirms it."""
    gone: set[tuple[str, str]] = set()  # (groupId, jobId): ids may repeat across groups
    started: dict[tuple[str, str], datetime] = {}

    async def send(job: Job, attempt: int) -> None:
        key = (job.group_id, job.id)
        first = started.setdefault(key, datetime.now(UTC))  # the first attempt's start
        try:
            await fleet.client.delete_job(job.group_id, job.id)
        except ApiError as exc:
            if exc.status != 404 or isinstance(exc, GroupAccessError):
                raise
            gone.add(key)
            return
        if manifest is not None:
            await manifest.write(deleted_result(job, first, datetime.now(UTC), attempt))

    actions = await fleet.act(jobs, lambda _job: "delete", send, dry_run=dry_run)
    return [
        replace(a, what=GONE, done=False) if (a.group_id, a.job_id) in gone else a for a in actions
    ]


def deleted_result(job: Job, started: datetime, finished: datetime, attempts: int = 1) -> JobResult:
    """The manifest line of a deleted job: what it was, when it went, after how many tries."""
    return JobResult(
        group_id=job.group_id,
        job_id=job.id,
        status=job.raw_status,
        outcome=Outcome.DELETED,
        attempts=attempts,
        started_at=started,
        finished_at=finished,
        collection_range=job.collection_range,
    )


def _refuse_if_named(job: Job, job_filter: JobFilter, why: str) -> None:
    """A job the action does not apply to is passed over, unless --job named it: then the
    runbook asked for something that cannot happen, a refusal (exit 1) naming why."""
    if job.id in job_filter.job_ids:
        raise ConfigError(f"--job names it but {why}")
