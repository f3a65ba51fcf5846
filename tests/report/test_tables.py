"""`list`, `groups`, dry-run plans: ids never cut or folded, plain when piped, -o table|json|csv."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from bulkdl.emulator import EmulatorThread, Fleet
from bulkdl.report.output import Column, field, render
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, make_fleet, run_cli
from tests.terminal import run_in_pty

_ID = re.compile(r"\b[0-9a-f]{24}\b")


def _bulkdl(args: list[str], columns: int) -> subprocess.CompletedProcess[str]:
    """bulkdl as a real process with its output piped (not a terminal)."""
    env = dict(
        os.environ,
        BULKDL_PUBLIC_KEY=PUBLIC_KEY,
        BULKDL_PRIVATE_KEY=PRIVATE_KEY,
        COLUMNS=str(columns),
    )
    return subprocess.run(
        [sys.executable, "-m", "bulkdl", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _all_jobs(fleet: Fleet) -> list[tuple[str, str]]:
    return [(gid, job.id) for gid, jobs in fleet.groups.items() for job in jobs]


def test_list_piped_at_80_columns_keeps_every_id_whole(emulator: EmulatorThread) -> None:
    """Piped at COLUMNS=80: one plain line per job, each holding its whole group and job id."""
    fleet = emulator.fleet
    result = _bulkdl(["list", "--base-url", emulator.base_url, "--all-groups"], columns=80)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + len(_all_jobs(fleet)), "a header and one row per job, nothing else"
    for gid, job in _all_jobs(fleet):
        (row,) = [line for line in lines if job in line]  # grep finds it, on exactly one line
        assert row.startswith(gid)
        assert fleet.info(gid).name in row, "the group-name column"
    assert not re.search(r"[─━│┃┏┓└┘╭╮╰╯]", result.stdout), "no box characters"
    assert "uncompressed" in lines[0], "the size column says what it measures"
    assert "18 jobs" in result.stderr, "the count goes to stderr, stdout stays rows"


def test_list_on_a_100_column_terminal_fits_without_cutting_ids(emulator: EmulatorThread) -> None:
    """On a terminal, lesser columns give way; every line fits and every id stays whole."""
    status, screen = run_in_pty(
        ["list", "--base-url", emulator.base_url, "--all-groups"], columns=100
    )
    assert status == 0, screen
    rows = [line for line in screen.splitlines() if _ID.search(line)]
    assert len(rows) == len(_all_jobs(emulator.fleet))
    for gid, job in _all_jobs(emulator.fleet):
        (row,) = [r for r in rows if job in r]
        assert gid in row
    assert all(len(line.rstrip("\r")) <= 100 for line in screen.splitlines())
    header = next(line for line in screen.splitlines() if line.startswith("group "))
    assert "status" in header
    assert "expires" not in header, "the least useful columns went"


def test_output_formats(tmp_path: Path, emulator: EmulatorThread) -> None:
    """-o json equals --json; -o csv has a header of field names and one row per job.

    In-process: formats do not depend on the terminal, so no process start is needed."""
    base = ["list", "--base-url", emulator.base_url, "--all-groups"]
    as_json = run_cli([*base, "--json"])
    dash_o = run_cli([*base, "-o", "json"])
    assert json.loads(as_json.stdout) == json.loads(dash_o.stdout)
    records = json.loads(as_json.stdout)
    assert {r["groupName"] for r in records} == {
        emulator.fleet.info(g).name for g in emulator.fleet.groups
    }
    as_csv = run_cli([*base, "-o", "csv"])
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["id"] for r in rows] == [r["id"] for r in records]
    assert rows[0]["logTypes"] == ",".join(records[0]["logTypes"])

    groups = run_cli(["groups", "--base-url", emulator.base_url, "-o", "csv"])
    assert groups.stdout.splitlines()[0] == "id,name,orgId"
    assert len(groups.stdout.splitlines()) == 1 + len(emulator.fleet.groups)


def test_dry_run_plan_keeps_ids_whole(tmp_path: Path) -> None:
    fleet = make_fleet(groups=3, jobs_per_group=6)
    with EmulatorThread(fleet) as emu:
        args = ["download", "--dry-run", "--base-url", emu.base_url, "--all-groups"]
        result = _bulkdl([*args, "--out", str(tmp_path / "o")], columns=60)
        requests = emu.state.counters.downloads_started
    assert result.returncode == 0, result.stderr
    assert requests == 0
    for gid in fleet.groups:
        (row,) = [line for line in result.stderr.splitlines() if line.startswith(gid)]
        assert re.search(r"\b4\b", row), "four downloadable archives per group"


def test_fit_drops_then_shortens_but_never_cuts_kept_columns() -> None:
    """The pure fitting: lowest priority goes first; `keep` columns survive any width."""
    columns = [
        Column("id", field("id"), keep=True),
        Column("name", field("name"), priority=2, shrink_to=6),
        Column("notes", field("notes"), priority=0),
    ]
    records = [{"id": "a" * 24, "name": "a-rather-long-name", "notes": "x" * 30}]
    assert render(columns, records, None)[1] == f"{'a' * 24}  a-rather-long-name  {'x' * 30}"
    narrow = render(columns, records, 40)
    assert narrow[1] == f"{'a' * 24}  a-rather-long…", "notes dropped first, then name shortened"
    assert narrow[0].split() == ["id", "name"]
    assert render(columns, records, 45)[1] == f"{'a' * 24}  a-rather-long-name"
    tiny = render(columns, records, 10)
    assert tiny[1] == "a" * 24
