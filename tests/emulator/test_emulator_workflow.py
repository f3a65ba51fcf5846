"""The emulator's incident workflow over loopback: group discovery, create, lifecycle, extend,
retry, delete and the event log, driven by aiohttp's real DigestAuthMiddleware.

Collections are timed by a fake monotonic clock and dated by a fake wall clock, so no test
sleeps.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import aiohttp
import anyio
import pytest

from bulkdl.emulator import (
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_KEY,
    EmulatedJob,
    EmulatorThread,
    Event,
    EventLog,
    Fleet,
    Lifecycle,
    RunningEmulator,
    demo_fleet,
    make_archive,
    org_id_for,
    serve,
)
from tests.conftest import await_for

API = "/api/public/v1.0"
WALL = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)  # "now" for created jobs and PATCH
ERROR_KEYS = ["detail", "error", "errorCode", "parameters", "reason"]
GROUP_KEYS = [
    "activeAgentCount",
    "hostCounts",
    "id",
    "name",
    "orgId",
    "publicApiEnabled",
    "replicaSetCount",
    "shardCount",
    "tags",
]
# A time filter (epoch ms, as Go sends it) the emulator accepts at WALL: an hour, in the past.
WINDOW_MS: Final = {
    "logCollectionFromDate": int(WALL.timestamp() - 7200) * 1000,
    "logCollectionToDate": int(WALL.timestamp() - 3600) * 1000,
}
VALID_BODY: dict[str, Any] = {
    "resourceType": "REPLICASET",
    "resourceName": "incident-rs",
    "sizeRequestedPerFileBytes": 10_000_000,
    "logTypes": ["MONGODB", "FTDC"],
}


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp is asyncio-only."""
    return "asyncio"


@dataclass
class Clocks:
    """A fake monotonic clock (seconds) and a fake wall clock, moved together by `advance`."""

    now: float = 100.0
    wall: datetime = WALL

    def monotonic(self) -> float:
        return self.now

    def wall_clock(self) -> datetime:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += timedelta(seconds=seconds)


@dataclass
class Emu:
    """A served fleet, its clocks and URL helpers for its first group."""

    running: RunningEmulator
    fleet: Fleet
    clocks: Clocks
    gid: str = field(init=False)

    def __post_init__(self) -> None:
        self.gid = next(iter(self.fleet.groups))

    @property
    def state(self) -> Any:
        return self.running.state

    def url(self, path: str) -> str:
        return f"{self.running.base_url}{API}{path}"

    def jobs(self, gid: str | None = None) -> str:
        return self.url(f"/groups/{gid or self.gid}/logCollectionJobs")

    def job(self, jid: str, gid: str | None = None) -> str:
        return f"{self.jobs(gid)}/{jid}"

    def demo(self, status: str) -> EmulatedJob:
        return next(j for j in self.fleet.groups[self.gid] if j.status == status)


@pytest.fixture
def fleet() -> Fleet:
    """Two groups of six demo jobs (every status) with small archives."""
    return demo_fleet(groups=2, archive_bytes=8 * 1024)


@pytest.fixture
async def emu(fleet: Fleet) -> AsyncIterator[Emu]:
    """Collections take 5 s of the fake clock unless a test says otherwise."""
    clocks = Clocks()
    async with serve(
        fleet, collect_duration_s=5.0, clock=clocks.monotonic, wall_clock=clocks.wall_clock
    ) as running:
        yield Emu(running, fleet, clocks)


