"""Deciding what to download and where (pure: no network, no disk).

Downloadable: SUCCESS, FAILURE (the API serves the parts that succeeded) and MARKED_FOR_EXPIRY.
Not downloadable, with a reason: IN_PROGRESS, EXPIRED and statuses this version does not know.
Paths are built only from validated ids, never from anything else the server sends.

Current, not only complete: an archive an earlier run recorded is kept only while the listing
still describes the same archive (status, uncompressedSizeTotalBytes, creationDate); a FAILURE
job retried into SUCCESS is downloaded again and replaces the partial archive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeAlias

from bulkdl.domain.models import GroupId, Job, JobId, JobStatus

DOWNLOADABLE: Final = frozenset({JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.MARKED_FOR_EXPIRY})
PART_SUFFIX: Final = ".part"
MANIFEST_NAME: Final = "manifest.jsonl"  # OUT/manifest.jsonl: one line per outcome

_REASONS: Final = {
    JobStatus.IN_PROGRESS: "the job is still collecting logs (IN_PROGRESS)",
    JobStatus.EXPIRED: "the job has expired and its logs were deleted (EXPIRED)",
}


# Statuses whose archive holds the same parts: a job nearing expiry keeps its archive.
_SAME_ARCHIVE: Final = {JobStatus.MARKED_FOR_EXPIRY.value: JobStatus.SUCCESS.value}


# A manifest entry's key: (groupId, jobId). Job ids are not unique across groups (MongoDB's own
# client fixtures repeat them), so a job id alone would let one group's line stand for another's.
RecordKey: TypeAlias = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Recorded:
    """What an earlier run's manifest says was written for a job, and what the listing said.

    The listing fields are None on lines written before they were recorded: unknown, so not
    compared.
    """

    path: str
    bytes: int
    sha256: str
    group_id: str = ""
    status: str | None = None
    listed_size_bytes: int | None = None
    creation_date: str | None = None
    empty: bool = False  # an empty archive (the job collected no logs): complete as it is


def listing_change(recorded: Recorded, job: Job) -> str | None:
    """Why the recorded archive is no longer this job's archive, or None while it still is.

    Compares only what both sides know. SUCCESS and MARKED_FOR_EXPIRY count as one status.
    """
    if recorded.status is not None and _SAME_ARCHIVE.get(
        recorded.status, recorded.status
    ) != _SAME_ARCHIVE.get(job.raw_status, job.raw_status):
        return f"status {recorded.status} -> {job.raw_status}"
    for name, before, now in (
        ("uncompressedSizeTotalBytes", recorded.listed_size_bytes, job.uncompressed_size_bytes),
        ("creationDate", recorded.creation_date, job.creation_date),
    ):
        if before is not None and now is not None and before != now:
            return f"{name} {before} -> {now}"
    return None


@dataclass(slots=True, unsafe_hash=True)  # one per listed job: not frozen, as models.Job
class DownloadTarget:
    """One archive to fetch: the job, where it goes, and what an earlier run recorded for it."""

    job: Job
    final_path: Path
    part_path: Path
    previous: Recorded | None = None
    changed: str | None = None  # why `previous` is stale (listing_change), None if current

    @property
    def group_id(self) -> GroupId:
        return self.job.group_id

    @property
    def replaces(self) -> Recorded | None:
        """The recorded archive this download is to replace (the listing changed since)."""
        return self.previous if self.changed is not None else None

    @property
    def may_skip(self) -> bool:
        """An earlier run recorded this very archive: skip it if the file still matches."""
        return self.previous is not None and self.changed is None


@dataclass(slots=True, unsafe_hash=True)  # one per listed job: not frozen, as models.Job
class NotDownloadable:
    """A listed job the API will not serve, and why."""

    job: Job
    reason: str


def archive_path(out_dir: Path, group: GroupId, job: JobId) -> Path:
    """`OUT/<groupId>/<jobId>.tar.gz`; both parts are validated 24-hex ids, so it stays in OUT."""
    return out_dir / group / archive_name(job)


def archive_name(job: JobId) -> str:
    return f"{job}.tar.gz"


def plan_job(
    job: Job, out_dir: Path, previous: Mapping[RecordKey, Recorded], group_dir: Path | None = None
) -> DownloadTarget | NotDownloadable:
    """Classify one listed job; `group_dir`, OUT/<groupId> when the caller already made it."""
    if job.status not in DOWNLOADABLE:
        reason = _REASONS.get(job.status, f"unknown job status {job.raw_status!r}")
        return NotDownloadable(job, reason)
    name = archive_name(job.id)
    folder = group_dir or out_dir / job.group_id  # archive_path's folder, made once per group
    recorded = previous.get((job.group_id, job.id))
    return DownloadTarget(
        job=job,
        final_path=folder / name,
        part_path=folder / (name + PART_SUFFIX),
        previous=recorded,
        changed=listing_change(recorded, job) if recorded is not None else None,
    )


def plan_group(
    jobs: list[Job], out_dir: Path, previous: Mapping[RecordKey, Recorded]
) -> tuple[list[DownloadTarget], list[NotDownloadable]]:
    """Classify a group's jobs; a job listed twice (pages shifting under us) is planned once."""
    targets: list[DownloadTarget] = []
    skipped: list[NotDownloadable] = []
    seen: set[str] = set()
    folders: dict[str, Path] = {}  # in practice one: a group's listing holds its own jobs
    for job in jobs:
        if job.id in seen:
            continue
        seen.add(job.id)
        folder = folders.get(job.group_id)
        if folder is None:
            folder = folders[job.group_id] = out_dir / job.group_id
        planned = plan_job(job, out_dir, previous, folder)
        if isinstance(planned, DownloadTarget):
            targets.append(planned)
        else:
            skipped.append(planned)
    return targets, skipped
