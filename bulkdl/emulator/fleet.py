"""The emulated fleet: groups (with their names and orgs), their log-collection jobs, and the
API keys allowed in.

Pure data, no I/O. Everything is derived from seeds so a fleet (ids, dates, sizes, archive
bytes) is the same on every run. Archives themselves are rendered lazily by `archives.py`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

JOB_STATUSES: Final = ("SUCCESS", "FAILURE", "IN_PROGRESS", "MARKED_FOR_EXPIRY", "EXPIRED")
LOG_TYPES: Final = ("AUTOMATION_AGENT", "BACKUP_AGENT", "MONITORING_AGENT", "MONGODB", "FTDC")
DEFAULT_LOG_TYPES: Final = ("AUTOMATION_AGENT", "MONGODB", "FTDC")

DEMO_PUBLIC_KEY: Final = "bulkdldemo"
DEMO_PRIVATE_KEY: Final = "demo-private-key-0000"  # a documented fake credential
DEMO_BASE_TIME: Final = datetime(2019, 3, 7, 12, 21, 24, tzinfo=UTC)  # the docs' example

DEFAULT_ARCHIVE_BYTES: Final = 256 * 1024
# Readable project names for the first groups of a fleet; later ones are `project-<n>`.
GROUP_NAMES: Final = (
    "prod-eu-1",
    "prod-us-2",
    "staging-1",
    "prod-ap-1",
    "dev-1",
    "qa-1",
    "analytics-1",
    "prod-eu-3",
)
EXPIRY: Final = timedelta(days=30)  # creation + 30 days, as in the documented example
JOB_SPACING: Final = timedelta(hours=1)  # jobs of a group are this far apart, newest first
MONGOD_PORT: Final = 27017
# A POST's time filter: the wire forms read by default (both), and how far back it may reach
# (undocumented: an administrator's setting; 30 days is our assumption). See timefilter.py.
FILTER_DATE_FORMS: Final = ("iso8601", "epoch_ms")
DEFAULT_LOG_HISTORY: Final = timedelta(days=30)

_PATH_SEGMENT: Final = {
    "AUTOMATION_AGENT": "automation_agent",
    "BACKUP_AGENT": "backup_agent",
    "MONITORING_AGENT": "monitoring_agent",
    "MONGODB": "mongodb",
    "FTDC": "ftdc",
}
# (compressed share at least, compression ratio) of mongolog.py's text inside an archive.
_TEXT_RATIOS: Final = (
    (262144, 6.7),
    (65536, 6.4),
    (16384, 6.0),
    (4096, 5.0),
    (2048, 4.4),
    (0, 4.0),
)
_AGENT_TYPES: Final = frozenset({"AUTOMATION_AGENT", "BACKUP_AGENT", "MONITORING_AGENT"})
# A child job's data survives in the archive only in these states.
_HAS_DATA: Final = frozenset({"SUCCESS", "MARKED_FOR_EXPIRY"})


def iso(when: datetime) -> str:
    """Dates on the wire: ISO-8601 UTC, second precision, `Z` suffix."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seeded(*parts: object) -> random.Random:
    """A reproducible generator for test data (ids, sizes, archive bytes), never for secrets."""
    return random.Random(":".join(map(str, parts)))  # noqa: S311 -- determinism is the point


def object_id(when: datetime, rng: random.Random, counter: int) -> str:
    """A BSON ObjectId: 4-byte epoch seconds, 5 seeded bytes, 3-byte counter (lowercase hex)."""
    return f"{int(when.timestamp()):08x}{rng.getrandbits(40):010x}{counter & 0xFFFFFF:06x}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildJob:
    """One (host, log type) part of a job: a directory of the archive and a `childJobs` entry."""

    automation_agent_id: str
    host: str
    log_type: str
    status: str
    uncompressed_bytes: int
    start_date: datetime
    finish_date: datetime | None
    error_message: str | None

    @property
    def host_name(self) -> str:
        """Agents report the bare host; mongod-level types carry the port, as in the examples."""
        return self.host if self.log_type in _AGENT_TYPES else f"{self.host}:{MONGOD_PORT}"

    @property
    def path(self) -> str:
        """Directory of this child inside the archive (and the API's `path` field)."""
        segment = _PATH_SEGMENT[self.log_type]
        if self.log_type in _AGENT_TYPES:
            return f"{self.host}/{segment}"
        return f"{self.host}/{MONGOD_PORT}/{segment}"

    @property
    def has_data(self) -> bool:
        """Whether this part is in the downloadable archive (failed parts are not)."""
        return self.status in _HAS_DATA

    def to_api(self) -> dict[str, Any]:
        """The child job as the API shows it with `verbose=true` (keys alphabetical)."""
        return {
            "automationAgentId": self.automation_agent_id,
            "errorMessage": self.error_message,
            "finishDate": iso(self.finish_date) if self.finish_date else None,
            "hostName": self.host_name,
            "logCollectionType": self.log_type,
            "path": self.path,
            "startDate": iso(self.start_date),
            "status": self.status,
            "uncompressedDiskSpaceBytes": self.uncompressed_bytes,
        }