@pytest.fixture
async def s() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session authenticating like bulkdl does."""
    digest = aiohttp.DigestAuthMiddleware(DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY)
    async with aiohttp.ClientSession(middlewares=(digest,)) as session:
        yield session


@dataclass
class Answer:
    status: int
    headers: Any
    raw: bytes

    @property
    def doc(self) -> Any:
        return json.loads(self.raw)

    @property
    def code(self) -> str:
        return str(self.doc["errorCode"])


async def call(
    s: aiohttp.ClientSession, method: str, url: str, body: Any = None, *, raw: bytes | None = None
) -> Answer:
    kw: dict[str, Any] = {}
    if raw is not None:
        kw = {"data": raw, "headers": {"Content-Type": "application/json"}}
    elif body is not None:
        kw = {"json": body}
    async with s.request(method, url, **kw) as resp:
        return Answer(resp.status, resp.headers, await resp.read())


async def create(s: aiohttp.ClientSession, emu: Emu, **changes: Any) -> str:
    got = await call(s, "POST", emu.jobs(), {**VALID_BODY, **changes})
    assert got.status == 201, got.raw
    return str(got.doc["id"])


async def status_of(s: aiohttp.ClientSession, emu: Emu, jid: str) -> str:
    got = await call(s, "GET", emu.job(jid))
    assert got.status == 200, got.raw
    return str(got.doc["status"])


def archive_dirs(body: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return {m.name.rsplit("/", 1)[0] for m in tar.getmembers() if m.isfile()}


# --- groups discovery ---------------------------------------------------------------------


async def test_groups_listing_pages_and_leaves_out_unreachable_groups(
    s: aiohttp.ClientSession,
) -> None:
    """5 groups, one not-in-group and one forbidden: 3 listed, 2 per page, with next links."""
    fleet = demo_fleet(groups=5, jobs_per_group=2)
    gids = list(fleet.groups)
    fleet.not_in_group.add(gids[1])
    fleet.forbidden.add(gids[3])
    async with serve(fleet) as running:
        first = await call(s, "GET", f"{running.base_url}{API}/groups?itemsPerPage=2")
        assert first.status == 200
        assert first.headers["Content-Type"] == "application/json"
        page1 = first.doc
        nxt = next(link["href"] for link in page1["links"] if link["rel"] == "next")
        page2 = (await call(s, "GET", nxt)).doc
        too_big = await call(s, "GET", f"{running.base_url}{API}/groups?itemsPerPage=501")
        kinds = running.state.counters.requests_by_kind
    assert (page1["totalCount"], page2["totalCount"]) == (3, 3)
    assert [g["id"] for g in page1["results"] + page2["results"]] == [gids[0], gids[2], gids[4]]
    assert [g["name"] for g in page1["results"] + page2["results"]] == [
        "prod-eu-1",
        "staging-1",
        "dev-1",
    ]
    assert [link["rel"] for link in page1["links"]] == ["self", "next"]
    assert [link["rel"] for link in page2["links"]] == ["previous", "self"]
    assert nxt == f"{running.base_url}{API}/groups?pageNum=2&itemsPerPage=2"
    group = page1["results"][0]
    assert list(group) == GROUP_KEYS  # alphabetical, as the API sends them
    assert re.fullmatch(r"[0-9a-f]{24}", group["orgId"])
    assert {g["orgId"] for g in page1["results"] + page2["results"]} == {org_id_for(0, 0)}
    assert (group["activeAgentCount"], group["replicaSetCount"]) == (3, 1)
    assert (too_big.status, too_big.code) == (400, "INVALID_QUERY_PARAMETER")
    assert kinds["groups"] == 3


async def test_org_groups_lists_one_org_and_refuses_unknown_ones(
    s: aiohttp.ClientSession,
) -> None:
    """Groups dealt into two orgs; an unknown org is ORG_NOT_FOUND, a malformed one
    INVALID_ORG_ID; a forbidden group stays hidden in its org's listing too."""
    fleet = demo_fleet(groups=4, jobs_per_group=1, orgs=2)
    gids = list(fleet.groups)
    fleet.forbidden.add(gids[3])
    org0, org1 = org_id_for(0, 0), org_id_for(0, 1)
    unknown = "5c8100bcf2a30b12ff88258f"
    async with serve(fleet) as running:
        base = f"{running.base_url}{API}/orgs"
        in0 = (await call(s, "GET", f"{base}/{org0}/groups")).doc
        in1 = (await call(s, "GET", f"{base}/{org1.upper()}/groups")).doc
        missing = await call(s, "GET", f"{base}/{unknown}/groups")
        malformed = await call(s, "GET", f"{base}/my-org/groups")
        kinds = running.state.counters.requests_by_kind
    assert [g["id"] for g in in0["results"]] == [gids[0], gids[2]]
    assert [g["id"] for g in in1["results"]] == [gids[1]]
    assert (in0["totalCount"], in1["totalCount"]) == (2, 1)
    assert {g["orgId"] for g in in1["results"]} == {org1}
    assert (missing.status, missing.code, missing.doc["detail"]) == (
        404,
        "ORG_NOT_FOUND",
        f"No organization with ID {unknown} exists.",
    )
    assert (malformed.status, malformed.code, malformed.doc["parameters"]) == (
        404,
        "INVALID_ORG_ID",
        ["my-org"],
    )
    assert sorted(missing.doc) == ERROR_KEYS
    assert kinds["org_groups"] == 4


