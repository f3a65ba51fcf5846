"""The API's nouns as typed values, and the parsing of its JSON into them (pure, no I/O).

Ids are validated as 24 lowercase hex digits (BSON ObjectIds) before they are used anywhere,
because group and job ids become directory and file names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, NewType

from bulkdl.domain.errors import ProtocolError
from bulkdl.domain.timewindow import parse_iso

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
        # A dict lookup: the enum's own call costs several times more, once per listed job.
        return _STATUSES.get(raw, cls.UNKNOWN) if isinstance(raw, str) else cls.UNKNOWN


_STATUSES: Final[dict[str, JobStatus]] = {status.value: status for status in JobStatus}


def format_api_date(when: datetime) -> str:
    """The API's date form: ISO-8601 UTC, second precision, `Z`."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Epoch numbers below this are seconds, above it milliseconds: 1e11 ms is March 1973, while
# 1e11 s is the year 5138, so no date a log collection can mean falls between the two readings.
_EPOCH_MS_FROM: Final = 100_000_000_000


def parse_wire_date(value: object) -> datetime | None:
    """A date as a server may send it: ISO-8601 (the docs) or an epoch number (the Go client's
    int64, milliseconds; seconds read too); None when absent or unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) >= _EPOCH_MS_FROM else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value.strip():
        return parse_iso(value)
    return None


class DateForm(StrEnum):
    """How `logCollectionFromDate/ToDate` travel: the docs say an ISO-8601 string, the Go
    client (2025) and mongocli send an int64 of epoch milliseconds."""

    ISO = "ISO 8601"
    EPOCH_MS = "epoch milliseconds"

    def other(self) -> DateForm:
        return DateForm.EPOCH_MS if self is DateForm.ISO else DateForm.ISO

    def write(self, when: datetime) -> str | int:
        if self is DateForm.ISO:
            return format_api_date(when)
        return int(when.timestamp() * 1000)


RANGE_FIELDS: Final = ("logCollectionFromDate", "logCollectionToDate")


@dataclass(frozen=True, slots=True)
class CollectionRange:
    """The time window a log collection is limited to (`collect --from/--to`)."""

    start: datetime
    end: datetime

    def to_api(self, form: DateForm) -> dict[str, str | int]:
        """The POST body's two fields in `form`."""
        return dict(zip(RANGE_FIELDS, (form.write(self.start), form.write(self.end)), strict=True))

    def to_json(self) -> dict[str, str]:
        """For people and scripts (list --json, the manifest): always ISO-8601."""
        return dict(zip(RANGE_FIELDS, map(format_api_date, (self.start, self.end)), strict=True))

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> CollectionRange | None:
        """A listed job's window, whichever form the server answers in; None without one."""
        raw = item.get(RANGE_FIELDS[0])
        if raw is None:  # most listings: no window
            return None
        start = parse_wire_date(raw)
        end = parse_wire_date(item.get(RANGE_FIELDS[1])) if start is not None else None
        return cls(start, end) if start is not None and end is not None else None


@dataclass(frozen=True, slots=True)
class ChildJob:
    """One host's part of a job (one log type of one process), from `verbose=true`."""

    host: str
    log_type: str
    status: str
    error: str | None = None
    path: str | None = None
    uncompressed_bytes: int | None = None

    @classmethod
    def from_api(cls, group: GroupId, item: Any) -> ChildJob:
        if not isinstance(item, dict):
            raise ProtocolError(f"group {group}: a job's childJobs entry is not a JSON object")
        error = _opt_str(item.get("errorMessage"))
        size = item.get("uncompressedDiskSpaceBytes")
        return cls(
            host=str(item.get("hostName") or ""),
            log_type=str(item.get("logCollectionType") or ""),
            status=str(item.get("status") or ""),
            # Go's fixtures carry the string "null" where the docs show null.
            error=error if error and error != "null" else None,
            path=_opt_str(item.get("path")),
            uncompressed_bytes=size if isinstance(size, int) else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "hostName": self.host,
            "logCollectionType": self.log_type,
            "status": self.status,
            "errorMessage": self.error,
        }


class Outcome(StrEnum):
    """What happened to one job in a run: the manifest's `outcome` field."""

    CREATED = "created"  # `bulkdl collect` asked the API for this job
    DOWNLOADED = "downloaded"
    REPLACED = "replaced"  # downloaded again over an archive the listing no longer matches
    SKIPPED = "skipped"
    NOT_DOWNLOADABLE = "not_downloadable"
    FAILED = "failed"
    DELETED = "deleted"  # `bulkdl delete` removed this job from Cloud Manager


# Job and JobResult are values nothing assigns to, but not frozen: a frozen dataclass sets each
# field through object.__setattr__, and one of each is built per listed job (JobResult often
# twice, with dataclasses.replace): 3-5 us each, a tenth of a 10,000-job listing's CPU.
# unsafe_hash keeps them hashable by value, as frozen made them.
@dataclass(slots=True, unsafe_hash=True)
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
    collection_range: CollectionRange | None = None
    child_jobs: tuple[ChildJob, ...] | None = None  # None: listed without verbose=true

    @property
    def failed_parts(self) -> tuple[ChildJob, ...]:
        """The host parts that failed (known only when listed verbose)."""
        return tuple(c for c in self.child_jobs or () if c.status == JobStatus.FAILURE)

    @classmethod
    def from_api(cls, group: GroupId, item: Any) -> Job:
        """Parse one element of `results`; the group comes from the URL we asked, not the body."""
        if not isinstance(item, dict):
            raise ProtocolError(f"group {group}: a job in the listing is not a JSON object")
        get = item.get
        raw_id = get("id")
        if not isinstance(raw_id, str) or not is_object_id(raw_id):
            raise ProtocolError(
                f"group {group}: the listing has a job with a malformed id {quote_raw(raw_id)}"
            )
        size = get("uncompressedSizeTotalBytes")
        raw_status = str(get("status", ""))
        types = get("logTypes") or ()
        return cls(
            group_id=group,
            id=JobId(raw_id),
            status=JobStatus.parse(raw_status),
            raw_status=raw_status,
            creation_date=_opt_str(get("creationDate")),
            resource_type=_opt_str(get("resourceType")),
            resource_name=_opt_str(get("resourceName")),
            uncompressed_size_bytes=size if size.__class__ is int else None,  # not a bool
            expiration_date=_opt_str(get("expirationDate")),
            log_types=tuple([t for t in types if isinstance(t, str)]),
            collection_range=CollectionRange.from_api(item),
            child_jobs=_children(group, get("childJobs")),
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
    return value if value.__class__ is str else None  # not isinstance: this runs per field


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


def _children(group: GroupId, raw: object) -> tuple[ChildJob, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ProtocolError(f"group {group}: a job's childJobs is not a list")
    return tuple(ChildJob.from_api(group, item) for item in raw)


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see Job
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
    collection_range: CollectionRange | None = None
    failed_parts: tuple[ChildJob, ...] = ()  # a FAILURE job's hosts that failed, and why
    error_code: str | None = None  # errors.error_code() of what failed it
    empty: bool = False  # the archive holds no logs (a gzip of an empty tar, or of nothing)
