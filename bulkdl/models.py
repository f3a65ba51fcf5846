"""The API's nouns as typed values, and the parsing of its JSON into them (pure, no I/O).

Ids are validated as 24 lowercase hex digits (BSON ObjectIds) before they are used anywhere,
because group and job ids become directory and file names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NewType

from bulkdl.errors import ProtocolError

GroupId = NewType("GroupId", str)
JobId = NewType("JobId", str)

_OBJECT_ID = re.compile(r"[0-9a-f]{24}")


def is_object_id(value: str) -> bool:
    """True for exactly 24 lowercase hex digits, the only shape an id may have on disk."""
    return _OBJECT_ID.fullmatch(value) is not None


def group_id(value: str) -> GroupId:
    """Validate a group (project) id; raises ValueError naming the bad value."""
    if not is_object_id(value):
        raise ValueError(f"group id {value!r} is not 24 lowercase hex digits")
    return GroupId(value)


def job_id(value: str) -> JobId:
    """Validate a log-collection job id; raises ValueError naming the bad value."""
    if not is_object_id(value):
        raise ValueError(f"job id {value!r} is not 24 lowercase hex digits")
    return JobId(value)


class JobStatus(StrEnum):
    """Job status as the API spells it; UNKNOWN keeps a new server-side status from crashing us."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    IN_PROGRESS = "IN_PROGRESS"
    MARKED_FOR_EXPIRY = "MARKED_FOR_EXPIRY"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, raw: object) -> JobStatus:
        try:
            return cls(str(raw))
        except ValueError:
            return cls.UNKNOWN


class Outcome(StrEnum):
    """What happened to one job in a run: the manifest's `outcome` field."""

    CREATED = "created"  # `bulkdl collect` asked the API for this job
    DOWNLOADED = "downloaded"
    SKIPPED = "skipped"
    NOT_DOWNLOADABLE = "not_downloadable"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Job:
    """One log-collection job, as much of it as bulkdl uses."""

    group_id: GroupId
    id: JobId
    status: JobStatus
    raw_status: str
    creation_date: str | None = None
    resource_type: str | None = None
    resource_name: str | None = None
    uncompressed_size_bytes: int | None = None
    expiration_date: str | None = None
    log_types: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, group: GroupId, item: Any) -> Job:
        """Parse one element of `results`; the group comes from the URL we asked, not the body."""
        if not isinstance(item, dict):
            raise ProtocolError(f"group {group}: a job in the listing is not a JSON object")
        raw_id = item.get("id")
        if not isinstance(raw_id, str) or not is_object_id(raw_id):
            raise ProtocolError(
                f"group {group}: the listing has a job with a malformed id {raw_id!r}"
            )
        size = item.get("uncompressedSizeTotalBytes")
        raw_status = str(item.get("status", ""))
        return cls(
            group_id=group,
            id=JobId(raw_id),
            status=JobStatus.parse(raw_status),
            raw_status=raw_status,
            creation_date=_opt_str(item.get("creationDate")),
            resource_type=_opt_str(item.get("resourceType")),
            resource_name=_opt_str(item.get("resourceName")),
            uncompressed_size_bytes=size if isinstance(size, int) else None,
            expiration_date=_opt_str(item.get("expirationDate")),
            log_types=tuple(t for t in item.get("logTypes") or () if isinstance(t, str)),
        )


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A group (project) as the Groups API lists it."""

    id: GroupId
    name: str
    org_id: str | None = None

    @classmethod
    def from_api(cls, item: Any) -> GroupInfo:
        if not isinstance(item, dict):
            raise ProtocolError("a group in the group listing is not a JSON object")
        raw_id = item.get("id")
        if not isinstance(raw_id, str) or not is_object_id(raw_id):
            raise ProtocolError(f"the group listing has a group with a malformed id {raw_id!r}")
        return cls(GroupId(raw_id), str(item.get("name", "")), _opt_str(item.get("orgId")))


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class JobResult:
    """The outcome of one job (or of a whole group when its listing failed: job_id is None)."""

    group_id: str
    job_id: str | None
    status: str | None
    outcome: Outcome
    path: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    attempts: int = 0
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    extracted_path: str | None = None
    error_code: str | None = None  # errors.error_code() of what failed it