# --- POST create --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "parameters"),
    [
        (b"{not json", "INVALID_JSON", []),
        (b'["resourceType"]', "INVALID_JSON", []),
        ({"resourceType": None}, "MISSING_ATTRIBUTE", ["resourceType"]),
        ({"logTypes": None}, "MISSING_ATTRIBUTE", ["logTypes"]),
        ({"resourceName": " "}, "MISSING_ATTRIBUTE", ["resourceName"]),
        ({"verbose": True}, "INVALID_ATTRIBUTE", ["verbose"]),
        ({"resourceType": "SHARD"}, "INVALID_ENUM_VALUE", ["SHARD"]),
        ({"resourceType": 3}, "INVALID_JSON_ATTRIBUTE", ["resourceType"]),
        ({"sizeRequestedPerFileBytes": 0}, "INVALID_LOG_REQUEST_SIZE", []),
        ({"sizeRequestedPerFileBytes": -5}, "INVALID_LOG_REQUEST_SIZE", []),
        ({"sizeRequestedPerFileBytes": 1.5}, "INVALID_LOG_REQUEST_SIZE", []),
        (
            {"sizeRequestedPerFileBytes": "10"},
            "INVALID_JSON_ATTRIBUTE",
            ["sizeRequestedPerFileBytes"],
        ),
        ({"logTypes": []}, "INVALID_LOG_REQUEST_TYPES", []),
        ({"logTypes": ["MONGODB", "SYSLOG"]}, "INVALID_ENUM_VALUE", ["SYSLOG"]),
        ({"logTypes": ["mongodb"]}, "INVALID_ENUM_VALUE", ["mongodb"]),
        ({"logTypes": "MONGODB"}, "INVALID_JSON_ATTRIBUTE", ["logTypes"]),
        ({"redacted": "yes"}, "INVALID_JSON_ATTRIBUTE", ["redacted"]),
        (
            {"logCollectionFromDate": "yesterday"},
            "INVALID_JSON_ATTRIBUTE",
            ["logCollectionFromDate"],
        ),
    ],
)
async def test_create_refuses_bad_bodies_with_their_error_code(
    s: aiohttp.ClientSession, emu: Emu, body: Any, code: str, parameters: list[str]
) -> None:
    """Each bad body is a 400 with its errorCode; no job is made."""
    before = [j.id for j in emu.fleet.groups[emu.gid]]
    if isinstance(body, bytes):
        got = await call(s, "POST", emu.jobs(), raw=body)
    else:
        fields = {k: v for k, v in {**VALID_BODY, **body}.items() if v is not None}
        got = await call(s, "POST", emu.jobs(), fields)
    assert (got.status, got.code, got.doc["parameters"]) == (400, code, parameters)
    assert sorted(got.doc) == ERROR_KEYS
    assert [j.id for j in emu.fleet.groups[emu.gid]] == before
    assert emu.state.events == []


