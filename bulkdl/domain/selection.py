"""Which groups and jobs a command acts on, and what it would send (pure: no I/O).

Filters for jobs (`--job`, `--status`, `--since`, `--resource-name`) and groups
(`--group-name GLOB`), the body of a log-collection request (`bulkdl collect`) and its time
window (`--from`/`--to`), and the new
expiration date of `bulkdl extend`, checked against the API's six-month rule before sending.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from bulkdl.domain.errors import ConfigError
from bulkdl.domain.models import (
    CollectionRange,
    GroupId,
    GroupInfo,
    Job,
    JobId,
    JobStatus,
)
from bulkdl.domain.models import (
    format_api_date as format_api_date,  # re-exported: fleet.py formats dates from here
)


class GroupChoice(Protocol):
    """What choose_groups reads of the settings (Settings has these): domain needs no settings."""

    @property
    def org(self) -> str | None: ...
    @property
    def group_name(self) -> str | None: ...
    @property
    def groups(self) -> Sequence[GroupId]: ...


LOG_TYPES: Final = ("AUTOMATION_AGENT", "BACKUP_AGENT", "MONITORING_AGENT", "MONGODB", "FTDC")
# The current Cloud/Ops Manager docs spell it REPLICASET; older ones REPLICA_SET; mongocli
# sends lowercase. We send the current docs' uppercase and accept every spelling from users.
RESOURCE_TYPES: Final = {
    "cluster": "CLUSTER",
    "process": "PROCESS",
    "replicaset": "REPLICASET",
    "replica_set": "REPLICASET",
}
DEFAULT_SIZE_PER_FILE: Final = 10_000_000  # the documented example's value
MAX_EXTENSION: Final = 6  # months after creation, per the API docs
# "6 months" is 181-184 days by the calendar; the error text says "6 months in the future".
# We never send more than 183 days after creation, which every reading accepts.
MAX_EXTENSION_DAYS: Final = 183

_RELATIVE: Final = re.compile(r"(\d+)\s*([mhd])")
_UNITS: Final = {"m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Jobs to act on; an empty field means "no restriction"."""

    job_ids: frozenset[str] = frozenset()
    statuses: frozenset[JobStatus] = frozenset()
    since: datetime | None = None
    resource_name: str | None = None  # a glob, matched against resourceName

    @property
    def selects_all(self) -> bool:
        """No restriction at all: a listing can be taken whole, without a test per job."""
        restricted = self.job_ids or self.statuses or self.since is not None
        return not restricted and self.resource_name is None

    def matches(self, job: Job) -> bool:
        return self.left_out_by(job) is None

    def left_out_by(self, job: Job) -> str | None:
        """Why the filter leaves `job` out (naming the flag), or None when it selects it."""
        if self.job_ids and job.id not in self.job_ids:
            return "--job"
        if self.statuses and job.status not in self.statuses:
            return f"--status (it is {job.raw_status})"
        if self.resource_name is not None and not fnmatch.fnmatchcase(
            job.resource_name or "", self.resource_name
        ):
            return f"--resource-name (its resource is {job.resource_name!r})"
        if self.since is not None:
            created = parse_api_date(job.creation_date)
            if created is None or created < self.since:
                return f"--since (created {job.creation_date or 'at an unknown date'})"
        return None


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A `--job` id that selects nothing, and why (the group is None when no listing had it)."""

    job_id: JobId
    group_id: GroupId | None
    error: str


def unmatched_jobs(job_filter: JobFilter, listed: Iterable[Job]) -> list[Unmatched]:
    """Each `--job` id that selects nothing among the listed jobs (taken before filtering):
    a runbook naming a job must not succeed without touching it."""
    found: dict[str, Job] = {job.id: job for job in listed if job.id in job_filter.job_ids}
    unmatched = []
    for wanted in sorted(job_filter.job_ids):
        job = found.get(wanted)
        if job is None:
            error = f"job {wanted}: not found in the listings of the selected groups (--job)"
            unmatched.append(Unmatched(JobId(wanted), None, error))
        elif (reason := job_filter.left_out_by(job)) is not None:
            error = f"group {job.group_id} job {wanted}: --job names it but {reason} leaves it out"
            unmatched.append(Unmatched(job.id, job.group_id, error))
    return unmatched


def parse_statuses(raw: Iterable[str]) -> frozenset[JobStatus]:
    """`--status success,FAILURE` -> statuses; an unknown one is a ConfigError naming it."""
    statuses = set()
    for part in (p.strip() for item in raw for p in item.split(",")):
        if not part:
            continue
        status = JobStatus.parse(part.upper())
        if status is JobStatus.UNKNOWN:
            known = ", ".join(s.value for s in JobStatus if s is not JobStatus.UNKNOWN)
            raise ConfigError(f"--status: unknown job status {part!r}", hint=f"one of {known}")
        statuses.add(status)
    return frozenset(statuses)


def parse_since(raw: str, now: datetime, flag: str = "--since") -> datetime:
    """`--since 2026-11-25`, `2026-11-25T08:00Z`, `now`, or relative `90m` / `12h` / `7d` ago
    (UTC).

    `flag` names the option in the error, as `--from` / `--to` read instants the same way.
    """
    text = raw.strip()
    if text.lower() == "now":
        return now
    if m := _RELATIVE.fullmatch(text):
        try:
            return now - timedelta(seconds=int(m[1]) * _UNITS[m[2]])
        except OverflowError:  # before the year 1, or too large for timedelta itself
            raise ConfigError(
                f"{flag}: {raw!r} reaches too far back (before the year 1)",
                hint="use a nearer instant: an ISO date (2026-11-25) or 90m / 12h / 7d",
            ) from None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{flag}: cannot read {raw!r} as a date",
            hint="use an ISO date (2026-11-25, 2026-11-25T08:00Z) or 90m / 12h / 7d",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def collection_range(
    from_raw: str | None, to_raw: str | None, now: datetime
) -> CollectionRange | None:
    """`collect --from/--to`: both or neither, the start in the past and before the end.

    Checked before any request, so a typo never reaches a fleet of projects.
    """
    if from_raw is None and to_raw is None:
        return None
    if from_raw is None or to_raw is None:
        given, missing = ("--from", "--to") if to_raw is None else ("--to", "--from")
        raise ConfigError(
            f"{given} needs {missing}: the API takes the collection window's two ends together",
            hint="e.g. --from 2h --to 0m (the last two hours)",
        )
    start = parse_since(from_raw, now, "--from")
    end = parse_since(to_raw, now, "--to")
    if start >= now:
        raise ConfigError(
            f"--from {format_api_date(start)} is not in the past (now is {format_api_date(now)})"
        )
    if start >= end:
        raise ConfigError(
            f"--from {format_api_date(start)} is not before --to {format_api_date(end)}"
        )
    return CollectionRange(start, end)


def parse_api_date(raw: str | None) -> datetime | None:
    """The API's `2019-03-07T12:21:24Z` as an aware datetime; None if absent or odd."""
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def select_groups(groups: Iterable[GroupInfo], name_glob: str | None) -> list[GroupInfo]:
    """Groups whose name matches the glob (case-sensitive, as fnmatch), in the API's order."""
    return [g for g in groups if name_glob is None or fnmatch.fnmatchcase(g.name, name_glob)]


