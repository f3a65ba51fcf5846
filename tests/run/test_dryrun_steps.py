"""A dry run's steps on their own (no server, no OUT): each step that would change something
becomes a line of the plan, with the counts a real run would show."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from bulkdl.domain.errors import ApiError
from bulkdl.domain.models import GroupId, Job, JobId, JobStatus
from bulkdl.domain.planner import Recorded, plan_group
from bulkdl.report.progress import PlainReporter
from bulkdl.run.dryrun import GroupPlan, Planning
from bulkdl.run.producer import Collection, Listing

pytestmark = pytest.mark.anyio

G = GroupId("5c8100bcf2a30b12ff88258f")
OUT = Path("/nonexistent/out")


def _job(n: int, status: JobStatus, size: int | None = 1000) -> Job:
    return Job(G, JobId(f"{n:024x}"), status, status.value, uncompressed_size_bytes=size)


def _listing(jobs: list[Job], previous: dict[str, Recorded] | None = None) -> Listing:
    waiting = [j for j in jobs if j.status is JobStatus.IN_PROGRESS]
    ready = [j for j in jobs if j not in waiting]
    targets, unavailable = plan_group(ready, OUT, previous or {})
    return Listing(jobs, waiting, targets, unavailable)


def _planning() -> tuple[Planning, io.StringIO]:
    log = io.StringIO()
    return Planning(PlainReporter(Console(file=log, width=200)), peek=None), log


async def test_a_listing_is_planned_with_a_real_runs_counts_and_nothing_waited() -> None:
    jobs = [
        _job(1, JobStatus.SUCCESS, 1000),
        _job(2, JobStatus.FAILURE, None),
        _job(3, JobStatus.EXPIRED),
        _job(4, JobStatus.IN_PROGRESS, 500),
    ]
    planning, log = _planning()
    waited: list[JobId] = []
    await planning.take(G, _listing(jobs), waited.append)
    assert waited == [], "a dry run polls nothing"
    (plan,) = planning.plan
    assert plan == GroupPlan(
        G,
        statuses={"SUCCESS": 1, "FAILURE": 1, "EXPIRED": 1, "IN_PROGRESS": 1},
        to_download=3,  # the two downloadable ones and the one a --wait would wait for
        to_skip=0,
        bytes_upper_bound=1500,
    )
    assert G in log.getvalue()


async def test_without_out_nothing_recorded_counts_as_complete() -> None:
    job = _job(1, JobStatus.SUCCESS)
    recorded = {job.id: Recorded(f"{G}/{job.id}.tar.gz", 10, "0" * 64, G)}
    planning, _ = _planning()
    await planning.take(G, _listing([job], recorded), lambda _: None)
    assert (planning.plan[0].to_download, planning.plan[0].to_skip) == (1, 0)


async def test_a_collect_request_is_planned_not_sent() -> None:
    planning, _ = _planning()
    body = {"resourceType": "REPLICASET", "resourceName": "rs0", "logTypes": ["MONGODB"]}
    request = Collection(body, None, "f" * 64)
    assert await planning.create(G, request, datetime.now(UTC)) is None
    assert planning.plan == [GroupPlan(G, would_create=body)]


def test_a_resumable_job_is_named_and_not_waited_for() -> None:
    planning, log = _planning()
    earlier = JobId("a" * 24)
    assert planning.resume(G, earlier) is None
    assert f"would resume job {earlier}" in log.getvalue()
    assert planning.plan == []


def test_a_group_failure_is_a_plan_line_naming_the_error() -> None:
    planning, _ = _planning()
    planning.failed(G, ApiError(f"group {G}: the key cannot access this group", status=403))
    assert planning.plan == [GroupPlan(G, error=f"group {G}: the key cannot access this group")]