@pytest.mark.parametrize(
    ("sent", "echoed", "hosts"),
    [
        ("REPLICASET", "replicaset", 3),
        ("REPLICA_SET", "replicaset", 3),
        ("replicaset", "replicaset", 3),
        ("Process", "process", 1),
        ("cluster", "cluster", 6),
    ],
)
async def test_create_answers_201_with_the_id_of_an_in_progress_job(
    s: aiohttp.ClientSession, emu: Emu, sent: str, echoed: str, hosts: int
) -> None:
    """201 {"id"}; the job is dated by the wall clock, expires 30 days later, lists first,
    echoes the lowercased resourceType and has one child per host x log type."""
    got = await call(
        s,
        "POST",
        emu.jobs(),
        {**VALID_BODY, "resourceType": sent, "redacted": True, **WINDOW_MS},
    )
    assert got.status == 201
    assert got.headers["Content-Type"] == "application/json"
    assert list(got.doc) == ["id"]
    jid = got.doc["id"]
    assert re.fullmatch(r"[0-9a-f]{24}", jid)
    assert int(jid[:8], 16) == int(WALL.timestamp())
    job = (await call(s, "GET", f"{emu.job(jid)}?verbose=true")).doc
    listing = (await call(s, "GET", emu.jobs())).doc
    assert job["status"] == "IN_PROGRESS"
    assert (job["resourceType"], job["rootResourceType"]) == (echoed, echoed)
    assert (job["resourceName"], job["groupId"], job["redacted"]) == ("incident-rs", emu.gid, True)
    assert (job["creationDate"], job["expirationDate"]) == (
        "2030-01-01T12:00:00Z",
        "2030-01-31T12:00:00Z",
    )
    assert job["logTypes"] == ["MONGODB", "FTDC"]
    assert job["logCollectionFromDate"] == WINDOW_MS["logCollectionFromDate"]
    assert job["sizeRequestedPerFileBytes"] == 10_000_000
    assert len(job["childJobs"]) == hosts * 2
    assert list(job) == sorted(job)
    assert listing["results"][0]["id"] == jid
    assert listing["totalCount"] == 7
    assert emu.state.counters.requests_by_kind["create"] == 1
    assert [(e.kind, e.job_id, e.at) for e in emu.state.events] == [("created", jid, 100.0)]


async def test_create_reuses_the_hosts_of_a_known_resource(
    s: aiohttp.ClientSession, emu: Emu
) -> None:
    """A job for the demo replica set collects from its members, like the group's other jobs."""
    demo = emu.fleet.groups[emu.gid][0]
    jid = await create(s, emu, resourceName=demo.resource_name)
    job = emu.fleet.job(jid)
    assert job is not None
    assert (job.hosts, job.archive_bytes) == (demo.hosts, demo.archive_bytes)


# --- lifecycle ----------------------------------------------------------------------------


async def test_created_jobs_finish_after_their_duration_failing_resources_fail(
    s: aiohttp.ClientSession, emu: Emu
) -> None:
    """IN_PROGRESS (download 403) until 5 s have passed on the clock, then SUCCESS with the whole
    archive; a job of a failing resource ends FAILURE with only its good parts."""
    emu.fleet.failing_resources.add("flaky-rs")
    ok = await create(s, emu)
    bad = await create(s, emu, resourceName="flaky-rs")
    download = await call(s, "GET", f"{emu.job(ok)}/download")
    assert (download.status, download.code) == (403, "CANNOT_DOWNLOAD_JOB_IN_PROGRESS")
    emu.clocks.advance(4.9)
    assert [await status_of(s, emu, j) for j in (ok, bad)] == ["IN_PROGRESS", "IN_PROGRESS"]
    emu.clocks.advance(0.1)
    assert [await status_of(s, emu, j) for j in (ok, bad)] == ["SUCCESS", "FAILURE"]
    whole = await call(s, "GET", f"{emu.job(ok)}/download")
    partial = await call(s, "GET", f"{emu.job(bad)}/download")
    verbose = (await call(s, "GET", f"{emu.job(bad)}?verbose=true")).doc
    ok_job, bad_job = emu.fleet.job(ok), emu.fleet.job(bad)
    assert ok_job is not None
    assert bad_job is not None
    assert whole.status == 200
    assert whole.raw == make_archive(ok_job)
    assert archive_dirs(whole.raw) == {c.path for c in ok_job.children()}
    good = {c["path"] for c in verbose["childJobs"] if c["status"] == "SUCCESS"}
    assert {c["status"] for c in verbose["childJobs"]} == {"SUCCESS", "FAILURE"}
    assert (partial.status, archive_dirs(partial.raw)) == (200, good)
    assert (emu.state.finished_at(ok), emu.state.finished_at(bad)) == (105.0, 105.0)


