"""Server text never drives the terminal (issue 18, point 2): group names, resource names and
error `detail`s with control characters (an OSC title change, a screen clear, colours, a bell,
a carriage return) reach stdout and stderr escaped (`\\x1b`), in every table (csv included),
plain line, live display and error; JSON keeps the real value. Through the CLI against the
emulator's `control-names` scenario, and a raw server whose errors carry such a `detail`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bulkdl.emulator import EmulatorThread, Fleet, Stall
from bulkdl.emulator.scenarios import CONTROL_GROUP_NAME, CONTROL_RESOURCE_NAME, apply_scenarios
from tests.conftest import CliResult, make_fleet, run_cli, write_config
from tests.rawserver import RawServer, read_request
from tests.terminal import run_in_pty

ESCAPED_NAME = "evil\\x1b]0;PWNED\\x07\\x1b[31mRED"
ESCAPED_RESOURCE = "rs\\x1b[2J0\\x0d\\x7f\\x9b"
HOSTILE_DETAIL = "no such\x1b]0;OWNED\x07 group\x1b[2J\rgone\x9b"


def _no_raw_controls(result: CliResult) -> None:
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        for char in ("\x1b", "\x07", "\r", "\x9b", "\x7f"):
            assert char not in text, f"{char!r} reached {name}: {text!r}"


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    hostile = make_fleet(groups=2, jobs_per_group=2, archive_bytes=8 * 1024)
    apply_scenarios(hostile, "control-names")
    return hostile


@pytest.fixture(scope="module")
def emu(fleet: Fleet) -> Iterator[EmulatorThread]:
    with EmulatorThread(fleet) as running:
        yield running


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_groups_table_and_csv(emu: EmulatorThread, fmt: str) -> None:
    result = run_cli(["groups", "--base-url", emu.base_url, "-o", fmt])
    assert result.exit_code == 0, result.output
    _no_raw_controls(result)
    assert f"{ESCAPED_NAME}0" in result.stdout


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_list_table_and_csv(emu: EmulatorThread, fmt: str) -> None:
    result = run_cli(["list", "--base-url", emu.base_url, "--all-groups", "-o", fmt])
    assert result.exit_code == 0, result.output
    _no_raw_controls(result)
    assert ESCAPED_NAME in result.stdout
    assert ESCAPED_RESOURCE in result.stdout


def test_json_keeps_the_real_value(emu: EmulatorThread) -> None:
    groups = run_cli(["groups", "--base-url", emu.base_url, "--json"])
    jobs = run_cli(["list", "--base-url", emu.base_url, "--all-groups", "--json"])
    _no_raw_controls(groups)  # JSON escapes them itself (\u001b)
    assert json.loads(groups.stdout)[0]["name"] == f"{CONTROL_GROUP_NAME}0"
    assert json.loads(jobs.stdout)[0]["resourceName"] == CONTROL_RESOURCE_NAME


def test_download_plain_lines(tmp_path: Path, emu: EmulatorThread) -> None:
    result = run_cli(
        ["download", "--base-url", emu.base_url, "--all-groups", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    _no_raw_controls(result)
    assert f"group {ESCAPED_NAME}0 (" in result.stderr


def test_download_live_display(tmp_path: Path, fleet: Fleet, emu: EmulatorThread) -> None:
    """Under a pty: rich draws its own CSI sequences, but none of the server's gets through."""
    emu.state.add_download_faults(fleet.all_jobs()[0].id, [Stall(1000, 1.5)])  # a bar shows
    args = ["download", "--base-url", emu.base_url, "--all-groups", "--out", str(tmp_path / "o")]
    status, screen = run_in_pty(args, raw=True)
    assert status == 0, screen
    for hostile in ("\x1b]", "\x07", "\x1b[2J", "\x1b[31m", "\x9b"):
        assert hostile not in screen, f"{hostile!r} reached the terminal"
    assert ESCAPED_NAME in screen


async def _hostile_error(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    body = json.dumps(
        {"detail": HOSTILE_DETAIL, "error": 404, "errorCode": "GROUP_NOT_FOUND", "reason": "x"}
    ).encode()
    head = (
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()


@pytest.mark.parametrize("command", ["list", "download"])
def test_server_error_detail(tmp_path: Path, command: str) -> None:
    with RawServer(_hostile_error) as server:
        cfg = write_config(tmp_path / "c.toml", base_url=server.url, retries=0)
        args = [command, "--config", str(cfg), "--group", "5f" * 12]
        if command == "download":
            args += ["--out", str(tmp_path / "o")]
        result = run_cli(args)
    assert result.exit_code == 1, result.output
    _no_raw_controls(result)
    assert "no such\\x1b]0;OWNED\\x07 group" in result.stderr
