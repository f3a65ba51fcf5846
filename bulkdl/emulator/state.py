"""What a running emulator holds and what it has seen: the fleet, nonces, archives, counters.

Tests assert on `Counters` (how many challenges, how many downloads of a job, how many
downloads overlapped, which faults were served), so every field is a plain number or a
`collections.Counter`, and on `events` (what happened when). Faults, the rate limit and the
lifecycle of created jobs (durations, outcomes) are set here too, see `faults.py`.

Two clocks, both injectable: `clock` (monotonic seconds) times collections and events;
`wall_clock` (aware UTC datetime) stamps created jobs and is what PATCH's "in the future" means.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from bulkdl.emulator import errors
from bulkdl.emulator.archives import ArchiveCache
from bulkdl.emulator.digest import NonceStore, challenge_header
from bulkdl.emulator.events import Event, EventLog
from bulkdl.emulator.faults import (
    CREATE_FAULTS,
    DOWNLOAD_FAULTS,
    LISTING_FAULTS,
    Fault,
    FaultPlan,
    kind_name,
)
from bulkdl.emulator.fleet import EmulatedJob, Fleet
from bulkdl.emulator.lifecycle import Lifecycle
from bulkdl.emulator.ratelimit import FixedWindow

DEFAULT_COLLECT_DURATION_S: Final = 2.0

CollectDuration = float | Callable[[EmulatedJob], float]


def utc_now() -> datetime:
    """The default wall clock."""
    return datetime.now(UTC)


@dataclass
class Counters:
    """Traffic seen since start (or the last `reset()`).

    `requests` counts everything on the wire; `challenges` the 401s that carried a digest
    challenge (`stale_nonces` of them for an expired nonce). The `*_by_*` counters and
    `requests_by_kind` ("list", "job", "download", "create", "patch", "retry", "delete",
    "groups", "org_groups", "unknown") count authenticated requests only. `in_flight*` are
    archive bodies streaming right now, `max_in_flight*` the peak.
    `faults_served` counts injected faults actually applied, by class name ("ResetAfter");
    `rate_limited` the 429s of `EmulatorState.set_rate_limit` (not those of `RateLimit`).
    """

    requests: int = 0
    authorization_headers: int = 0  # requests that carried an Authorization header at all
    authorization_schemes: Counter[str] = field(default_factory=Counter)  # "digest", "basic"
    challenges: int = 0
    stale_nonces: int = 0
    requests_by_kind: Counter[str] = field(default_factory=Counter)
    responses_by_status: Counter[int] = field(default_factory=Counter)
    list_requests_by_group: Counter[str] = field(default_factory=Counter)
    downloads_by_job: Counter[str] = field(default_factory=Counter)
    downloads_started: int = 0
    downloads_completed: int = 0
    bytes_sent: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    in_flight_by_group: Counter[str] = field(default_factory=Counter)
    max_in_flight_by_group: Counter[str] = field(default_factory=Counter)
    faults_served: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0

    def download_started(self, group_id: str) -> None:
        """An archive body begins streaming."""
        self.downloads_started += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.in_flight_by_group[group_id] += 1
        self.max_in_flight_by_group[group_id] = max(
            self.max_in_flight_by_group[group_id], self.in_flight_by_group[group_id]
        )

    def download_ended(self, group_id: str, *, completed: bool) -> None:
        """An archive body ends: sent in full, or cut short (client gone, server stopping)."""
        self.in_flight -= 1
        self.in_flight_by_group[group_id] -= 1
        if self.in_flight_by_group[group_id] == 0:
            del self.in_flight_by_group[group_id]  # so an idle server compares equal to {}
        if completed:
            self.downloads_completed += 1


@dataclass
class EmulatorState:
    """Shared by every handler of one app; reachable through `emulator_state(app)`."""

    fleet: Fleet
    nonces: NonceStore
    chunk_size: int = 64 * 1024
    chunk_delay_s: float = 0.0
    archives: ArchiveCache = field(default_factory=ArchiveCache)
    counters: Counters = field(default_factory=Counters)
    streams: set[asyncio.Task[Any]] = field(default_factory=set)  # handlers sending a body
    download_faults: FaultPlan = field(
        default_factory=lambda: FaultPlan("download", DOWNLOAD_FAULTS)
    )
    listing_faults: FaultPlan = field(default_factory=lambda: FaultPlan("listing", LISTING_FAULTS))
    create_faults: FaultPlan = field(default_factory=lambda: FaultPlan("create", CREATE_FAULTS))
    # PATCH, PUT …/retry and DELETE of one job, keyed by job id (the kinds a create takes).
    change_faults: FaultPlan = field(default_factory=lambda: FaultPlan("change", CREATE_FAULTS))
    rate_limit: FixedWindow | None = None
    challenges_first: tuple[str, ...] = ()  # WWW-Authenticate values sent before the digest one
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], datetime] = utc_now
    collect_duration_s: CollectDuration = DEFAULT_COLLECT_DURATION_S  # or per job: job -> s
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    event_log: EventLog = field(default_factory=EventLog)
    serials: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        if not callable(self.collect_duration_s) and not self.collect_duration_s >= 0:
            raise ValueError(f"collect_duration_s must be >= 0, got {self.collect_duration_s}")

    @property
    def events(self) -> list[Event]:
        """What happened so far, oldest first (a copy; collections due by now included)."""
        self.settle()
        return self.event_log.snapshot()

    def wall_now(self) -> datetime:
        """`wall_clock()` as an aware UTC datetime (a naive one is taken as UTC)."""
        now = self.wall_clock()
        return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)

    def settle(self) -> None:
        """End every collection due by `clock()`, logging "finished" at the time each ended."""
        for at, job in self.lifecycle.settle(self.clock()):
            self.event_log.record(Event(at, "finished", job.group_id, job.id, job.status))

    def record(self, kind: str, job: EmulatedJob, detail: str = "") -> None:
        """Log an event of `job` now (after any collection that ended before it)."""
        self.settle()
        self.event_log.record(Event(self.clock(), kind, job.group_id, job.id, detail))

    def start_collecting(self, job: EmulatedJob, kind: str) -> None:
        """Log `kind` ("created", "retried") for `job` and put it IN_PROGRESS until its duration
        has passed (logged first, so even a 0 s collection finishes after it starts).

        It ends in FAILURE if its resourceName is in `fleet.failing_resources` now, unless
        `set_outcome` says otherwise.
        """
        self.record(kind, job)
        duration = self.collect_duration_s
        seconds = duration(job) if callable(duration) else duration
        outcome = "FAILURE" if job.resource_name in self.fleet.failing_resources else "SUCCESS"
        self.lifecycle.start(job, self.clock(), seconds, outcome)

    def set_collect_duration(self, job_id: str, seconds: float | None) -> None:
        """Collections of this job take `seconds` from their start, even one already running.

        None restores `collect_duration_s`.
        """
        self.lifecycle.set_duration(job_id, seconds)

    def set_outcome(self, job_id: str, outcome: str | None) -> None:
        """Collections of this job end in "SUCCESS" or "FAILURE", even one already running.

        Kept across retries; None restores the `fleet.failing_resources` rule.
        """
        self.lifecycle.set_outcome(job_id, outcome)

    def finished_at(self, job_id: str) -> float | None:
        """When the job's last collection ended (`clock` time), None if not ended."""
        self.settle()
        return self.lifecycle.finished_at(job_id)

    def add_download_faults(self, job_id: str, faults: Sequence[Fault]) -> None:
        """The next download requests of `job_id` take these faults, one per request, in order."""
        self.download_faults.add(job_id, faults)

    def add_listing_faults(self, group_id: str, faults: Sequence[Fault]) -> None:
        """The next listing requests of `group_id` (any page) take these faults, in order.

        The group listings count under "groups" (GET /groups) and "org:<ORG-ID>".
        """
        self.listing_faults.add(group_id, faults)

    def add_create_faults(self, group_id: str, faults: Sequence[Fault]) -> None:
        """The next POSTs creating a job in `group_id` take these faults, in order."""
        self.create_faults.add(group_id, faults)

    def add_change_faults(self, job_id: str, faults: Sequence[Fault]) -> None:
        """The next PATCH, retry or DELETE requests of `job_id` take these faults, in order."""
        self.change_faults.add(job_id, faults)

    def clear_faults(self) -> None:
        """Drop every fault not yet served."""
        self.download_faults.clear()
        self.listing_faults.clear()
        self.create_faults.clear()
        self.change_faults.clear()

    def set_rate_limit(
        self,
        requests_per_minute: int | None,
        *,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Refuse a group's requests past this many per window with 429; None lifts the limit.

        Cloud Manager documents 100 per minute per group; off by default. `window_s` and
        `clock` let tests use a short or a fake window.
        """
        self.rate_limit = (
            None
            if requests_per_minute is None
            else FixedWindow(requests_per_minute, window_s, clock=clock)
        )

    def fault_served(self, fault: Fault) -> None:
        """Count a fault the handlers actually applied."""
        self.counters.faults_served[kind_name(fault)] += 1

    def expire_nonces(self) -> None:
        """Make every issued nonce stale: each client's next request gets 401 stale=true."""
        self.nonces.expire_all()

    def challenge(self, *, stale: bool) -> errors.ApiError:
        """A counted 401 carrying a fresh digest challenge, to raise."""
        self.counters.challenges += 1
        self.counters.stale_nonces += stale
        digest = challenge_header(self.nonces.issue(), stale=stale)
        return errors.unauthorized(*self.challenges_first, digest)

    def offer_challenges_first(self, *challenges: str) -> None:
        """Every 401 challenge lists these (e.g. `Basic realm="x"`) before the digest one."""
        self.challenges_first = challenges

    def reset(self) -> None:
        """Zero the counters between phases of a test; streams still running stay counted.

        Faults not yet served, the rate limit's windows and the event log are kept.
        """
        fresh = Counters(
            in_flight=self.counters.in_flight,
            max_in_flight=self.counters.in_flight,
            in_flight_by_group=+self.counters.in_flight_by_group,
        )
        fresh.max_in_flight_by_group = Counter(fresh.in_flight_by_group)
        self.counters = fresh


STATE_KEY: Final = web.AppKey("bulkdl_emulator_state", EmulatorState)
