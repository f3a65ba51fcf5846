"""The Cloud Manager emulator, driven over loopback by aiohttp's real DigestAuthMiddleware."""

from __future__ import annotations

import io
import re
import socket
import tarfile
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest

from bulkdl.emulator import (
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_KEY,
    JOB_STATUSES,
    EmulatorThread,
    Fleet,
    RunningEmulator,
    add_group,
    demo_fleet,
    make_archive,
    serve,
)
from bulkdl.emulator.digest import (
    NonceState,
    Verdict,
    check_credentials,
    expected_response,
    parse_authorization,
)
from tests.conftest import await_for, wait_for

API = "/api/public/v1.0"
CHALLENGE = re.compile(
    r'Digest realm="MMS Public API", domain="", nonce="[A-Za-z0-9+/]{32}", '
    r'algorithm=MD5, qop="auth", stale=(true|false)'
)
UNAUTHORIZED_BODY = {
    "detail": "You are not authorized for this resource.",
    "error": 401,
    "reason": "Unauthorized",
}


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp is asyncio-only."""
    return "asyncio"


@pytest.fixture
def fleet() -> Fleet:
    """Two demo groups with small archives; every group has every job status."""
    return demo_fleet(groups=2, archive_bytes=64 * 1024)


@pytest.fixture
async def emu(fleet: Fleet) -> AsyncIterator[RunningEmulator]:
    """A running emulator on a free loopback port."""
    async with serve(fleet) as running:
        yield running


def session(private_key: str = DEMO_PRIVATE_KEY, *inner: Any) -> aiohttp.ClientSession:
    """A client session authenticating like bulkdl does (inner middlewares see raw responses)."""
    digest = aiohttp.DigestAuthMiddleware(DEMO_PUBLIC_KEY, private_key)
    return aiohttp.ClientSession(middlewares=(digest, *inner))


def first_group(fleet: Fleet) -> str:
    return next(iter(fleet.groups))


def job_in(fleet: Fleet, gid: str, status: str) -> str:
    return next(j.id for j in fleet.groups[gid] if j.status == status)


async def get_json(s: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with s.get(url) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_list_with_correct_key_returns_jobs_and_a_self_link(
    emu: RunningEmulator, fleet: Fleet
) -> None:
    """One challenge, then a 200 page of all six jobs, newest first, with only a `self` link."""
    gid = first_group(fleet)
    async with session() as s:
        status, doc = await get_json(s, f"{emu.base_url}{API}/groups/{gid}/logCollectionJobs")
    assert status == 200
    assert doc["totalCount"] == 6
    assert [r["id"] for r in doc["results"]] == [j.id for j in fleet.groups[gid]]
    assert [r["status"] for r in doc["results"]] == [*JOB_STATUSES, "SUCCESS"]
    assert "childJobs" not in doc["results"][0]
    assert doc["results"][0]["downloadUrl"] == (
        f"{emu.base_url}{API}/groups/{gid}/logCollectionJobs/{doc['results'][0]['id']}/download"
    )
    assert doc["links"] == [
        {
            "href": f"{emu.base_url}{API}/groups/{gid}/logCollectionJobs"
            "?pageNum=1&itemsPerPage=100",
            "rel": "self",
        }
    ]
    counters = emu.state.counters
    assert (counters.requests, counters.challenges) == (2, 1)
    assert counters.list_requests_by_group == {gid: 1}


async def test_1200_jobs_take_three_pages_of_500_following_next_links() -> None:
    """`next` links walk 500 + 500 + 200 jobs; previous/next appear only where they should."""
    fleet = Fleet()
    gid = add_group(fleet, n_jobs=1200)
    url: str | None = f"{API}/groups/{gid}/logCollectionJobs?verbose=false&itemsPerPage=500"
    ids: list[str] = []
    rels: list[list[str]] = []
    async with serve(fleet) as emu, session() as s:
        url = f"{emu.base_url}{url}"
        while url is not None:
            status, doc = await get_json(s, url)
            assert status == 200
            assert doc["totalCount"] == 1200
            ids += [r["id"] for r in doc["results"]]
            rels.append([link["rel"] for link in doc["links"]])
            url = next((link["href"] for link in doc["links"] if link["rel"] == "next"), None)
        assert emu.state.counters.list_requests_by_group[gid] == 3
        assert emu.state.counters.challenges == 1
    assert ids == [j.id for j in fleet.groups[gid]]
    assert rels == [["self", "next"], ["previous", "self", "next"], ["previous", "self"]]


async def test_wrong_private_key_gets_a_bare_401_with_a_challenge(
    emu: RunningEmulator, fleet: Fleet
) -> None:
    """A rejected key: 401, fresh challenge, and a body without errorCode."""
    async with (
        session("not-the-key") as s,
        s.get(f"{emu.base_url}{API}/groups/{first_group(fleet)}/logCollectionJobs") as resp,
    ):
        assert resp.status == 401
        assert CHALLENGE.fullmatch(resp.headers["WWW-Authenticate"])
        assert resp.headers["Content-Type"] == "application/json;charset=ISO-8859-1"
        assert await resp.json(content_type=None) == UNAUTHORIZED_BODY
    assert emu.state.counters.challenges == 2  # no header, then the wrong answer
    assert emu.state.counters.requests_by_kind == {}


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        ("not_in_group", 401, "NOT_IN_GROUP"),
        ("forbidden", 403, "IP_ADDRESS_NOT_ON_WHITELIST"),
        ("unknown", 404, "GROUP_NOT_FOUND"),
        ("malformed", 404, "INVALID_GROUP_ID"),
    ],
)
async def test_group_access_errors(
    emu: RunningEmulator, fleet: Fleet, setup: str, status: int, code: str
) -> None:
    """Each kind of inaccessible group has its status and errorCode, and no challenge."""
    gid = "5c8100bcf2a30b12ff88258f"
    if setup == "not_in_group":
        fleet.not_in_group.add(gid)
    elif setup == "forbidden":
        fleet.forbidden.add(gid)
    elif setup == "malformed":
        gid = "my-project"
    async with session() as s, s.get(f"{emu.base_url}{API}/groups/{gid}/logCollectionJobs") as r:
        body = await r.json(content_type=None)
        assert (r.status, body["errorCode"], body["error"]) == (status, code, status)
        assert "WWW-Authenticate" not in r.headers
    assert sorted(body) == ["detail", "error", "errorCode", "parameters", "reason"]
    assert emu.state.counters.challenges == 1  # only the very first, unauthenticated request


async def test_download_is_a_real_tar_gz_identical_every_time(
    emu: RunningEmulator, fleet: Fleet
) -> None:
    """A SUCCESS job's archive opens with tarfile, has CM's layout, and never changes."""
    gid = first_group(fleet)
    job = fleet.groups[gid][0]
    url = f"{emu.base_url}{API}/groups/{gid}/logCollectionJobs/{job.id}/download"
    bodies = []
    async with session() as s:
        for _ in range(2):
            async with s.get(url, headers={"Accept": "application/gzip"}) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"] == "application/gzip"
                assert resp.headers["Content-Disposition"] == (
                    f'attachment; filename="mongodb-logs-{job.id}.tar.gz"'
                )
                body = await resp.read()
                assert int(resp.headers["Content-Length"]) == len(body)
                bodies.append(body)
    assert bodies[0] == bodies[1] == make_archive(job)  # a fresh render matches too
    assert abs(len(bodies[0]) - job.archive_bytes) < job.archive_bytes // 5
    with tarfile.open(fileobj=io.BytesIO(bodies[0]), mode="r:gz") as tar:
        files = {m.name for m in tar.getmembers() if m.isfile()}
    host = job.hosts[0]
    assert f"{host}/automation_agent/automation-agent-verbose.log" in files
    assert f"{host}/27017/mongodb/mongodb.log" in files
    assert any(f.startswith(f"{host}/27017/ftdc/metrics.2019-") for f in files)
    assert len(files) == len(job.hosts) * len(job.log_types)
    assert emu.state.counters.downloads_by_job == {job.id: 2}
    assert emu.state.counters.downloads_completed == 2


async def test_failed_job_archive_holds_only_its_successful_parts(
    emu: RunningEmulator, fleet: Fleet
) -> None:
    """FAILURE downloads fine, without the children the verbose view marks as failed."""
    gid = first_group(fleet)
    jid = job_in(fleet, gid, "FAILURE")
    base = f"{emu.base_url}{API}/groups/{gid}/logCollectionJobs/{jid}"
    async with session() as s:
        status, job = await get_json(s, f"{base}?verbose=true")
        async with s.get(f"{base}/download") as resp:
            assert resp.status == 200
            body = await resp.read()
    assert status == 200
    good = {c["path"] for c in job["childJobs"] if c["status"] == "SUCCESS"}
    bad = {c["path"] for c in job["childJobs"] if c["status"] == "FAILURE"}
    assert good
    assert bad
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        dirs = {m.name.rsplit("/", 1)[0] for m in tar.getmembers() if m.isfile()}
    assert dirs == good


@pytest.mark.parametrize(
    ("status", "code", "detail"),
    [
        (
            "IN_PROGRESS",
            "CANNOT_DOWNLOAD_JOB_IN_PROGRESS",
            "Cannot download job {} as it is in progress.",
        ),
        (
            "EXPIRED",
            "CANNOT_DOWNLOAD_EXPIRED_JOB",
            "Cannot download job {}, as it has expired "
            "and the data has been deleted from the Application Database.",
        ),
    ],
)
async def test_download_refused_for_in_progress_and_expired_jobs(
    emu: RunningEmulator, fleet: Fleet, status: str, code: str, detail: str
) -> None:
    """Cloud Manager's table: 403 with the state's errorCode; nothing streamed."""
    gid = first_group(fleet)
    jid = job_in(fleet, gid, status)
    url = f"{emu.base_url}{API}/groups/{gid}/logCollectionJobs/{jid}/download"
    async with session() as s:
        got = await get_json(s, url)
    assert got == (
        403,
        {
            "detail": detail.format(jid),
            "error": 403,
            "errorCode": code,
            "parameters": [jid],
            "reason": "Forbidden",
        },
    )
    assert emu.state.counters.downloads_started == 0


@pytest.mark.parametrize(
    ("jid", "code"),
    [
        ("5c810cc4ff7a256345ff97b7", "LOG_COLLECTION_JOB_NOT_FOUND_IN_GROUP"),
        ("latest", "INVALID_LOG_COLLECTION_JOB_ID"),
    ],
)
async def test_unknown_and_malformed_job_ids_are_404(
    emu: RunningEmulator, fleet: Fleet, jid: str, code: str
) -> None:
    """Both the job and its download answer 404 with the job errorCode."""
    base = f"{emu.base_url}{API}/groups/{first_group(fleet)}/logCollectionJobs/{jid}"
    async with session() as s:
        for url in (base, f"{base}/download"):
            status, body = await get_json(s, url)
            assert (status, body["errorCode"]) == (404, code)


async def test_bad_paging_and_paths_get_api_errors(emu: RunningEmulator, fleet: Fleet) -> None:
    """itemsPerPage outside 1..500 is INVALID_QUERY_PARAMETER; unknown paths RESOURCE_NOT_FOUND."""
    jobs = f"{emu.base_url}{API}/groups/{first_group(fleet)}/logCollectionJobs"
    async with session() as s:
        for query in ("itemsPerPage=501", "itemsPerPage=0", "pageNum=x"):
            status, body = await get_json(s, f"{jobs}?{query}")
            assert (status, body["errorCode"]) == (400, "INVALID_QUERY_PARAMETER")
        status, body = await get_json(s, f"{emu.base_url}{API}/orgs")
    assert (status, body["errorCode"], body["parameters"]) == (
        404,
        "RESOURCE_NOT_FOUND",
        [f"{API}/orgs"],
    )


async def test_range_request_resumes_from_an_offset(emu: RunningEmulator, fleet: Fleet) -> None:
    """`Range: bytes=N-` gives 206 and the tail; a start past the end gives 416."""
    gid = first_group(fleet)
    url = f"{emu.base_url}{API}/groups/{gid}/logCollectionJobs/{fleet.groups[gid][0].id}/download"
    async with session() as s:
        async with s.get(url) as resp:
            whole = await resp.read()
        async with s.get(url, headers={"Range": "bytes=1000-"}) as resp:
            assert resp.status == 206
            assert resp.headers["Content-Range"] == f"bytes 1000-{len(whole) - 1}/{len(whole)}"
            assert await resp.read() == whole[1000:]
        async with s.get(url, headers={"Range": f"bytes={len(whole)}-"}) as resp:
            assert resp.status == 416
            assert resp.headers["Content-Range"] == f"bytes */{len(whole)}"


async def test_expired_nonce_gets_stale_true_and_the_middleware_retries() -> None:
    """After the nonce TTL the preemptive answer is refused with stale=true; the retry works."""
    seen: list[str] = []

    async def record(req: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
        resp: aiohttp.ClientResponse = await handler(req)
        seen.append(resp.headers.get("WWW-Authenticate", str(resp.status)))
        return resp

    fleet = demo_fleet(groups=1)
    url = f"{API}/groups/{first_group(fleet)}/logCollectionJobs"
    clock = [0.0]  # the emulator's monotonic clock, moved by hand: no waiting for the TTL
    serving = serve(fleet, nonce_ttl_s=0.5, clock=lambda: clock[0])
    async with serving as emu, session(DEMO_PRIVATE_KEY, record) as s:
        assert (await get_json(s, f"{emu.base_url}{url}"))[0] == 200
        clock[0] += 0.7
        assert (await get_json(s, f"{emu.base_url}{url}"))[0] == 200
        counters = emu.state.counters
        assert (counters.challenges, counters.stale_nonces, counters.requests) == (2, 1, 4)
    assert [s.rsplit("stale=", 1)[-1] for s in seen] == ["false", "200", "true", "200"]
    assert all(CHALLENGE.fullmatch(h) for h in (seen[0], seen[2]))


async def test_concurrent_downloads_are_counted_in_flight() -> None:
    """Slow bodies overlap: max_in_flight is reached overall and per group, then drains to 0."""
    fleet = demo_fleet(groups=2, archive_bytes=32 * 1024)
    targets = [(gid, jobs[0].id) for gid, jobs in fleet.groups.items()]
    targets += [(gid, job_in(fleet, gid, "MARKED_FOR_EXPIRY")) for gid in fleet.groups]
    sizes: list[int] = []
    async with serve(fleet, chunk_size=4096, chunk_delay_s=0.02) as emu, session() as s:
        await get_json(s, f"{emu.base_url}{API}/groups/{targets[0][0]}/logCollectionJobs")

        async def fetch(gid: str, jid: str) -> None:
            url = f"{emu.base_url}{API}/groups/{gid}/logCollectionJobs/{jid}/download"
            async with s.get(url) as resp:
                sizes.append(len(await resp.read()))

        async with anyio.create_task_group() as tg:
            for gid, jid in targets:
                tg.start_soon(fetch, gid, jid)
        counters = emu.state.counters
        assert counters.max_in_flight == 4
        assert counters.max_in_flight_by_group == dict.fromkeys(fleet.groups, 2)
        assert (counters.in_flight, counters.downloads_completed) == (0, 4)
        assert counters.challenges == 1
        assert counters.bytes_sent == sum(sizes)


async def test_a_download_cut_by_the_client_is_not_completed() -> None:
    """The client hangs up mid-body: the stream ends, in_flight drains, nothing completes."""
    fleet = demo_fleet(groups=1)
    gid = first_group(fleet)
    url = f"{API}/groups/{gid}/logCollectionJobs/{fleet.groups[gid][0].id}/download"
    async with serve(fleet, chunk_size=4096, chunk_delay_s=0.01) as emu, session() as s:
        async with s.get(f"{emu.base_url}{url}") as resp:
            assert len(await resp.content.readexactly(8192)) == 8192
            resp.close()
        await await_for(lambda: not emu.state.counters.in_flight, "the cut stream to end")
        counters = emu.state.counters
        assert (counters.downloads_started, counters.downloads_completed) == (1, 0)
        assert counters.in_flight_by_group == {}
        assert counters.bytes_sent < fleet.groups[gid][0].archive_bytes // 2


def test_emulator_thread_stops_quickly_even_mid_stream(fleet: Fleet) -> None:
    """Stopping cuts a slow body at once instead of waiting for it."""
    gid = first_group(fleet)
    path = f"{API}/groups/{gid}/logCollectionJobs/{fleet.groups[gid][0].id}/download"
    received: list[bytes] = []

    async def slow_download(base_url: str) -> None:
        async with session() as s, s.get(f"{base_url}{path}") as resp:
            received.append(await resp.content.readexactly(1024))
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()

    emu = EmulatorThread(fleet, chunk_size=1024, chunk_delay_s=0.05).start()
    with anyio.from_thread.start_blocking_portal() as portal:
        future = portal.start_task_soon(slow_download, emu.base_url)
        wait_for(lambda: emu.state.counters.in_flight, "the slow download to start")
        emu.stop()
        future.result(timeout=5)
    assert len(received) == 1
    # Cut, not waited for: 1 KiB every 0.05 s would have taken seconds to send it all.
    assert emu.state.counters.bytes_sent < fleet.groups[gid][0].archive_bytes // 2
    assert (emu.state.counters.in_flight, emu.state.counters.downloads_completed) == (0, 0)


def test_emulator_thread_serves_sync_callers_and_stops_quickly(fleet: Fleet) -> None:
    """The thread runner binds a real port, serves, and once stopped the port is closed."""
    with EmulatorThread(fleet, chunk_delay_s=0.01) as emu:
        host, port = emu.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=2) as sock:
            sock.sendall(b"GET /api/public/v1.0/groups HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(64).startswith(b"HTTP/1.1 401")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=2).close()
    assert emu.state.counters.challenges == 1
    with pytest.raises(OSError, match="refused"):
        socket.create_connection((host, int(port)), timeout=2)


def test_demo_fleet_is_deterministic_and_has_every_status() -> None:
    """Same seed, same ids; job ids start with their creation time in epoch seconds."""
    a, b, c = demo_fleet(seed=0), demo_fleet(seed=0), demo_fleet(seed=1)
    ids = [j.id for j in a.all_jobs()]
    assert ids == [j.id for j in b.all_jobs()]
    assert set(ids).isdisjoint(j.id for j in c.all_jobs())
    assert len(set(ids)) == len(ids) == 18
    for jobs in a.groups.values():
        assert {j.status for j in jobs} == set(JOB_STATUSES)
    for job in a.all_jobs():
        assert int(job.id[:8], 16) == int(job.creation_date.timestamp())
        assert re.fullmatch(r"[0-9a-f]{24}", job.id)


def test_digest_accepts_nc_out_of_order_but_not_a_wrong_uri() -> None:
    """Concurrent clients share a nonce, so any nc passes; the signed uri must be this one."""
    keys = {DEMO_PUBLIC_KEY: DEMO_PRIVATE_KEY}
    uri = "/api/public/v1.0/groups/g/logCollectionJobs?pageNum=2&itemsPerPage=500"

    def header(nc: str, signed_uri: str) -> str:
        response = expected_response(
            username=DEMO_PUBLIC_KEY,
            password=DEMO_PRIVATE_KEY,
            method="GET",
            uri=signed_uri,
            nonce="n+/0",
            nc=nc,
            cnonce="c1",
        )
        return (
            f'Digest username="{DEMO_PUBLIC_KEY}", realm="MMS Public API", nonce="n+/0", '
            f'uri="{signed_uri}", response="{response}", algorithm=MD5, qop=auth, '
            f'nc={nc}, cnonce="c1"'
        )

    def verdict(h: str, state: NonceState = NonceState.VALID, method: str = "GET") -> Verdict:
        return check_credentials(
            parse_authorization(h),
            method=method,
            uris={uri},
            keys=keys,
            nonce_state=lambda _: state,
        )

    assert verdict(header("00000009", uri)) is Verdict.OK
    assert verdict(header("00000002", uri)) is Verdict.OK
    assert verdict(header("00000002", uri), NonceState.EXPIRED) is Verdict.STALE
    assert verdict(header("00000002", uri), NonceState.UNKNOWN) is Verdict.DENIED
    assert verdict(header("00000002", "/api/public/v1.0/other")) is Verdict.DENIED
    assert verdict(header("00000002", uri), method="DELETE") is Verdict.DENIED
    assert verdict("Basic Zm9vOmJhcg==") is Verdict.DENIED
