"""`--debug` adds a traceback on stderr and changes nothing else: the same exit status, the same
error and hint lines, the same JSON on stdout (issue 21, point 9). Through the CLI against real
servers: a rejected key, a refused connection, a proxy that wants credentials."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bulkdl.emulator import EmulatorThread
from tests.conftest import PRIVATE_KEY, CliResult, make_fleet, run_cli
from tests.proxy import ForwardProxy

DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread(make_fleet(groups=1, jobs_per_group=2)) as running:
        yield running


def _both(args: list[str], env: dict[str, str] | None = None) -> tuple[CliResult, CliResult]:
    return run_cli(args, env=env), run_cli([*args, "--debug"], env=env)


def _assert_same_but_traceback(plain: CliResult, debug: CliResult) -> None:
    assert debug.exit_code == plain.exit_code, (plain.output, debug.output)
    assert debug.stdout == plain.stdout
    assert "Traceback (most recent call last)" in debug.stderr
    assert "Traceback" not in plain.stderr
    shown = debug.stderr.splitlines()
    for line in plain.stderr.splitlines():  # every line, the hint among them, is still said
        assert line in shown
    assert PRIVATE_KEY not in debug.output


@pytest.mark.parametrize("command", ["download", "list", "groups"])
def test_rejected_key(tmp_path: Path, emu: EmulatorThread, command: str) -> None:
    args = [command, "--base-url", emu.base_url, "--all-groups", "--json"]
    if command == "download":
        args += ["--out", str(tmp_path / "out")]
    if command == "groups":
        args.remove("--all-groups")
    plain, debug = _both(args, env={"BULKDL_PRIVATE_KEY": "wrong-key"})
    assert plain.exit_code == 2, plain.output
    assert '"exitCode": 2' in plain.stdout
    assert "hint:" in plain.stderr
    _assert_same_but_traceback(plain, debug)


def test_refused_connection(tmp_path: Path) -> None:
    args = ["download", "--base-url", DEAD, "--all-groups", "--out", str(tmp_path / "o")]
    plain, debug = _both([*args, "--json"])
    assert plain.exit_code == 2, plain.output
    assert "hint: nothing listens there" in plain.stderr
    _assert_same_but_traceback(plain, debug)


def test_proxy_wants_credentials(tmp_path: Path, emu: EmulatorThread) -> None:
    with ForwardProxy(credentials=("alice", "right")) as proxy:
        args = ["list", "--base-url", emu.base_url, "--all-groups", "--proxy", proxy.url]
        plain, debug = _both([*args, "-o", "json"])
    assert plain.exit_code == 2, plain.output
    assert "(HTTP 407)" in plain.stderr
    _assert_same_but_traceback(plain, debug)
