"""The API's nouns as typed values, and the parsing of its JSON into them (pure, no I/O).

Ids are validated as 24 lowercase hex digits (BSON ObjectIds) before they are used anywhere,
because group and job ids become directory and file names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NewType

from bulkdl.errors import ProtocolError

GroupId = NewType("GroupId", str)
JobId = NewType("JobId", str)

_OBJECT_ID = re.compile(r"[0-9a-f]{24}")
RAW_ID_LIMIT = 64  # characters of a malformed id kept to name it: enough to recognise, bounded


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
    REPLACED = "replaced"  # downloaded again over an archive the listing no longer matches
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
                f"group {group}: the listing has a job with a malformed id {quote_raw(raw_id)}"
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
            raise ProtocolError(
                f"the group listing has a group with a malformed id {quote_raw(raw_id)}"
            )
        return cls(GroupId(raw_id), str(item.get("name", "")), _opt_str(item.get("orgId")))


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def quote_raw(value: object) -> str:
    """A server-sent value as bounded, printable JSON text: safe in a terminal or a log line.

    ASCII-only JSON escapes control characters (an ESC cannot repaint a terminal) and keeps
    `null` apart from `"null"`; past RAW_ID_LIMIT characters the text is cut and marked.
    """
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = json.dumps(repr(value), ensure_ascii=True)
    return text if len(text) <= RAW_ID_LIMIT else text[:RAW_ID_LIMIT] + "...(cut)"


@dataclass(frozen=True, slots=True)
class Malformed:
    """A listing entry skipped because its id cannot be one (it would become a path).

    Kept only to be named: `raw_id` is `quote_raw` text, never used as an id or a path.
    """

    group_id: GroupId | None  # the group whose job listing held it; None for the group listing
    raw_id: str
    error: str


def parse_jobs(group: GroupId, items: list[Any]) -> tuple[list[Job], list[Malformed]]:
    """A job listing's `results`: the usable jobs, and the entries skipped (pure)."""
    jobs: list[Job] = []
    bad: list[Malformed] = []
    for item in items:
        try:
            jobs.append(Job.from_api(group, item))
        except ProtocolError as exc:
            bad.append(Malformed(group, _raw_id(item), f"{exc}; skipped"))
    return jobs, bad


def parse_groups(items: list[Any]) -> tuple[list[GroupInfo], list[Malformed]]:
    """A group listing's `results`: the usable groups, and the entries skipped (pure)."""
    groups: list[GroupInfo] = []
    bad: list[Malformed] = []
    for item in items:
        try:
            groups.append(GroupInfo.from_api(item))
        except ProtocolError as exc:
            bad.append(Malformed(None, _raw_id(item), f"{exc}; skipped"))
    return groups, bad


def _raw_id(item: object) -> str:
    return quote_raw(item.get("id") if isinstance(item, dict) else item)


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
    # What the listing said, so a later run can tell whether the archive is still current.
    listed_size_bytes: int | None = None
    creation_date: str | None = None
    previous_sha256: str | None = None  # REPLACED: the sha256 of the archive it replaced
    raw_job_id: str | None = None  # a malformed id, quoted (job_id is then None)
    raw_group_id: str | None = None  # a malformed group id from discovery, quoted
    request_sha256: str | None = None  # CREATED: fingerprint of the POST body
