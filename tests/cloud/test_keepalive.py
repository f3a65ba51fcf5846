"""Kept connections, through the CLI against a small raw HTTP server on 127.0.0.1: archives
reuse connections, and bytes a server sends past a body's Content-Length, with the body's end
or after it, are never written as the next archive on that connection."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from bulkdl.cloud.client import CloudManagerClient
from bulkdl.domain.errors import BulkdlError
from bulkdl.domain.models import GroupId, Job, JobId, JobStatus
from bulkdl.settings.load import Secret, Settings
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, run_cli, write_config

GROUP = "5e0000000000000000000001"
JOBS = ("5f0000000000000000000001", "5f0000000000000000000002", "5f0000000000000000000003")


def tar_gz(name: str, payload: bytes) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return gzip.compress(raw.getvalue(), mtime=0)


ARCHIVES = {job: tar_gz(f"{job}.log", job.encode() * 500) for job in JOBS}
STRAY = tar_gz("stray.log", b"not the archive you asked for " * 100)


def answer(body: bytes, ctype: str) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


@dataclass
class RawServer:
    """HTTP/1.1 keep-alive, no auth; after the first archive's body it sends a whole stray
    answer (a valid tar.gz) on the same connection: with the body's end ('early') or in a
    write of its own once the body is out ('late')."""

    stray: str  # "early", "late", "idle" (once the test says go) or "none"
    connections: int = 0
    requests: list[tuple[int, str]] = field(default_factory=list)
    port: int = 0
    sent_stray: bool = False
    loop: asyncio.AbstractEventLoop | None = None
    go: asyncio.Event = field(default_factory=asyncio.Event)
    stray_sent: threading.Event = field(default_factory=threading.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = self.connections
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                path = head.split(b" ", 2)[1].decode().split("?")[0]
                self.requests.append((conn, path))
                writer.write(self.route(path, writer))
                await writer.drain()
                late = self.stray in ("late", "idle")
                if late and not self.sent_stray and path.endswith("/download"):
                    if self.stray == "idle":
                        await self.go.wait()  # the client holds this connection in its pool
                    self.sent_stray = True
                    writer.write(answer(STRAY, "application/gzip"))
                    await writer.drain()
                    self.stray_sent.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def route(self, path: str, writer: asyncio.StreamWriter) -> bytes:
        if path.endswith("/logCollectionJobs"):
            results = [{"id": j, "groupId": GROUP, "status": "SUCCESS"} for j in JOBS]
            doc = {"results": results, "links": [], "totalCount": len(JOBS)}
            return answer(json.dumps(doc).encode(), "application/json")
        job = path.split("/")[-2]
        data = answer(ARCHIVES[job], "application/gzip")
        if self.stray == "early" and not self.sent_stray:
            self.sent_stray = True
            data += answer(STRAY, "application/gzip")
        return data


@pytest.fixture
def raw_server(request: pytest.FixtureRequest) -> Iterator[RawServer]:
    server = RawServer(stray=request.param)
    loop = asyncio.new_event_loop()
    server.loop = loop
    started = threading.Event()

    async def main() -> None:
        server.go = asyncio.Event()
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        server.port = srv.sockets[0].getsockname()[1]
        started.set()
        async with srv:
            await srv.serve_forever()

    task = loop.create_task(main())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    started.wait(10)
    yield server
    loop.call_soon_threadsafe(task.cancel)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def _download(tmp_path: Path, port: int) -> tuple[int, str]:
    cfg = write_config(
        tmp_path / "c.toml",
        base_url=f"http://127.0.0.1:{port}",
        groups=[GROUP],
        concurrency=1,
        retries=2,
        retry_backoff_s=0.01,
    )
    out = tmp_path / "out"
    result = run_cli(["download", "--config", str(cfg), "--out", str(out)])
    assert "Traceback" not in result.output
    assert PRIVATE_KEY not in result.output
    return result.exit_code, result.output


@pytest.mark.parametrize("raw_server", ["early", "late"], indirect=True)
def test_bytes_past_a_body_never_become_the_next_archive(
    tmp_path: Path, raw_server: RawServer
) -> None:
    """Every archive on disk is the one its URL serves (never the stray answer), and `bulkdl
    verify` passes on them. Late bytes (arriving while the connection sits in the pool) are
    caught by the pool's check alone: without it the next archive reads the stray answer."""
    code, output = _download(tmp_path, raw_server.port)
    assert raw_server.sent_stray
    out = tmp_path / "out"
    for job in JOBS:
        kept = (out / GROUP / f"{job}.tar.gz").read_bytes()
        assert kept == ARCHIVES[job], f"{job}: not the archive served for it"
    assert STRAY not in b"".join(p.read_bytes() for p in out.rglob("*.tar.gz"))
    assert code == 0, output
    verified = run_cli(["verify", str(out)])
    assert verified.exit_code == 0, verified.output
    # The connection that carried the stray bytes served nothing after them.
    stray_conn = next(c for c, p in raw_server.requests if p.endswith("/download"))
    after = [p for c, p in raw_server.requests if c == stray_conn and p.endswith("/download")]
    assert len(after) == 1, raw_server.requests


@pytest.mark.parametrize("raw_server", ["none"], indirect=True)
def test_archives_share_a_kept_connection(tmp_path: Path, raw_server: RawServer) -> None:
    """A body framed exactly hands its connection back: listing and three archives, one at a
    time, travel on one TCP connection (each used to pay its own handshake)."""
    code, output = _download(tmp_path, raw_server.port)
    assert code == 0, output
    assert raw_server.connections == 1, raw_server.requests
    assert len(raw_server.requests) == 4


async def _fetch(client: CloudManagerClient, job: str) -> bytes:
    item = Job(GroupId(GROUP), JobId(job), JobStatus.SUCCESS, "SUCCESS")
    async with client.open_download(item) as body:
        return b"".join([c async for c in body.chunks])


@pytest.mark.anyio
@pytest.mark.parametrize("raw_server", ["idle"], indirect=True)
async def test_bytes_arriving_on_an_idle_pooled_connection_are_not_the_next_answer(
    tmp_path: Path, raw_server: RawServer
) -> None:
    """The first archive is framed exactly, so its connection goes back to the pool; only then
    does the server send a whole stray answer (a valid tar.gz) on it. The next archive must
    come on a new connection, as served, never the stray bytes. (aiohttp alone reuses any
    pooled connection still open: without the pool's check this reads the stray answer.)"""
    settings = Settings(
        base_url=f"http://127.0.0.1:{raw_server.port}",
        public_key=PUBLIC_KEY,
        private_key=Secret(PRIVATE_KEY),
        groups=(GroupId(GROUP),),
        out_dir=tmp_path / "out",
        retries=0,
    )
    assert raw_server.loop is not None
    async with CloudManagerClient(settings, max_connections=1) as client:
        assert await _fetch(client, JOBS[0]) == ARCHIVES[JOBS[0]]
        raw_server.loop.call_soon_threadsafe(raw_server.go.set)
        # Written and drained on loopback: in this process's socket buffer before we resume.
        assert await anyio.to_thread.run_sync(raw_server.stray_sent.wait, 10)
        try:
            second = await _fetch(client, JOBS[1])
        except BulkdlError as exc:  # failing the job is acceptable; writing the stray is not
            second = str(exc).encode()
    assert second == ARCHIVES[JOBS[1]]
    assert raw_server.connections == 2, raw_server.requests