@dataclass(kw_only=True)
class EmulatedJob:
    """A log-collection job; `archive_bytes` is the target compressed size of its download."""

    id: str
    group_id: str
    status: str
    resource_name: str
    hosts: list[str]
    creation_date: datetime
    seed: int
    resource_type: str = "replicaset"
    log_types: list[str] = field(default_factory=lambda: list(DEFAULT_LOG_TYPES))
    redacted: bool = False
    size_requested_per_file_bytes: int = 10_000_000
    archive_bytes: int = DEFAULT_ARCHIVE_BYTES
    user_id: str = "5c80f75fcf09a246878f67a4"
    expiration_date: datetime | None = None
    # The request's time filter, echoed as sent (int or ISO string: the docs leave the type open).
    log_collection_from_date: int | str | None = None
    log_collection_to_date: int | str | None = None
    archive_kind: str = "logs"  # archive_kinds.ARCHIVE_KINDS: empty, links, bomb, ...

    def __post_init__(self) -> None:
        if self.status not in JOB_STATUSES:
            raise ValueError(f"job {self.id}: unknown status {self.status!r}")
        if unknown := set(self.log_types) - set(LOG_TYPES):
            raise ValueError(f"job {self.id}: unknown log types {sorted(unknown)}")
        if self.expiration_date is None:
            self.expiration_date = self.creation_date + EXPIRY

    @property
    def uncompressed_size_total_bytes(self) -> int:
        """Sum of the children's sizes; derived so it follows status changes made by tests."""
        return sum(c.uncompressed_bytes for c in self.children())

    def archive_key(self) -> tuple[object, ...]:
        """Everything the archive bytes depend on: a cache key that follows test mutations."""
        return (
            self.id,
            self.status,
            self.seed,
            self.archive_bytes,
            tuple(self.hosts),
            tuple(self.log_types),
            self.creation_date,
            self.archive_kind,
            self.log_collection_from_date,  # the logs' timestamps lie inside the window
            self.log_collection_to_date,
        )

    def children(self) -> list[ChildJob]:
        """One child per host x log type (agents once per host); derived, never stored.

        Sizes split `archive_bytes` evenly, so a FAILURE job's archive (successful parts only)
        is smaller. Text logs get their share times what mongolog.py's text compresses by.
        """
        rng = seeded("children", self.seed)
        pairs = [(h, t) for h in self.hosts for t in self.log_types]
        share = max(1, self.archive_bytes // max(1, len(pairs)))
        failing = _failing_pairs(pairs) if self.status == "FAILURE" else set()
        out: list[ChildJob] = []
        for i, (host, log_type) in enumerate(pairs):
            status = _child_status(self.status, i, len(pairs), (host, log_type) in failing)
            size = share if log_type == "FTDC" else text_bytes(share)
            start = self.creation_date
            finish = None if status == "IN_PROGRESS" else start + timedelta(seconds=3 + i)
            out.append(
                ChildJob(
                    automation_agent_id=object_id(self.creation_date, rng, i + 1),
                    host=host,
                    log_type=log_type,
                    status=status,
                    uncompressed_bytes=size if status != "IN_PROGRESS" else 0,
                    start_date=start,
                    finish_date=finish,
                    error_message=(
                        f"Failed to collect {log_type} logs from {host}: agent did not respond"
                        if status == "FAILURE"
                        else None
                    ),
                )
            )
        return out

    def download_path(self) -> str:
        """The API path of this job's archive (relative to the host)."""
        return f"/api/public/v1.0/groups/{self.group_id}/logCollectionJobs/{self.id}/download"

    def to_api(self, base_url: str, verbose: bool) -> dict[str, Any]:
        """The job object as the API documents it, keys alphabetical."""
        assert self.expiration_date is not None  # set in __post_init__
        doc: dict[str, Any] = {}
        if verbose:
            doc["childJobs"] = [c.to_api() for c in self.children()]
        doc |= {
            "creationDate": iso(self.creation_date),
            "downloadUrl": f"{base_url}{self.download_path()}",
            "expirationDate": iso(self.expiration_date),
            "groupId": self.group_id,
            "id": self.id,
            "logTypes": list(self.log_types),
            "redacted": self.redacted,
            "resourceName": self.resource_name,
            "resourceType": self.resource_type.lower(),
            "rootResourceName": self.resource_name,
            "rootResourceType": self.resource_type.lower(),
            "sizeRequestedPerFileBytes": self.size_requested_per_file_bytes,
            "status": self.status,
            "uncompressedSizeTotalBytes": self.uncompressed_size_total_bytes,
            "userId": self.user_id,
        }
        if self.log_collection_from_date is not None:
            doc["logCollectionFromDate"] = self.log_collection_from_date
        if self.log_collection_to_date is not None:
            doc["logCollectionToDate"] = self.log_collection_to_date
        return dict(sorted(doc.items()))


def text_bytes(share: int) -> int:
    """How much log text gzips to about `share` bytes (mongolog.py's ratio grows with size)."""
    from bulkdl.emulator.mongolog import NOISE_RATIO, REALISTIC_BYTES

    ratio = next(r for floor, r in _TEXT_RATIOS if share >= floor)
    if share * ratio <= REALISTIC_BYTES:
        return int(share * ratio)
    return int(REALISTIC_BYTES + (share - REALISTIC_BYTES / ratio) * NOISE_RATIO)


def _failing_pairs(pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """A failed job loses its last host (or, with one host, its last log type)."""
    hosts = list(dict.fromkeys(h for h, _ in pairs))
    if len(hosts) > 1:
        return {p for p in pairs if p[0] == hosts[-1]}
    return {pairs[-1]} if len(pairs) > 1 else set()


def _child_status(job_status: str, index: int, total: int, failing: bool) -> str:
    if job_status == "FAILURE":
        return "FAILURE" if failing else "SUCCESS"
    if job_status == "IN_PROGRESS":
        return "SUCCESS" if index < total // 2 else "IN_PROGRESS"
    return job_status


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """What the Groups API tells about a project besides its id."""

    name: str
    org_id: str


@dataclass
class Fleet:
    """Everything the emulator serves, and who may see it.

    Group ids in `not_in_group` answer 401 NOT_IN_GROUP, those in `forbidden` 403
    IP_ADDRESS_NOT_ON_WHITELIST; any other well-formed id missing from `groups` is 404. Both
    kinds are left out of the groups listings. Jobs created (or retried) for a resourceName in
    `failing_resources` end in FAILURE instead of SUCCESS. A POST's time filter is read in
    `filter_date_forms` and may reach `log_history` back.
    """

    groups: dict[str, list[EmulatedJob]] = field(default_factory=dict)  # newest job first
    keys: dict[str, str] = field(default_factory=lambda: {DEMO_PUBLIC_KEY: DEMO_PRIVATE_KEY})
    not_in_group: set[str] = field(default_factory=set)
    forbidden: set[str] = field(default_factory=set)
    group_info: dict[str, GroupInfo] = field(default_factory=dict)
    failing_resources: set[str] = field(default_factory=set)
    # The POST time filter: which wire forms are read ("iso8601", "epoch_ms"; see
    # timefilter.py) and how far back logs are kept (the administrator's log history).
    filter_date_forms: tuple[str, ...] = FILTER_DATE_FORMS
    log_history: timedelta = DEFAULT_LOG_HISTORY

    def info(self, group_id: str) -> GroupInfo:
        """The group's name and org; groups put into `groups` by hand get a derived one."""
        found = self.group_info.get(group_id)
        if found is not None:
            return found
        return GroupInfo(name=f"project-{group_id[-6:]}", org_id=org_id_for(0, 0))

    def visible_groups(self, org_id: str | None = None) -> list[str]:
        """Groups the key can list (not `not_in_group`, not `forbidden`), optionally of one org."""
        hidden = self.not_in_group | self.forbidden
        return [
            gid
            for gid in self.groups
            if gid not in hidden and (org_id is None or self.info(gid).org_id == org_id)
        ]

    def org_ids(self) -> set[str]:
        """Every org that has a group, visible or not."""
        return {self.info(gid).org_id for gid in self.groups}

    def job(self, job_id: str) -> EmulatedJob | None:
        """Find a job by id in any group (for tests and fault set-up)."""
        for jobs in self.groups.values():
            for job in jobs:
                if job.id == job_id:
                    return job
        return None

    def all_jobs(self) -> list[EmulatedJob]:
        """Every job of every group, group by group."""
        return [job for jobs in self.groups.values() for job in jobs]


def group_id_for(seed: int, index: int) -> str:
    """A deterministic project id (ObjectId) for the index-th group of a seeded fleet."""
    rng = seeded("group", seed, index)
    return object_id(DEMO_BASE_TIME - timedelta(days=400), rng, index)


def org_id_for(seed: int, index: int) -> str:
    """A deterministic organization id (ObjectId) for the index-th org of a seeded fleet."""
    rng = seeded("org", seed, index)
    return object_id(DEMO_BASE_TIME - timedelta(days=500), rng, index)


def group_name_for(index: int) -> str:
    """A readable project name for the index-th group of a fleet, unique within it."""
    return GROUP_NAMES[index] if index < len(GROUP_NAMES) else f"project-{index + 1}"


def add_group(
    fleet: Fleet,
    group_id: str | None = None,
    *,
    name: str | None = None,
    org_id: str | None = None,
    n_jobs: int = 6,
    statuses: Sequence[str] = JOB_STATUSES,
    archive_bytes: int = DEFAULT_ARCHIVE_BYTES,
    log_types: Sequence[str] = DEFAULT_LOG_TYPES,
    members: int = 3,
    resource_name: str | None = None,
    seed: int = 0,
    base_time: datetime = DEMO_BASE_TIME,
) -> str:
    """Add a group of `n_jobs` jobs whose statuses cycle through `statuses`; return its id.

    `name` defaults to `group_name_for` its position, `org_id` to the seed's first org.
    Cheap even for thousands of jobs: archives are only rendered when downloaded.
    """
    index = len(fleet.groups)
    gid = group_id if group_id is not None else group_id_for(seed, index)
    if gid in fleet.groups:
        raise ValueError(f"group {gid} already exists")
    fleet.group_info[gid] = GroupInfo(
        name=name if name is not None else group_name_for(index),
        org_id=org_id if org_id is not None else org_id_for(seed, 0),
    )
    rng = seeded("jobs", seed, gid)
    short = gid[8:14]  # the seeded part of the ObjectId
    name = resource_name or f"rs-{short}"
    hosts = [f"node{k}.{short}.example.net" for k in range(members)]
    jobs: list[EmulatedJob] = []
    for i in range(n_jobs):
        created = base_time - i * JOB_SPACING
        jobs.append(
            EmulatedJob(
                id=object_id(created, rng, i),
                group_id=gid,
                status=statuses[i % len(statuses)],
                resource_name=name,
                hosts=list(hosts),
                creation_date=created,
                seed=rng.getrandbits(32),
                log_types=list(log_types),
                redacted=i % 2 == 1,
                archive_bytes=archive_bytes,
            )
        )
    fleet.groups[gid] = jobs
    return gid


def demo_fleet(
    groups: int = 3,
    jobs_per_group: int = 6,
    archive_bytes: int = DEFAULT_ARCHIVE_BYTES,
    seed: int = 0,
    orgs: int = 1,
) -> Fleet:
    """A small fleet where every group has a job in every status, for demos and tests.

    Groups are dealt round-robin into `orgs` organizations (all in one by default).
    """
    if orgs < 1:
        raise ValueError(f"orgs must be >= 1, got {orgs}")
    fleet = Fleet()
    for i in range(groups):
        add_group(
            fleet,
            n_jobs=jobs_per_group,
            archive_bytes=archive_bytes,
            seed=seed,
            org_id=org_id_for(seed, i % orgs),
        )
    return fleet
