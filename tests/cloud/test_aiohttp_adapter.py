"""The adapter's own tests: what bulkdl relies on of aiohttp's internals, checked against a
real aiohttp session over 127.0.0.1 (the emulator, or a small asyncio server). CI runs this file
against aiohttp's newest release as well, so an upgrade that breaks an internal shows here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from bulkdl.cloud.aiohttp_adapter import (
    DigestAuth,
    GuardedConnector,
    body_protocol,
    bytes_after_body,
    framed_exactly,
    keep_or_close,
)
from bulkdl.cloud.transport import digest_challenge
from bulkdl.emulator import EmulatorThread, Fleet, add_group
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY

pytestmark = pytest.mark.anyio

# Bodies larger than aiohttp's first read, so they are still arriving as the headers are read
# (a body that is whole by then is released before anyone can look at its connection).
BODY = b"x" * (2 * 1024 * 1024)
FRAMED = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (
    len(BODY),
    BODY,
)
STRAY = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTRAY"


class Server:
    """Answers each request with `reply(n)` (n: the request's index); counts connections."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies = replies
        self.connections = 0
        self.requests = 0
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(self.replies[min(self.requests, len(self.replies) - 1)])
                self.requests += 1
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


Start = Callable[[list[bytes]], Awaitable[Server]]


@pytest.fixture
async def serve() -> AsyncIterator[Start]:
    servers: list[asyncio.Server] = []

    async def start(replies: list[bytes]) -> Server:
        s = Server(replies)
        srv = await asyncio.start_server(s.handle, "127.0.0.1", 0)
        servers.append(srv)
        s.url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/"
        return s

    yield start
    for srv in servers:
        srv.close()


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[bytes, bool, bool]:
    """The body, whether the adapter would keep its connection, and bytes_after_body."""
    async with session.get(url) as resp:
        protocol = body_protocol(resp)
        assert protocol is not None
        body = await resp.read()
        after = bytes_after_body(protocol)
        return body, keep_or_close(resp, protocol), after


async def test_a_framed_body_keeps_its_connection(serve: Start) -> None:
    server = await serve([FRAMED])
    async with aiohttp.ClientSession(connector=GuardedConnector(limit=1)) as session:
        for _ in range(3):
            assert await _get(session, server.url) == (BODY, True, False)
    assert server.connections == 1


async def test_a_chunked_body_closes_its_connection(serve: Start) -> None:
    """Only a body framed by Content-Length is kept: anything else closes."""
    server = await serve([CHUNKED])
    async with aiohttp.ClientSession(connector=GuardedConnector(limit=1)) as session:
        for _ in range(2):
            assert await _get(session, server.url) == (BODY, False, False)
    assert server.connections == 2


@pytest.mark.parametrize("extra", [b"\x00" * 10, STRAY], ids=["garbage", "answer"])
async def test_bytes_with_the_body_are_seen_and_never_answer_the_next(
    serve: Start, extra: bytes
) -> None:
    """Garbage or a whole stray answer right after Content-Length: bytes_after_body says so,
    the connection is not kept, and the next request gets its own answer."""
    server = await serve([FRAMED + extra, FRAMED])
    async with aiohttp.ClientSession(connector=GuardedConnector(limit=1)) as session:
        body, kept, after = await _get(session, server.url)
        assert (body, kept, after) == (BODY, False, True)
        assert (await _get(session, server.url))[0] == BODY
    assert server.connections == 2


async def test_framed_exactly_needs_the_whole_length(serve: Start) -> None:
    server = await serve([FRAMED])
    connector = GuardedConnector(limit=1)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(server.url) as resp,
    ):
        protocol = body_protocol(resp)
        assert not framed_exactly(resp, protocol)  # nothing read yet
        await resp.read()
        assert framed_exactly(resp, protocol)


async def test_digest_after_basic_is_answered_and_the_challenge_announced() -> None:
    fleet = Fleet(keys={PUBLIC_KEY: PRIVATE_KEY})
    add_group(fleet, n_jobs=1, statuses=["SUCCESS"], archive_bytes=1024, seed=0)
    (gid,) = fleet.groups
    heard: list[int] = []
    with EmulatorThread(fleet) as emu:
        emu.state.offer_challenges_first('Basic realm="gateway"')
        auth = DigestAuth(
            PUBLIC_KEY, PRIVATE_KEY, digest_challenge, on_challenge=lambda: heard.append(1)
        )
        url = f"{emu.base_url}/api/public/v1.0/groups/{gid}/logCollectionJobs"
        async with aiohttp.ClientSession(middlewares=(auth,)) as session:
            for _ in range(2):
                async with session.get(url) as resp:
                    assert resp.status == 200
        challenges = emu.state.counters.challenges
    assert heard == [1]  # announced once, as the 401 was read; the second went preemptively
    assert challenges == 1
