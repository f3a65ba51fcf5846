"""`bulkdl delete` through the CLI: dry run, --yes on exactly the selected jobs, refusal
without a terminal, the terminal prompt (a real pty), a job already gone, manifest lines,
and pacing under the per-group rate limit."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from bulkdl.emulator import EmulatorThread, Fleet
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, make_fleet, read_manifest, run_cli, write_config


def _cfg(tmp_path: Path, emu: EmulatorThread, **extra: object) -> str:
    return str(write_config(tmp_path / "c.toml", base_url=emu.base_url, **extra))


def _ids(fleet: Fleet) -> set[str]:
    return {j.id for j in fleet.all_jobs()}


def _with_status(fleet: Fleet, status: str) -> set[str]:
    return {j.id for j in fleet.all_jobs() if j.status == status}


def test_dry_run_deletes_nothing(tmp_path: Path) -> None:
    fleet = make_fleet(groups=3)
    before = _ids(fleet)
    failed = _with_status(fleet, "FAILURE")
    with EmulatorThread(fleet) as emu:
        result = run_cli(
            [
                *("delete", "--all-groups", "--status", "FAILURE", "--dry-run", "--json"),
                *("--config", _cfg(tmp_path, emu)),
            ]
        )
        deletes = emu.state.counters.requests_by_kind["delete"]
    assert result.exit_code == 0, result.output
    assert deletes == 0
    assert _ids(fleet) == before
    doc = json.loads(result.stdout)
    assert doc["dryRun"] is True
    assert {a["jobId"] for a in doc["actions"]} == failed
    assert not any(a["done"] for a in doc["actions"])
    assert result.stderr.count("would delete: group") == len(failed)


def test_yes_deletes_exactly_the_selected_jobs(tmp_path: Path) -> None:
    """--group and --status narrow it; every other job of every group stays; --json lists
    the deleted jobs and --out records one manifest line for each."""
    fleet = make_fleet(groups=3)
    first, second, third = fleet.groups
    expected = {
        j.id
        for j in fleet.groups[first] + fleet.groups[second]
        if j.status in ("FAILURE", "IN_PROGRESS")
    }
    statuses = {j.id: j.status for j in fleet.all_jobs()}
    before = _ids(fleet)
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        result = run_cli(
            [
                *("delete", "--group", first, "--group", second),
                *("--status", "FAILURE,IN_PROGRESS", "--yes", "--json", "--out", str(out)),
                *("--config", _cfg(tmp_path, emu)),
            ]
        )
        deletes = emu.state.counters.requests_by_kind["delete"]
        events = [(e.kind, e.job_id) for e in emu.state.events if e.kind == "deleted"]
    assert result.exit_code == 0, result.output
    assert len(expected) == 4
    assert _ids(fleet) == before - expected
    assert all(j.id in before for j in fleet.groups[third])
    assert len(fleet.groups[third]) == 6
    assert deletes == len(expected)
    assert {jid for _, jid in events} == expected
    doc = json.loads(result.stdout)
    assert doc["dryRun"] is False
    assert doc["failures"] == []
    assert {a["jobId"] for a in doc["actions"] if a["done"]} == expected
    assert all(a["action"] == "delete" and a["error"] is None for a in doc["actions"])
    lines = read_manifest(out)
    assert sorted(line["jobId"] for line in lines) == sorted(expected)
    for line in lines:
        assert line["outcome"] == "deleted"
        assert line["status"] == statuses[line["jobId"]]
        assert line["groupId"] in (first, second)
    assert f"delete: {len(expected)} done, 0 failed" in result.stderr


def test_without_a_terminal_and_without_yes_it_refuses(tmp_path: Path) -> None:
    fleet = make_fleet(groups=2)
    before = _ids(fleet)
    with EmulatorThread(fleet) as emu:
        result = run_cli(["delete", "--all-groups", "--config", _cfg(tmp_path, emu)])
        requests = emu.state.counters.requests
    assert result.exit_code == 2, result.output
    assert requests == 0
    assert _ids(fleet) == before
    assert result.stderr.splitlines()[0] == (
        "error: delete: no terminal to ask for confirmation, and no --yes"
    )
    assert "--yes" in result.stderr.splitlines()[1]


def _on_a_terminal(args: list[str]) -> tuple[subprocess.Popen[str], int]:
    """`python -m bulkdl ARGS` with stdin and stderr on a pseudo-terminal (stdout piped)."""
    master, slave = pty.openpty()
    env = dict(os.environ, BULKDL_PUBLIC_KEY=PUBLIC_KEY, BULKDL_PRIVATE_KEY=PRIVATE_KEY)
    env["COLUMNS"] = "200"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkdl", *args],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
        text=True,
    )
    os.close(slave)
    return proc, master


def _read_until(master: int, marker: str, timeout_s: float = 30.0) -> str:
    seen = ""
    deadline = time.monotonic() + timeout_s
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} on the terminal; saw: {seen!r}"
        ready, _, _ = select.select([master], [], [], left)
        if ready:
            try:
                seen += os.read(master, 65536).decode("utf-8", "replace")
            except OSError:  # the child closed the terminal
                break
    return seen


def test_on_a_terminal_it_shows_the_plan_and_asks(tmp_path: Path) -> None:
    """Answering no deletes nothing (exit 1); answering yes deletes the shown jobs, and one
    deleted by someone else meanwhile is reported as already gone (404), not as an error."""
    fleet = make_fleet(groups=2)
    failed = sorted(_with_status(fleet, "FAILURE"))
    assert len(failed) == 2
    with EmulatorThread(fleet) as emu:
        args = ["delete", "--all-groups", "--status", "FAILURE", "--json"]
        args += ["--config", _cfg(tmp_path, emu)]
        proc, master = _on_a_terminal(args)
        try:
            shown = _read_until(master, "[y/N]")
            os.write(master, b"n\n")
            stdout, _ = proc.communicate(timeout=30)
        finally:
            os.close(master)
        assert proc.returncode == 1
        assert stdout == ""
        assert all(jid in shown for jid in failed)
        assert "Delete these 2 jobs in 2 groups?" in shown
        assert _with_status(fleet, "FAILURE") == set(failed)

        proc, master = _on_a_terminal(args)
        try:
            _read_until(master, "[y/N]")
            gone = fleet.job(failed[0])
            assert gone is not None
            fleet.groups[gone.group_id].remove(gone)  # deleted elsewhere while we ask
            os.write(master, b"y\n")
            stdout, _ = proc.communicate(timeout=30)
            said = _read_until(master, "delete:")
        finally:
            os.close(master)
        deletes = emu.state.counters.requests_by_kind["delete"]
        not_found = emu.state.counters.responses_by_status[404]
    assert proc.returncode == 0, said
    assert deletes == 2
    assert not_found == 1
    assert _with_status(fleet, "FAILURE") == set()
    actions = {a["jobId"]: a for a in json.loads(stdout)["actions"]}
    assert actions[failed[0]]["action"] == "already gone"
    assert actions[failed[0]]["error"] is None
    assert actions[failed[1]]["done"] is True
    assert f"already gone: group {gone.group_id} job {failed[0]}" in said


def test_deletes_are_paced_under_the_rate_limit(tmp_path: Path) -> None:
    """25 deletions in one group against 20 calls per second: paced at 15, no 429."""
    fleet = make_fleet(groups=1, jobs_per_group=25)
    with EmulatorThread(fleet) as emu:
        emu.state.set_rate_limit(20, window_s=1.0)
        cfg = _cfg(tmp_path, emu, requests_per_minute=15, rate_window_s=1.0, retries=0)
        result = run_cli(["delete", "--all-groups", "--yes", "--config", cfg])
        limited = emu.state.counters.rate_limited
        deletes = emu.state.counters.requests_by_kind["delete"]
    assert result.exit_code == 0, result.output[-2000:]
    assert limited == 0
    assert deletes == 25
    assert _ids(fleet) == set()