async def test_per_job_durations_and_outcomes_override_the_defaults(fleet: Fleet) -> None:
    """A duration function picks per resource; set_collect_duration and set_outcome override it
    for one job, even while it runs."""
    clocks = Clocks()
    digest = aiohttp.DigestAuthMiddleware(DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY)

    def duration(job: EmulatedJob) -> float:
        return 1.0 if job.resource_name == "quick" else 30.0

    async with (
        serve(fleet, collect_duration_s=duration, clock=clocks.monotonic) as running,
        aiohttp.ClientSession(middlewares=(digest,)) as s,
    ):
        emu = Emu(running, fleet, clocks)
        quick = await create(s, emu, resourceName="quick")
        slow = await create(s, emu, resourceName="slow")
        doomed = await create(s, emu, resourceName="quick")
        emu.state.set_collect_duration(slow, 2.0)
        emu.state.set_outcome(doomed, "FAILURE")
        clocks.advance(1.0)
        at_1s = [await status_of(s, emu, j) for j in (quick, slow, doomed)]
        clocks.advance(1.0)
        at_2s = [await status_of(s, emu, j) for j in (quick, slow, doomed)]
    assert at_1s == ["SUCCESS", "IN_PROGRESS", "FAILURE"]
    assert at_2s == ["SUCCESS", "SUCCESS", "FAILURE"]
    with pytest.raises(ValueError, match="SUCCESS"):
        emu.state.set_outcome(quick, "EXPIRED")
    with pytest.raises(ValueError, match=">= 0"):
        emu.state.set_collect_duration(quick, -1)


async def test_events_prove_a_download_started_before_another_job_finished(
    s: aiohttp.ClientSession, emu: Emu
) -> None:
    """A (1 s) finishes and is downloaded while B (3 s) collects; B's finish is logged at the
    moment it happened although nothing asked about B until later."""
    a = await create(s, emu, resourceName="a-rs")
    emu.clocks.advance(0.5)
    b = await create(s, emu, resourceName="b-rs")
    emu.state.set_collect_duration(a, 1.0)
    emu.state.set_collect_duration(b, 3.0)
    emu.clocks.advance(1.0)
    assert (await call(s, "GET", f"{emu.job(a)}/download")).status == 200
    emu.clocks.advance(10.0)
    assert (await call(s, "GET", emu.jobs())).status == 200  # settles B, 8.5 s late
    events = emu.state.events
    assert [(e.at, e.kind, e.job_id) for e in events] == [
        (100.0, "created", a),
        (100.5, "created", b),
        (101.0, "finished", a),
        (101.5, "download_started", a),
        (101.5, "download_completed", a),
        (103.5, "finished", b),
    ]
    assert {e.group_id for e in events} == {emu.gid}
    assert [e.detail for e in events if e.kind == "finished"] == ["SUCCESS", "SUCCESS"]
    started_a = next(e for e in events if e.kind == "download_started" and e.job_id == a)
    finished_b = next(e for e in events if e.kind == "finished" and e.job_id == b)
    assert started_a.at < finished_b.at


# --- PATCH extend -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"expirationDate": "2029-12-31T23:59:59Z"}, 400, "EXPIRATION_DATE_MUST_BE_IN_FUTURE"),
        ({"expirationDate": "2030-01-01T12:00:00Z"}, 400, "EXPIRATION_DATE_MUST_BE_IN_FUTURE"),
        ({"expirationDate": "2030-07-03T12:00:01Z"}, 400, "EXPIRATION_DATE_TOO_DISTANT"),
        ({"expirationDate": "2030-02-01T00:00:00Z", "status": "X"}, 400, "INVALID_ATTRIBUTE"),
        ({}, 400, "MISSING_ATTRIBUTE"),
        ({"expirationDate": "next week"}, 400, "INVALID_JSON_ATTRIBUTE"),
        ({"expirationDate": 1_900_000_000}, 400, "INVALID_JSON_ATTRIBUTE"),
    ],
)
async def test_extend_refuses_dates_outside_now_to_creation_plus_6_months(
    s: aiohttp.ClientSession, emu: Emu, body: dict[str, Any], status: int, code: str
) -> None:
    """A job created at WALL may expire after WALL and up to WALL + 183 days; nothing else."""
    jid = await create(s, emu)
    got = await call(s, "PATCH", emu.job(jid), body)
    assert (got.status, got.code) == (status, code)
    job = (await call(s, "GET", emu.job(jid))).doc
    assert job["expirationDate"] == "2030-01-31T12:00:00Z"


