"""Injected faults, seen by a real aiohttp client with DigestAuthMiddleware over loopback."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import time
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from bulkdl.emulator import (
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_KEY,
    Always,
    CorruptGzip,
    EmulatorState,
    Fault,
    Fleet,
    HtmlPage,
    MissingResults,
    NonceStore,
    NotGzip,
    NotJson,
    RateLimit,
    RepeatingNext,
    ResetAfter,
    RunningEmulator,
    ServerFault,
    StaleNonce,
    Stall,
    TruncatedChunked,
    demo_fleet,
    make_archive,
    parse_fault_spec,
    parse_fault_specs,
    serve,
)
from bulkdl.emulator.digest import expected_response, parse_authorization
from tests.conftest import await_for

API = "/api/public/v1.0"
ERROR_TYPE = "application/json;charset=ISO-8859-1"
PAYLOAD_ERRORS = (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError)


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp is asyncio-only."""
    return "asyncio"


@pytest.fixture
def fleet() -> Fleet:
    """Two groups (six jobs each, one SUCCESS first) with small archives."""
    return demo_fleet(groups=2, archive_bytes=16 * 1024)


@pytest.fixture
async def emu(fleet: Fleet) -> AsyncIterator[RunningEmulator]:
    async with serve(fleet) as running:
        yield running


Recorder = list[tuple[int, str | None]]


