"""Shared fixtures: a real emulator on 127.0.0.1 in its own thread, and a CLI runner.

The CLI runs its own event loop (anyio.run), so the emulator serves from a separate thread and
tests talk to it over real loopback HTTP, as a user's bulkdl talks to Cloud Manager.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
import typer
from typer.testing import CliRunner

from bulkdl.cli import app
from bulkdl.emulator import EmulatorThread, Fleet, demo_fleet
from bulkdl.emulator.archives import make_archive

PUBLIC_KEY = "testpub01"
# Distinctive so that a scan of every output for it cannot match by accident.
PRIVATE_KEY = "s3cr3t-PRIVATE-kEy-5f1d2e9a"

# `collect` for every group: the flags a replica-set incident needs (tests add --base-url etc.).
COLLECT = [
    "collect",
    "--all-groups",
    "--resource-type",
    "replicaset",
    "--resource-name",
    "rs0",
    "--log-types",
    "MONGODB,FTDC",
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp is asyncio-only


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@functools.cache
def _command() -> Any:  # a click Command (typer vendors click: no public name for it)
    """bulkdl's click command, built once per process: typer reads every command's signature
    to build it, which costs more CPU than many a test's whole invocation."""
    return typer.main.get_command(app)


def run_cli(args: Sequence[str], *, env: dict[str, str] | None = None) -> CliResult:
    """Invoke the bulkdl CLI in-process, with the test key pair unless env says otherwise.

    As typer's `CliRunner.invoke` does (same isolation: streams, environment, prompts), but
    with the command built once; exceptions other than SystemExit propagate.
    """
    full_env = {"BULKDL_PUBLIC_KEY": PUBLIC_KEY, "BULKDL_PRIVATE_KEY": PRIVATE_KEY}
    full_env.update(env or {})
    runner = CliRunner()
    command = _command()
    with runner.isolation(env=full_env) as (stdout, stderr, _):
        try:
            command.main(args=list(args), prog_name=runner.get_default_prog_name(command))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
            if exc.code is not None and not isinstance(exc.code, int):
                sys.stdout.write(f"{exc.code}\n")
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        out, err = stdout.getvalue(), stderr.getvalue()
    return CliResult(code, _text(out), _text(err))


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace").replace("\r\n", "\n")


def start_download(
    base_url: str, groups: Sequence[str], out: Path, *extra: str, **popen: Any
) -> subprocess.Popen[str]:
    """`python -m bulkdl download` as a real process, for signals, exit codes and rlimits."""
    args = [sys.executable, "-m", "bulkdl", "download", "--base-url", base_url, "--out", str(out)]
    for gid in groups:
        args += ["--group", gid]
    env = dict(os.environ, BULKDL_PUBLIC_KEY=PUBLIC_KEY, BULKDL_PRIVATE_KEY=PRIVATE_KEY)
    return subprocess.Popen(
        [*args, *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def make_fleet(groups: int = 3, jobs_per_group: int = 6, archive_bytes: int = 48 * 1024) -> Fleet:
    """The demo fleet, keyed for the test key pair."""
    fleet = demo_fleet(groups=groups, jobs_per_group=jobs_per_group, archive_bytes=archive_bytes)
    fleet.keys = {PUBLIC_KEY: PRIVATE_KEY}
    return fleet


@pytest.fixture
def fleet() -> Fleet:
    return make_fleet()


@pytest.fixture
def emulator(fleet: Fleet) -> Iterator[EmulatorThread]:
    # A small delay per chunk makes downloads overlap, so concurrency limits are exercised.
    with EmulatorThread(fleet, chunk_size=16 * 1024, chunk_delay_s=0.003) as emu:
        yield emu


def write_config(path: Path, **keys: Any) -> Path:
    """Write a TOML config with the given top-level keys (str, int, float, list of str)."""
    lines = []
    for key, value in keys.items():
        if isinstance(value, list):
            lines.append(f"{key} = [{', '.join(json.dumps(v) for v in value)}]")
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def prerender(emu: EmulatorThread, fleet: Fleet) -> None:
    """Render every job's archive into the emulator's cache before a test downloads it: a
    multi-MiB archive of realistic logs takes the emulator a while to render, and a test of
    the client's stall timeout must not time that (the server's render) instead."""
    for jobs in fleet.groups.values():
        for job in jobs:
            emu.state.archives.get(job)


def served_archive(fleet: Fleet, group: str, job: str) -> bytes:
    """The exact bytes the emulator serves for a job."""
    (found,) = [j for j in fleet.groups[group] if j.id == job]
    return make_archive(found)


def read_manifest(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def is_valid_tar_gz(path: Path) -> bool:
    with tarfile.open(path, "r:gz") as tar:
        return len(tar.getmembers()) > 0


POLL_S = 0.005  # how often the helpers below look again


def wait_for(condition: Callable[[], object], what: str, timeout_s: float = 30.0) -> None:
    """Return once `condition()` holds (another thread or process is doing the work); fail
    naming `what` after `timeout_s`, a net far above any unloaded wait, never a measure."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout_s:g} s for {what}")
        time.sleep(POLL_S)


async def await_for(condition: Callable[[], object], what: str, timeout_s: float = 30.0) -> None:
    """`wait_for` inside an event loop: polls without blocking the loop."""
    with anyio.move_on_after(timeout_s):
        while not condition():
            await anyio.sleep(POLL_S)
        return
    pytest.fail(f"waited {timeout_s:g} s for {what}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first: with pytest-xdist handing out one test at a time, each long test starts
    on its own worker at once instead of ending the run alone (longest first)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kill-seed",
        type=int,
        default=None,
        help="seed for the random kill test (default: a fresh one, printed on failure)",
    )


@pytest.fixture
def kill_seed(request: pytest.FixtureRequest) -> int:
    """The kill test's seed: --kill-seed N reproduces a failing run exactly."""
    given = request.config.getoption("--kill-seed")
    return int(given) if given is not None else int.from_bytes(os.urandom(4), "big")