async def test_extend_sets_the_date_and_answers_200_without_a_body(
    s: aiohttp.ClientSession, emu: Emu
) -> None:
    """The furthest date allowed, given with an offset, is stored and shown in UTC."""
    jid = await create(s, emu)
    got = await call(s, "PATCH", emu.job(jid), {"expirationDate": "2030-07-03T14:00:00+02:00"})
    assert (got.status, got.raw) == (200, b"")
    assert "Content-Type" not in got.headers
    job = (await call(s, "GET", emu.job(jid))).doc
    assert job["expirationDate"] == "2030-07-03T12:00:00Z"
    assert emu.state.counters.requests_by_kind["patch"] == 1


async def test_extend_of_demo_jobs_follows_their_2019_creation_dates(
    s: aiohttp.ClientSession, emu: Emu
) -> None:
    """EXPIRED is 403 whatever the date; a 2019 SUCCESS job is too old to extend into 2030,
    and extendable once the wall clock is back in March 2019."""
    expired, done = emu.demo("EXPIRED"), emu.demo("SUCCESS")
    soon = {"expirationDate": "2030-01-10T00:00:00Z"}
    refused = await call(s, "PATCH", emu.job(expired.id), soon)
    too_far = await call(s, "PATCH", emu.job(done.id), soon)
    emu.clocks.wall = done.creation_date + timedelta(days=1)
    in_2019 = {"expirationDate": "2019-05-01T00:00:00Z"}
    extended = await call(s, "PATCH", emu.job(done.id), in_2019)
    still_refused = await call(s, "PATCH", emu.job(expired.id), in_2019)
    assert (refused.status, refused.code, refused.doc["reason"]) == (
        403,
        "CANNOT_EXTEND_EXPIRED_JOB",
        "Forbidden",
    )
    assert (too_far.status, too_far.code) == (400, "EXPIRATION_DATE_TOO_DISTANT")
    assert extended.status == 200
    assert done.expiration_date == datetime(2019, 5, 1, tzinfo=UTC)
    assert (still_refused.status, still_refused.code) == (403, "CANNOT_EXTEND_EXPIRED_JOB")


# --- PUT retry ----------------------------------------------------------------------------


async def test_retry_restarts_only_failed_jobs(s: aiohttp.ClientSession, emu: Emu) -> None:
    """Non-FAILURE jobs: 400. A failed job goes back to IN_PROGRESS; it fails again while its
    resource is still failing, and succeeds once it is not."""
    emu.fleet.failing_resources.add("flaky-rs")
    jid = await create(s, emu, resourceName="flaky-rs")
    running = await call(s, "PUT", f"{emu.job(jid)}/retry")
    done = await call(s, "PUT", f"{emu.job(emu.demo('SUCCESS').id)}/retry")
    emu.clocks.advance(5)
    assert await status_of(s, emu, jid) == "FAILURE"
    first = await call(s, "PUT", f"{emu.job(jid)}/retry")
    after_first = await status_of(s, emu, jid)
    emu.clocks.advance(5)
    failed_again = await status_of(s, emu, jid)
    emu.fleet.failing_resources.clear()
    await call(s, "PUT", f"{emu.job(jid)}/retry")
    emu.clocks.advance(5)
    assert await status_of(s, emu, jid) == "SUCCESS"
    for refused in (running, done):
        assert (refused.status, refused.code, refused.doc["detail"]) == (
            400,
            "ONLY_FAILED_JOB_CAN_BE_RESTARTED",
            "A log collection request job can only be restarted if it is in the FAILED state.",
        )
    assert (first.status, first.raw) == (200, b"")
    assert (after_first, failed_again) == ("IN_PROGRESS", "FAILURE")
    kinds = [(e.kind, e.detail) for e in emu.state.events]
    assert kinds == [
        ("created", ""),
        ("finished", "FAILURE"),
        ("retried", ""),
        ("finished", "FAILURE"),
        ("retried", ""),
        ("finished", "SUCCESS"),
    ]
    assert emu.state.counters.requests_by_kind["retry"] == 4


