"""The tables of the fleet commands: their columns, and the JSON record of a job or a part.

The records are what `--json` prints; the columns say how `-o table|csv` shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from bulkdl.domain.models import ChildJob, Job
from bulkdl.domain.timewindow import parse_iso
from bulkdl.report.output import Column, field
from bulkdl.report.summary import human_bytes

GROUP_COLUMNS: Final = (
    Column("id", field("id"), keep=True),
    Column("name", field("name"), priority=2, shrink_to=16),
    Column("org", field("orgId"), priority=1),
)


def _window_cell(record: Mapping[str, Any]) -> str:
    """`2026-11-30 08:00 → 10:30` (same day) or both ends in full, UTC; empty without one."""
    raw = record.get("logCollectionFromDate"), record.get("logCollectionToDate")
    if not all(raw):
        return ""
    start, end = (
        (parse_iso(str(v)) or datetime.min.replace(tzinfo=UTC)).astimezone(UTC) for v in raw
    )
    tail = f"{end:%H:%M}" if start.date() == end.date() else f"{end:%Y-%m-%d %H:%M}"
    return f"{start:%Y-%m-%d %H:%M} → {tail}"


JOB_COLUMNS: Final = (
    Column("group", field("groupId"), keep=True),
    Column("group name", field("groupName"), priority=6, shrink_to=12),
    Column("job", field("jobId"), keep=True),
    Column("status", field("status"), keep=True),
    Column(
        "resource",
        lambda r: f"{r['resourceType'] or ''} {r['resourceName'] or ''}".strip(),
        priority=4,
        shrink_to=14,
    ),
    Column("log types", lambda r: ",".join(r["logTypes"]), priority=0, shrink_to=12),
    Column(
        "uncompressed",
        lambda r: human_bytes(r["uncompressedSizeTotalBytes"] or 0),
        priority=5,
        right=True,
    ),
    Column("created", field("creationDate"), priority=3),
    Column("expires", field("expirationDate"), priority=1),
    Column("window", _window_cell, priority=2),
)

# `list --verbose`: one row per host part, so a FAILURE job shows which host failed and why.
PART_COLUMNS: Final = (
    Column("group", field("groupId"), keep=True),
    Column("job", field("jobId"), keep=True),
    Column("job status", field("jobStatus"), priority=3),
    Column("host", field("hostName"), keep=True),
    Column("log type", field("logCollectionType"), priority=2),
    Column("part status", field("status"), keep=True),
    Column("error", field("errorMessage"), priority=1, shrink_to=24),
)

DELETE_COLUMNS: Final = (
    Column("group", field("groupId"), keep=True),
    Column("job", field("id"), keep=True),
    Column("status", field("status"), keep=True),
    Column("resource", lambda r: r["resourceName"] or "", priority=2, shrink_to=14),
    Column("created", field("creationDate"), priority=1),
)


def part_rows(jobs: list[Job]) -> list[dict[str, Any]]:
    """One record per host part; a job the server sent without parts gets one of its own."""
    return [
        {"groupId": j.group_id, "jobId": j.id, "jobStatus": j.raw_status} | part.to_json()
        for j in jobs
        for part in j.child_jobs or [ChildJob(host="", log_type="", status="")]
    ]


def job_json(job: Job, group_name: str | None) -> dict[str, Any]:
    """A job as `list --json` prints it (with its window and its parts when it has them)."""
    doc: dict[str, Any] = {
        "groupId": job.group_id,
        "groupName": group_name,
        "jobId": job.id,  # the manifest's, the summary's and --job's name
        "id": job.id,  # the API's (and mongocli -o json's) name, kept for scripts moving over
        "status": job.raw_status,
        "resourceType": job.resource_type,
        "resourceName": job.resource_name,
        "logTypes": list(job.log_types),
        "uncompressedSizeTotalBytes": job.uncompressed_size_bytes,
        "creationDate": job.creation_date,
        "expirationDate": job.expiration_date,
    }
    if job.collection_range is not None:
        doc |= job.collection_range.to_json()
    if job.child_jobs is not None:
        doc["childJobs"] = [part.to_json() for part in job.child_jobs]
    return doc
