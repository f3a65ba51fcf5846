"""Bounded waits (issue 21, point 5): a server that trickles its status line and headers a byte
at a time cannot hold a run; the header deadline fails the attempt like a stall. Through the
CLI against a raw asyncio server (aiohttp.web cannot trickle headers)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.conftest import run_cli, write_config
from tests.rawserver import RawServer, read_request

_BODY = json.dumps({"results": [], "totalCount": 0, "links": []}).encode()
_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(_BODY)}\r\nX-Padding: {'p' * 40}\r\n\r\n".encode()
    + _BODY
)


async def _trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A valid answer, its head a byte every 20 ms (~3 s in all), each byte well inside the
    stall timeout."""
    await read_request(reader)
    head, body = _ANSWER.split(b"\r\n\r\n", 1)
    for byte in head + b"\r\n\r\n":
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.02)
    writer.write(body)
    await writer.drain()


def test_trickled_headers_meet_the_header_deadline(tmp_path: Path) -> None:
    with RawServer(_trickle) as server:
        cfg = write_config(
            tmp_path / "c.toml",
            base_url=server.url,
            header_timeout_s=0.5,
            stall_timeout_s=30,
            retries=1,
            retry_backoff_s=0.01,
        )
        result = run_cli(["groups", "--config", str(cfg), "--json"])
    assert result.exit_code != 0, result.output
    assert "had not sent its status line and headers after 0.5 s (header_timeout_s)" in (
        result.stderr
    )
    assert result.stdout == "" or '"error"' in result.stdout