async def test_a_retried_demo_failure_downloads_whole_once_it_succeeds(
    s: aiohttp.ClientSession, emu: Emu
) -> None:
    """The demo FAILURE job's archive lacks a host; after a retry it has them all."""
    job = emu.demo("FAILURE")
    before = await call(s, "GET", f"{emu.job(job.id)}/download")
    assert (await call(s, "PUT", f"{emu.job(job.id)}/retry")).status == 200
    refused = await call(s, "GET", f"{emu.job(job.id)}/download")
    emu.clocks.advance(5)
    after = await call(s, "GET", f"{emu.job(job.id)}/download")
    every_path = {f"{h}/27017/mongodb" for h in job.hosts}
    assert not every_path <= archive_dirs(before.raw)
    assert (refused.status, refused.code) == (403, "CANNOT_DOWNLOAD_JOB_IN_PROGRESS")
    assert after.status == 200
    assert every_path <= archive_dirs(after.raw)
    assert archive_dirs(after.raw) == {c.path for c in job.children()}


# --- DELETE -------------------------------------------------------------------------------


async def test_delete_removes_a_job_in_any_state(s: aiohttp.ClientSession, emu: Emu) -> None:
    """A collecting job and an EXPIRED one: 200 with no body, then 404; a deleted job never
    finishes."""
    jid = await create(s, emu)
    expired = emu.demo("EXPIRED").id
    answers = [await call(s, "DELETE", emu.job(j)) for j in (jid, expired)]
    gone = await call(s, "GET", emu.job(jid))
    again = await call(s, "DELETE", emu.job(expired))
    emu.clocks.advance(60)
    listing = (await call(s, "GET", emu.jobs())).doc
    assert [(a.status, a.raw) for a in answers] == [(200, b""), (200, b"")]
    assert (gone.status, gone.code) == (404, "LOG_COLLECTION_JOB_NOT_FOUND_IN_GROUP")
    assert (again.status, again.code) == (404, "LOG_COLLECTION_JOB_NOT_FOUND_IN_GROUP")
    assert listing["totalCount"] == 5
    assert {jid, expired}.isdisjoint(r["id"] for r in listing["results"])
    assert [(e.kind, e.job_id) for e in emu.state.events] == [
        ("created", jid),
        ("deleted", jid),
        ("deleted", expired),
    ]
    assert emu.state.finished_at(jid) is None
    assert emu.state.counters.requests_by_kind["delete"] == 3


# --- cross-cutting ------------------------------------------------------------------------


async def test_writes_check_group_and_job_access_first(s: aiohttp.ClientSession, emu: Emu) -> None:
    """Group and job errors come before body errors, for every verb."""
    other = list(emu.fleet.groups)[1]
    emu.fleet.forbidden.add(other)
    jid = emu.demo("SUCCESS").id
    forbidden = await call(s, "POST", emu.jobs(other), raw=b"{not json")
    unknown = await call(s, "POST", emu.jobs("5c8100bcf2a30b12ff88258f"), VALID_BODY)
    malformed = await call(s, "PATCH", emu.job("latest"), raw=b"{not json")
    missing = await call(s, "PUT", f"{emu.job('5c810cc4ff7a256345ff97b7')}/retry")
    assert (forbidden.status, forbidden.code) == (403, "IP_ADDRESS_NOT_ON_WHITELIST")
    assert (unknown.status, unknown.code) == (404, "GROUP_NOT_FOUND")
    assert (malformed.status, malformed.code) == (404, "INVALID_LOG_COLLECTION_JOB_ID")
    assert (missing.status, missing.code) == (404, "LOG_COLLECTION_JOB_NOT_FOUND_IN_GROUP")
    assert (await status_of(s, emu, jid)) == "SUCCESS"


async def test_other_methods_are_405(s: aiohttp.ClientSession, emu: Emu) -> None:
    """Each new path answers 405 METHOD_NOT_ALLOWED to a verb it does not have."""
    jid = emu.demo("FAILURE").id
    tries = [
        ("POST", emu.url("/groups")),
        ("DELETE", emu.url(f"/orgs/{org_id_for(0, 0)}/groups")),
        ("PUT", emu.jobs()),
        ("PUT", emu.job(jid)),
        ("POST", emu.job(jid)),
        ("GET", f"{emu.job(jid)}/retry"),
        ("POST", f"{emu.job(jid)}/retry"),
    ]
    answers = [await call(s, method, url) for method, url in tries]
    assert [(a.status, a.code) for a in answers] == [(405, "METHOD_NOT_ALLOWED")] * len(tries)
    assert emu.demo("FAILURE").id == jid  # nothing was retried


