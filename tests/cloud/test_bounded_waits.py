"""Bounded waits and inputs (issue 21, points 5 and 8): a server that trickles its status line
and headers a byte at a time cannot hold a run (the header deadline fails the attempt like a
stall), and a listing page over max_page_bytes fails its group without being held whole.
Through the CLI against raw asyncio servers (aiohttp.web cannot trickle headers)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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


def test_the_minimum_rate_covers_the_header_phase(tmp_path: Path) -> None:
    """Headers still coming after a whole min_rate_window_s are below any such floor."""
    with RawServer(_trickle) as server:
        cfg = write_config(
            tmp_path / "c.toml",
            base_url=server.url,
            min_rate_bytes_s=65536,
            min_rate_window_s=0.5,
            retries=0,
        )
        result = run_cli(["groups", "--config", str(cfg)])
    assert result.exit_code != 0, result.output
    assert "headers after 0.5 s (min_rate_window_s at min_rate_bytes_s)" in result.stderr


GROUP = "5f" * 12
_PAD = 4 * 1024 * 1024  # a 4 MiB page against a 1 MiB cap


def _big_page(declared: bool) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
    """A valid, empty listing padded to 4 MiB; with or without a Content-Length (then ended by
    closing the connection), so the cap must hold while reading, not only from the header."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        body = json.dumps({"results": [], "totalCount": 0, "links": [], "pad": "x" * _PAD}).encode()
        length = f"Content-Length: {len(body)}\r\n" if declared else ""
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}Connection: close"
        writer.write(f"{head}\r\n\r\n".encode())
        for at in range(0, len(body), 64 * 1024):
            writer.write(body[at : at + 64 * 1024])
            await writer.drain()

    return handler


@pytest.mark.parametrize("declared", [True, False])
def test_a_listing_page_over_the_cap_fails_its_group(tmp_path: Path, declared: bool) -> None:
    with RawServer(_big_page(declared)) as server:
        cfg = write_config(
            tmp_path / "c.toml", base_url=server.url, max_page_bytes=1024 * 1024, retries=0
        )
        result = run_cli(["list", "--config", str(cfg), "--group", GROUP])
    assert result.exit_code == 1, result.output
    assert (
        f"failed: group {GROUP}: the job listing is larger than max_page_bytes (1048576 bytes)"
        in result.stderr
    )


def test_a_total_count_the_pages_disagree_with_is_a_warning(tmp_path: Path) -> None:
    """Issue 21, point 13: totalCount 3 more than the pages held: said, and the run goes on."""
    from bulkdl.emulator import EmulatorThread, WrongTotal
    from tests.conftest import make_fleet

    fleet = make_fleet(groups=1, jobs_per_group=2)
    (gid,) = fleet.groups
    with EmulatorThread(fleet) as emu:
        emu.state.add_listing_faults(gid, [WrongTotal(3)])
        out = str(tmp_path / "o")
        result = run_cli(["download", "--base-url", emu.base_url, "--group", gid, "--out", out])
    assert result.exit_code == 0, result.output
    assert (
        f"warning: group {gid}: the job listing says totalCount 5, its pages held 2"
        in result.stderr
    )
