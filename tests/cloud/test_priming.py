"""At start only the digest challenge is waited for: once the first request's 401 is read,
the others go (answering the challenge preemptively) while its retry is still in flight."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import anyio
import pytest

from bulkdl.cloud.client import CloudManagerClient
from bulkdl.domain.models import GroupId
from bulkdl.settings.load import Secret, Settings
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY

pytestmark = pytest.mark.anyio

GROUPS = ("5e0000000000000000000001", "5e0000000000000000000002")
CHALLENGE = 'Digest realm="MMS Public API", nonce="n0nce", qop="auth", algorithm=MD5'
HOLD_S = 5.0  # a bound on the server's wait, not a timing assertion


class HoldingServer:
    """401s anything without Authorization; holds the first authenticated answer until a
    second authenticated request has arrived (or HOLD_S passed), and says which it was."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.second = asyncio.Event()
        self.authenticated = 0
        self.overlapped: bool | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                if b"\r\nauthorization: digest" not in head.lower():
                    self.log.append("401")
                    writer.write(
                        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: "
                        + CHALLENGE.encode()
                        + b"\r\nContent-Length: 0\r\n\r\n"
                    )
                    await writer.drain()
                    continue
                self.authenticated += 1
                if self.authenticated == 1:
                    try:
                        await asyncio.wait_for(self.second.wait(), HOLD_S)
                        self.overlapped = True
                    except TimeoutError:
                        self.overlapped = False
                else:
                    self.second.set()
                self.log.append("200")
                body = json.dumps({"results": [], "links": [], "totalCount": 0}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def test_others_start_once_the_challenge_is_in(tmp_path: Path) -> None:
    server = HoldingServer()
    srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    settings = Settings(
        base_url=f"http://127.0.0.1:{port}",
        public_key=PUBLIC_KEY,
        private_key=Secret(PRIVATE_KEY),
        groups=tuple(GroupId(g) for g in GROUPS),
        out_dir=tmp_path / "out",
    )
    client = CloudManagerClient(settings, max_connections=4)
    async with srv, client, anyio.create_task_group() as tg:
        for g in GROUPS:
            tg.start_soon(client.list_jobs, GroupId(g))
    assert server.overlapped is True, "the second request waited for the first one's answer"
    assert server.log.count("401") == 1  # still one challenge per run