def choose_groups(
    settings: GroupChoice, found: Iterable[GroupInfo]
) -> tuple[list[GroupId], list[str]]:
    """The discovered groups a command acts on (name glob, then --group if also given), and one
    line per --group that discovery did not find: a failure of its own, the others go on.

    ConfigError when nothing is chosen and no --group was named (a glob or org matching none).
    """
    where = f" in org {settings.org}" if settings.org else ""
    named = f" named {settings.group_name!r}" if settings.group_name else ""
    chosen = [g.id for g in select_groups(found, settings.group_name)]
    missing: list[str] = []
    if settings.groups:  # --group together with discovery: only those, if the key sees them
        missing = [
            f"group {g}: not among the groups{named}{where} visible to this API key (--group)"
            for g in settings.groups
            if g not in chosen
        ]
        chosen = [g for g in chosen if g in settings.groups]
    if not chosen and not missing:
        raise ConfigError(f"no groups{named}{where} are visible to this API key")
    return chosen, missing


def collect_request(
    *,
    resource_type: str,
    resource_name: str,
    log_types: Iterable[str],
    size_per_file: int = DEFAULT_SIZE_PER_FILE,
    redacted: bool = True,
) -> dict[str, Any]:
    """The POST body for one log-collection job, validated as the API would."""
    wire_type = RESOURCE_TYPES.get(resource_type.strip().lower())
    if wire_type is None:
        raise ConfigError(
            f"--resource-type: {resource_type!r} is not cluster, replicaset or process"
        )
    if not resource_name.strip():
        raise ConfigError("--resource-name must not be empty")
    types = [t.strip().upper() for t in log_types if t.strip()]
    if not types:
        raise ConfigError("--log-types: name at least one", hint=", ".join(LOG_TYPES))
    for t in types:
        if t not in LOG_TYPES:
            raise ConfigError(f"--log-types: unknown log type {t!r}", hint=", ".join(LOG_TYPES))
    if size_per_file < 1:
        raise ConfigError(
            f"--size-per-file must be a positive number of bytes, got {size_per_file}"
        )
    return {
        "logTypes": list(dict.fromkeys(types)),
        "redacted": redacted,
        "resourceName": resource_name.strip(),
        "resourceType": wire_type,
        "sizeRequestedPerFileBytes": size_per_file,
    }


def add_months(when: datetime, months: int) -> datetime:
    """Calendar months later, clamped to the month's last day (31 Aug + 6 -> 28/29 Feb)."""
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    for day in (when.day, 30, 29, 28):
        try:
            return when.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def new_expiration(job: Job, days: int, now: datetime) -> datetime:
    """now + days, refused (ConfigError naming the job) past creation + 6 months or if expired."""
    if days < 1:
        raise ConfigError(f"--days must be at least 1, got {days}")
    if job.status is JobStatus.EXPIRED:
        raise ConfigError(f"job {job.id} has expired: it cannot be extended")
    target = now + timedelta(days=days)
    created = parse_api_date(job.creation_date)
    if created is None:
        return target
    latest = min(add_months(created, MAX_EXTENSION), created + timedelta(days=MAX_EXTENSION_DAYS))
    if target > latest:
        raise ConfigError(
            f"job {job.id}: {format_api_date(target)} is more than 6 months after its creation "
            f"({job.creation_date}); the latest allowed is {format_api_date(latest)}"
        )
    return target
