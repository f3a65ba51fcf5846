"""A dry run: the producer's listing and planning, with every step that would change something
(a POST, a queued download) replaced by a line of the plan (the producer's `Steps`).

It reads OUT's manifest and archives (without locking OUT) so its counts are what a real run
would download and skip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bulkdl.domain.errors import BulkdlError
from bulkdl.domain.models import GroupId, Job, JobId
from bulkdl.domain.planner import DownloadTarget
from bulkdl.report.progress import Reporter
from bulkdl.run.producer import Collection, Listing, resume_note
from bulkdl.run.transfer import already_on_disk
from bulkdl.store.outdir import OutDir


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


class Planning:
    """The producer's steps for a dry run (see `Steps`): each one adds to `plan` instead."""

    def __init__(self, reporter: Reporter, peek: OutDir | None) -> None:
        """`peek`: OUT opened to read only (None when there is no OUT)."""
        self.reporter = reporter
        self.peek = peek
        self.plan: list[GroupPlan] = []

    async def take(self, group: GroupId, listing: Listing, wait: Callable[[JobId], object]) -> None:
        # What a real run would skip is checked on disk, so the counts are a real run's.
        complete = {t.job.id for t in listing.targets if await already_on_disk(t, self.peek)}
        to_fetch = len(listing.targets) - len(complete)
        statuses = [u.job.raw_status for u in listing.unavailable]
        self.reporter.listed(group, len(listing.jobs), to_fetch, statuses)
        self.plan.append(group_plan(group, listing, complete))

    def resume(self, group: GroupId, earlier: JobId) -> JobId | None:
        self.reporter.note(resume_note(group, earlier, "would resume"))
        return None

    async def create(self, group: GroupId, request: Collection, started: datetime) -> JobId | None:
        self.plan.append(GroupPlan(group, would_create=request.body))
        return None

    def failed(self, group: GroupId, exc: BulkdlError) -> None:
        self.plan.append(GroupPlan(group, error=str(exc)))


def group_plan(group: GroupId, listing: Listing, complete: set[JobId]) -> GroupPlan:
    """The counts a real run would show: `complete` ones skipped, every other target fetched
    (new, stale, or recorded but damaged or missing on disk), plus the jobs waited for."""
    plan = GroupPlan(group)
    for job in listing.jobs:
        plan.statuses[job.raw_status] = plan.statuses.get(job.raw_status, 0) + 1
    fresh: list[DownloadTarget] = [t for t in listing.targets if t.job.id not in complete]
    plan.to_skip = len(listing.targets) - len(fresh)
    plan.to_download = len(fresh) + len(listing.waiting)
    sized: list[Job] = [*(t.job for t in fresh), *listing.waiting]
    plan.bytes_upper_bound = sum(j.uncompressed_size_bytes or 0 for j in sized)
    return plan