async def test_rate_limit_counts_writes_per_group_and_listings_under_pseudo_keys(
    s: aiohttp.ClientSession, emu: Emu
) -> None:
    """2 per window: a group's POST and PATCH share its budget; /groups and each org's listing
    have budgets of their own."""
    emu.state.set_rate_limit(2, clock=emu.clocks.monotonic)
    org = emu.url(f"/orgs/{org_id_for(0, 0)}/groups")
    jid = await create(s, emu)
    patch = await call(s, "PATCH", emu.job(jid), {"expirationDate": "2030-01-10T00:00:00Z"})
    third = await call(s, "DELETE", emu.job(jid))
    groups = [(await call(s, "GET", emu.url("/groups"))).status for _ in range(3)]
    orgs = [(await call(s, "GET", org)).status for _ in range(3)]
    assert patch.status == 200
    assert (third.status, third.code) == (429, "RATE_LIMITED")
    assert (groups, orgs) == ([200, 200, 429], [200, 200, 429])
    assert emu.state.counters.rate_limited == 3
    assert emu.fleet.job(jid) is not None  # the refused DELETE did nothing


def test_emulator_thread_passes_the_lifecycle_settings_through(fleet: Fleet) -> None:
    """collect_duration_s=0 and a fake wall clock reach the app run by EmulatorThread."""
    clocks = Clocks()

    async def create_and_read(base_url: str) -> tuple[str, str]:
        digest = aiohttp.DigestAuthMiddleware(DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY)
        async with aiohttp.ClientSession(middlewares=(digest,)) as s:
            gid = next(iter(fleet.groups))
            url = f"{base_url}{API}/groups/{gid}/logCollectionJobs"
            created = await call(s, "POST", url, VALID_BODY)
            job = (await call(s, "GET", f"{url}/{created.doc['id']}")).doc
            return job["status"], job["creationDate"]

    with EmulatorThread(
        fleet, collect_duration_s=0, clock=clocks.monotonic, wall_clock=clocks.wall_clock
    ) as emu:
        got = anyio.run(create_and_read, emu.base_url)
        kinds = [e.kind for e in emu.state.events]
    assert got == ("SUCCESS", "2030-01-01T12:00:00Z")
    assert kinds == ["created", "finished"]


async def test_a_download_cut_by_the_client_is_logged_as_cut(
    s: aiohttp.ClientSession, fleet: Fleet
) -> None:
    """The client hangs up mid-body: "download_started", then "download_cut", no completion."""
    job = fleet.groups[next(iter(fleet.groups))][0]
    async with serve(fleet, chunk_size=1024, chunk_delay_s=0.01) as running:
        emu = Emu(running, fleet, Clocks())
        async with s.get(f"{emu.job(job.id)}/download") as resp:
            await resp.content.readexactly(1024)
            resp.close()
        await await_for(lambda: not running.state.counters.in_flight, "the cut stream to end")
        kinds = [(e.kind, e.job_id) for e in running.state.events]
    assert kinds == [("download_started", job.id), ("download_cut", job.id)]


def test_event_log_and_lifecycle_alone() -> None:
    """The log keeps time order for late entries; settle leaves hand-edited jobs alone."""
    log = EventLog()
    for at, kind in [(1.0, "created"), (3.0, "download_started"), (2.0, "finished")]:
        log.record(Event(at, kind, "g", "j"))
    assert [e.kind for e in log.snapshot()] == ["created", "finished", "download_started"]
    with pytest.raises(ValueError, match="unknown event kind"):
        log.record(Event(0.0, "exploded", "g", "j"))
    fleet = demo_fleet(groups=1, jobs_per_group=2)
    edited, plain = fleet.all_jobs()
    lifecycle = Lifecycle()
    lifecycle.start(edited, 0.0, 1.0, "SUCCESS")
    lifecycle.start(plain, 0.0, 2.0, "FAILURE")
    edited.status = "EXPIRED"
    assert lifecycle.settle(0.5) == []
    assert lifecycle.settle(5.0) == [(2.0, plain)]
    assert (edited.status, plain.status) == ("EXPIRED", "FAILURE")
    assert (lifecycle.finished_at(edited.id), lifecycle.finished_at(plain.id)) == (None, 2.0)