def session(seen: Recorder | None = None) -> aiohttp.ClientSession:
    """Authenticates like bulkdl; `seen` gets (status, WWW-Authenticate) of every raw response."""

    async def record(req: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
        resp: aiohttp.ClientResponse = await handler(req)
        if seen is not None:
            seen.append((resp.status, resp.headers.get("WWW-Authenticate")))
        return resp

    digest = aiohttp.DigestAuthMiddleware(DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY)
    return aiohttp.ClientSession(middlewares=(digest, record))


class Target:
    """URLs of the first group's listing and of its first (SUCCESS) job's download."""

    def __init__(self, emu: RunningEmulator, fleet: Fleet) -> None:
        self.gid = next(iter(fleet.groups))
        self.job = fleet.groups[self.gid][0]
        self.jid = self.job.id
        self.list_path = f"{API}/groups/{self.gid}/logCollectionJobs"
        self.download_path = f"{self.list_path}/{self.jid}/download"
        self.list_url = f"{emu.base_url}{self.list_path}"
        self.download_url = f"{emu.base_url}{self.download_path}"
        self.archive = make_archive(self.job)


@pytest.fixture
def target(emu: RunningEmulator, fleet: Fleet) -> Target:
    return Target(emu, fleet)


async def read_until_error(resp: aiohttp.ClientResponse) -> tuple[bytes, BaseException | None]:
    """The bytes that arrived, and the exception that ended the body early (None: complete)."""
    got = bytearray()
    try:
        async for chunk in resp.content.iter_any():
            got += chunk
    except (*PAYLOAD_ERRORS, TimeoutError) as exc:
        return bytes(got), exc
    return bytes(got), None


async def fetch(s: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[int, Any, bytes]:
    async with s.get(url, **kw) as resp:
        return resp.status, resp.headers, await resp.read()


async def test_reset_after_cuts_the_body_and_a_range_resume_is_clean(
    emu: RunningEmulator, target: Target
) -> None:
    """Full Content-Length, 1000 bytes, hang-up; attempt 2 (a Range resume) is normal."""
    emu.state.add_download_faults(target.jid, [ResetAfter(1000)])
    async with session() as s:
        async with s.get(target.download_url) as resp:
            assert resp.status == 200
            assert int(resp.headers["Content-Length"]) == len(target.archive)
            got, exc = await read_until_error(resp)
        assert isinstance(exc, aiohttp.ClientPayloadError)
        assert got == target.archive[:1000]
        status, _, rest = await fetch(s, target.download_url, headers={"Range": "bytes=1000-"})
    assert status == 206
    assert got + rest == target.archive
    counters = emu.state.counters
    assert counters.downloads_by_job == {target.jid: 2}
    assert counters.faults_served == {"ResetAfter": 1}
    assert (counters.downloads_started, counters.downloads_completed) == (2, 1)
    assert emu.state.download_faults.pending(target.jid) == ()


async def test_truncated_chunked_body_never_ends(emu: RunningEmulator, target: Target) -> None:
    """Chunked without Content-Length; the zero-length chunk never comes."""
    emu.state.add_download_faults(target.jid, [TruncatedChunked(1000)])
    async with session() as s:
        async with s.get(target.download_url) as resp:
            assert resp.status == 200
            assert resp.headers["Transfer-Encoding"] == "chunked"
            assert "Content-Length" not in resp.headers
            got, exc = await read_until_error(resp)
        assert isinstance(exc, aiohttp.ClientPayloadError)
        assert got == target.archive[:1000]
        assert (await fetch(s, target.download_url))[2] == target.archive
    assert emu.state.counters.faults_served == {"TruncatedChunked": 1}


async def test_stall_trips_a_short_read_timeout_and_a_patient_client_succeeds(
    emu: RunningEmulator, target: Target
) -> None:
    """1000 bytes then silence: sock_read=0.2 times out; the next stall is sat out to the end."""
    emu.state.add_download_faults(target.jid, [Stall(1000, 2.0), Stall(1000, 0.3)])
    async with session() as s:
        short = aiohttp.ClientTimeout(sock_read=0.2)
        async with s.get(target.download_url, timeout=short) as resp:
            assert resp.status == 200
            got, exc = await read_until_error(resp)
        assert isinstance(exc, TimeoutError)
        assert got == target.archive[:1000]
        started = time.monotonic()
        status, _, body = await fetch(
            s, target.download_url, timeout=aiohttp.ClientTimeout(sock_read=2)
        )
        assert time.monotonic() - started >= 0.3
    assert (status, body) == (200, target.archive)
    # The server noticed the first client leave mid-stall.
    await await_for(lambda: not emu.state.counters.in_flight, "the left stream to end")
    counters = emu.state.counters
    assert counters.faults_served == {"Stall": 2}
    assert (counters.downloads_started, counters.downloads_completed) == (2, 1)


@pytest.mark.parametrize(
    ("fault", "content_type", "expected"),
    [
        (
            ServerFault(),
            ERROR_TYPE,
            {
                "detail": "Unexpected error.",
                "error": 500,
                "errorCode": "UNEXPECTED_ERROR",
                "parameters": [],
                "reason": "Internal Server Error",
            },
        ),
        (
            ServerFault(503, retry_after_s=2),
            ERROR_TYPE,
            {
                "detail": "Unexpected error.",
                "error": 503,
                "errorCode": "UNEXPECTED_ERROR",
                "parameters": [],
                "reason": "Service Unavailable",
            },
        ),
        (ServerFault(502, html=True), "text/html; charset=utf-8", b"502 Bad Gateway</h1>"),
    ],
)
async def test_server_faults_then_a_clean_attempt(
    emu: RunningEmulator, target: Target, fault: ServerFault, content_type: str, expected: Any
) -> None:
    """The API's UNEXPECTED_ERROR body (or a proxy page), Retry-After only if asked for."""
    emu.state.add_download_faults(target.jid, [fault])
    async with session() as s:
        status, headers, body = await fetch(s, target.download_url)
        assert (await fetch(s, target.download_url))[::2] == (200, target.archive)
    assert status == fault.status
    assert headers["Content-Type"] == content_type
    assert headers.get("Retry-After") == ("2" if fault.retry_after_s else None)
    if isinstance(expected, dict):
        assert json.loads(body) == expected
    else:
        assert expected in body
    assert emu.state.counters.faults_served == {"ServerFault": 1}
    assert emu.state.counters.responses_by_status[fault.status] == 1


@pytest.mark.parametrize("retry_after", [None, 2.0, 0.5])
async def test_rate_limit_fault_is_a_429_with_retry_after_only_when_set(
    emu: RunningEmulator, target: Target, retry_after: float | None
) -> None:
    """RATE_LIMITED with the documented message filled in."""
    emu.state.add_download_faults(target.jid, [RateLimit(retry_after)])
    async with session() as s:
        status, headers, body = await fetch(s, target.download_url)
        assert (await fetch(s, target.download_url))[0] == 200
    assert status == 429
    assert headers.get("Retry-After") == {None: None, 2.0: "2", 0.5: "0.5"}[retry_after]
    assert json.loads(body) == {
        "detail": f"Resource {target.download_path} is limited to 100 requests every 1 minutes.",
        "error": 429,
        "errorCode": "RATE_LIMITED",
        "parameters": [target.download_path, "100", "1"],
        "reason": "Too Many Requests",
    }
    assert emu.state.counters.rate_limited == 0  # that counter is for set_rate_limit only


async def test_not_gzip_is_a_login_page_with_a_length(emu: RunningEmulator, target: Target) -> None:
    """200 text/html, no gzip magic: only a client that looks at the bytes notices."""
    emu.state.add_download_faults(target.jid, [NotGzip()])
    async with session() as s:
        status, headers, body = await fetch(s, target.download_url)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert int(headers["Content-Length"]) == len(body)
    assert not body.startswith(b"\x1f\x8b")
    assert b"<form" in body
    assert emu.state.counters.faults_served == {"NotGzip": 1}


async def test_corrupt_gzip_keeps_length_and_header_but_fails_a_full_read(
    emu: RunningEmulator, target: Target
) -> None:
    """Same length and gzip/tar start as the real archive; gzip and tarfile both fail reading on."""
    emu.state.add_download_faults(target.jid, [CorruptGzip()])
    async with session() as s:
        status, headers, body = await fetch(s, target.download_url)
        clean = (await fetch(s, target.download_url))[2]
    assert status == 200
    assert headers["Content-Type"] == "application/gzip"
    assert int(headers["Content-Length"]) == len(body) == len(target.archive)
    assert body[:10] == target.archive[:10]
    assert body != target.archive
    assert clean == target.archive
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        first = tar.next()
        assert first is not None
        assert first.name == target.job.hosts[0]  # the start looks perfectly healthy
    with pytest.raises(zlib.error):
        gzip.decompress(body)
    with pytest.raises(zlib.error), tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        tar.getmembers()
    assert emu.state.counters.faults_served == {"CorruptGzip": 1}


@pytest.mark.parametrize(("stale_faults", "final_status"), [(1, 200), (2, 401)])
async def test_stale_nonce_fault_and_the_middlewares_single_retry(
    emu: RunningEmulator, target: Target, stale_faults: int, final_status: int
) -> None:
    """401 stale=true; the retry is the next attempt, so one stale fault is sat out, two are not
    (aiohttp's DigestAuthMiddleware re-sends only once)."""
    seen: Recorder = []
    emu.state.add_download_faults(target.jid, [StaleNonce()] * stale_faults)
    async with session(seen) as s:
        assert (await fetch(s, target.list_url))[0] == 200  # the session now holds a nonce
        del seen[:]
        status, _, body = await fetch(s, target.download_url)
    assert status == final_status
    stale = [(st, (h or "").rsplit("stale=", 1)[-1] or None) for st, h in seen]
    if final_status == 200:
        assert stale == [(401, "true"), (200, None)]
        assert body == target.archive
    else:
        assert stale == [(401, "true"), (401, "true")]
    counters = emu.state.counters
    assert counters.downloads_by_job == {target.jid: 2}
    assert counters.faults_served == {"StaleNonce": stale_faults}
    assert counters.stale_nonces == stale_faults


async def test_stale_nonce_fault_really_expires_the_nonce_it_hit(
    emu: RunningEmulator, target: Target
) -> None:
    """Re-sending the very same Authorization after the fault is stale again, not accepted."""
    emu.state.add_download_faults(target.jid, [StaleNonce()])
    async with aiohttp.ClientSession() as s:
        async with s.get(target.list_url) as resp:
            challenge = parse_authorization(resp.headers["WWW-Authenticate"])
        assert challenge is not None
        nonce, uri = challenge["nonce"], target.download_path
        response = expected_response(
            username=DEMO_PUBLIC_KEY,
            password=DEMO_PRIVATE_KEY,
            method="GET",
            uri=uri,
            nonce=nonce,
            nc="00000001",
            cnonce="c0ffee",
        )
        auth = (
            f'Digest username="{DEMO_PUBLIC_KEY}", realm="MMS Public API", nonce="{nonce}", '
            f'uri="{uri}", response="{response}", algorithm=MD5, qop=auth, nc=00000001, '
            'cnonce="c0ffee"'
        )
        answers = []
        for _ in range(2):
            async with s.get(target.download_url, headers={"Authorization": auth}) as resp:
                answers.append((resp.status, resp.headers.get("WWW-Authenticate", "")[-10:]))
    assert answers == [(401, "stale=true"), (401, "stale=true")]
    assert emu.state.counters.downloads_by_job == {target.jid: 1}  # the 2nd never got in


async def test_expire_nonces_makes_the_next_request_stale(
    emu: RunningEmulator, target: Target
) -> None:
    """Not a fault: every issued nonce goes stale at once, the middleware recovers."""
    seen: Recorder = []
    async with session(seen) as s:
        assert (await fetch(s, target.list_url))[0] == 200
        emu.state.expire_nonces()
        assert (await fetch(s, target.list_url))[0] == 200
        assert (await fetch(s, target.list_url))[0] == 200
    assert [st for st, _ in seen] == [401, 200, 401, 200, 200]
    assert (seen[2][1] or "").endswith("stale=true")
    assert (emu.state.counters.stale_nonces, emu.state.counters.challenges) == (1, 2)


async def test_persistent_fault_hits_every_attempt_after_the_one_offs(
    emu: RunningEmulator, target: Target
) -> None:
    """[500, Always(503)]: 500, then 503 for good, never the archive."""
    emu.state.add_download_faults(target.jid, [ServerFault(500), Always(ServerFault(503))])
    async with session() as s:
        statuses = [(await fetch(s, target.download_url))[0] for _ in range(4)]
    assert statuses == [500, 503, 503, 503]
    assert emu.state.counters.faults_served == {"ServerFault": 4}
    assert emu.state.download_faults.pending(target.jid) == (Always(ServerFault(503)),)


async def test_faults_are_per_job_and_spent_even_on_a_job_that_cannot_download(
    emu: RunningEmulator, fleet: Fleet, target: Target
) -> None:
    """Another job is untouched; an IN_PROGRESS job answers 403 and its ResetAfter is spent."""
    busy = next(j.id for j in fleet.groups[target.gid] if j.status == "IN_PROGRESS")
    emu.state.add_download_faults(busy, [ResetAfter(10)])
    emu.state.add_download_faults(target.jid, [ServerFault()])
    other = fleet.groups[target.gid][-1]
    async with session() as s:
        other_url = f"{emu.base_url}{other.download_path()}"
        assert (await fetch(s, other_url))[0] == 200
        assert (await fetch(s, f"{target.list_url}/{busy}/download"))[0] == 403
    assert emu.state.download_faults.pending(busy) == ()
    assert emu.state.download_faults.pending(target.jid) == (ServerFault(),)
    assert emu.state.counters.faults_served == {}


def _json_without_results(body: bytes) -> bool:
    doc = json.loads(body)
    return "results" not in doc and doc["totalCount"] == 6


def _not_json(body: bytes) -> bool:
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    return body.startswith(b'{"links":')


def _error_code(code: str) -> Callable[[bytes], bool]:
    return lambda body: json.loads(body)["errorCode"] == code


@pytest.mark.parametrize(
    ("fault", "status", "content_type", "check"),
    [
        (HtmlPage(), 200, "text/html", lambda b: b.startswith(b"<html>")),
        (HtmlPage(502), 502, "text/html", lambda b: b"502 Bad Gateway" in b),
        (NotJson(), 200, "application/json", _not_json),
        (MissingResults(), 200, "application/json", _json_without_results),
        (ServerFault(), 500, ERROR_TYPE, _error_code("UNEXPECTED_ERROR")),
        (ServerFault(503, html=True), 503, "text/html", lambda b: b"nginx" in b),
        (RateLimit(), 429, ERROR_TYPE, _error_code("RATE_LIMITED")),
    ],
)
async def test_listing_faults_then_a_clean_page(
    emu: RunningEmulator,
    target: Target,
    fault: Fault,
    status: int,
    content_type: str,
    check: Callable[[bytes], bool],
) -> None:
    """Each listing fault as the client sees it; the group's next listing is normal."""
    emu.state.add_listing_faults(target.gid, [fault])
    async with session() as s:
        got_status, headers, body = await fetch(s, target.list_url)
        clean_status, _, clean = await fetch(s, target.list_url)
    assert got_status == status
    assert headers["Content-Type"].split(";")[0] == content_type.split(";")[0]
    assert check(body)
    assert clean_status == 200
    assert len(json.loads(clean)["results"]) == 6
    assert emu.state.counters.list_requests_by_group == {target.gid: 2}
    assert sum(emu.state.counters.faults_served.values()) == 1


async def test_listing_reset_and_truncated_chunks(emu: RunningEmulator, target: Target) -> None:
    """A listing body can be cut short too, with or without Content-Length."""
    emu.state.add_listing_faults(target.gid, [ResetAfter(50), TruncatedChunked(50)])
    async with session() as s:
        for _ in range(2):
            async with s.get(target.list_url) as resp:
                assert resp.status == 200
                got, exc = await read_until_error(resp)
            assert isinstance(exc, aiohttp.ClientPayloadError)
            assert len(got) == 50
        assert (await fetch(s, target.list_url))[0] == 200
    assert emu.state.counters.faults_served == {"ResetAfter": 1, "TruncatedChunked": 1}


async def test_repeating_next_loops_only_while_it_lasts(
    emu: RunningEmulator, target: Target
) -> None:
    """`next` equals `self`: once for a plain fault, on every page with Always."""

    def next_href(body: bytes) -> str | None:
        links = {link["rel"]: link["href"] for link in json.loads(body)["links"]}
        if "next" in links:
            assert links["next"] == links["self"]
        return links.get("next")

    emu.state.add_listing_faults(target.gid, [RepeatingNext()])
    async with session() as s:
        first = next_href((await fetch(s, target.list_url))[2])
        assert first is not None
        assert next_href((await fetch(s, first))[2]) is None
        emu.state.add_listing_faults(target.gid, [Always(RepeatingNext())])
        url: str | None = target.list_url
        for _ in range(5):
            assert url is not None
            url = next_href((await fetch(s, url))[2])
        assert url is not None
    assert emu.state.counters.faults_served == {"RepeatingNext": 6}


async def test_rate_limit_is_a_fixed_window_per_group(
    emu: RunningEmulator, fleet: Fleet, target: Target
) -> None:
    """3 per window: the 4th request to a group is refused without Retry-After and without
    spending the group's faults; other groups and the next window are unaffected."""
    now = [1000.0]
    emu.state.set_rate_limit(3, clock=lambda: now[0])
    emu.state.add_listing_faults(target.gid, [ServerFault()])
    other = list(fleet.groups)[1]
    async with session() as s:
        statuses = [(await fetch(s, target.download_url))[0]]  # counts toward the limit too
        statuses += [(await fetch(s, target.list_url))[0] for _ in range(3)]
        _, headers, body = await fetch(s, target.list_url)
        other_status = (await fetch(s, f"{emu.base_url}{API}/groups/{other}/logCollectionJobs"))[0]
        now[0] += 60
        after_window = (await fetch(s, target.list_url))[0]
    assert statuses == [200, 500, 200, 429]
    assert "Retry-After" not in headers
    assert json.loads(body)["detail"] == (
        f"Resource {target.list_path} is limited to 3 requests every 1 minutes."
    )
    assert (other_status, after_window) == (200, 200)
    assert emu.state.counters.rate_limited == 2
    assert emu.state.counters.list_requests_by_group[target.gid] == 3


def test_fault_lists_are_checked_when_registered(fleet: Fleet) -> None:
    """Kinds must suit the request; nothing may follow an Always; fields are validated."""
    state = EmulatorState(fleet=fleet, nonces=NonceStore())
    with pytest.raises(TypeError, match="NotGzip is not a listing fault"):
        state.add_listing_faults("g", [NotGzip()])
    with pytest.raises(TypeError, match="RepeatingNext is not a download fault"):
        state.add_download_faults("j", [Always(RepeatingNext())])
    with pytest.raises(ValueError, match="Always must come last"):
        state.add_download_faults("j", [Always(ServerFault()), ResetAfter(1)])
    state.add_download_faults("j", [Always(ServerFault())])
    with pytest.raises(ValueError, match="Always must come last"):
        state.add_download_faults("j", [ResetAfter(1)])
    for bad in (lambda: ServerFault(404), lambda: ResetAfter(-1), lambda: HtmlPage(99)):
        with pytest.raises(ValueError, match="got"):
            bad()
    state.clear_faults()
    assert state.download_faults.pending("j") == ()


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        ("reset:1000", ResetAfter(1000)),
        ("500", ServerFault(500)),
        ("503-html", ServerFault(503, html=True)),
        ("502:retry-after=3", ServerFault(502, retry_after_s=3)),
        ("429", RateLimit()),
        ("429:retry-after=2", RateLimit(retry_after_s=2)),
        ("stall:1000:5", Stall(1000, 5)),
        ("chunked:1000", TruncatedChunked(1000)),
        ("not-gzip", NotGzip()),
        ("corrupt-gzip", CorruptGzip()),
        ("stale-nonce", StaleNonce()),
        ("html", HtmlPage(200)),
        ("html:502", HtmlPage(502)),
        ("not-json", NotJson()),
        ("missing-results", MissingResults()),
        ("repeating-next", RepeatingNext()),
        (" Always:503 ", Always(ServerFault(503))),
    ],
)
def test_parse_fault_spec(spec: str, fault: Fault) -> None:
    assert parse_fault_spec(spec) == fault


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "unknown fault spec"),
        ("reset", "unknown fault spec"),
        ("reset:-1", "unknown fault spec"),
        ("404", "status 404 is not a fault"),
        ("418-html", "status 418 is not a fault"),
        ("429-html", "429 has no -html form"),
        ("stall:10:soon", "'soon' is not a number"),
        ("429:retry-after=inf", "finite"),
        ("599", "needs a 5xx status"),
        ("always:always:500", "unknown fault spec"),
    ],
)
def test_parse_fault_spec_rejects_nonsense(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fault_spec(spec)


def test_parse_fault_specs_gives_one_fault_per_attempt() -> None:
    assert parse_fault_specs("503, reset:10,always:429") == [
        ServerFault(503),
        ResetAfter(10),
        Always(RateLimit()),
    ]
