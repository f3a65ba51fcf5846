"""`list --verbose` (table and --json) shows each host's part of a job, so a FAILURE job says
which host failed and why; `download` records a FAILURE job's failed parts in its manifest
line. Both through the CLI against the emulator's childJobs."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bulkdl.emulator import EmulatedJob, EmulatorThread, Fleet
from tests.conftest import make_fleet, read_manifest, run_cli, write_config


def _cfg(tmp_path: Path, emu: EmulatorThread) -> str:
    return str(write_config(tmp_path / "c.toml", base_url=emu.base_url))


def _failure_job(fleet: Fleet, group: str) -> EmulatedJob:
    (job,) = [j for j in fleet.groups[group] if j.status == "FAILURE"]
    return job


def _rows(table: str) -> list[list[str]]:
    """The body rows of a plain table printed wide enough not to shorten a cell: its cells
    (columns are separated by two spaces or more; no cell holds two spaces in a row)."""
    rows = [re.split(r"\s{2,}", line.strip()) for line in table.splitlines()[1:] if line.strip()]
    return [row + [""] * (7 - len(row)) for row in rows]  # an empty last cell is not printed


def test_list_verbose_shows_one_row_per_host_part_and_the_failed_parts_errors(
    tmp_path: Path,
) -> None:
    fleet = make_fleet(groups=2)
    group = next(iter(fleet.groups))
    job = _failure_job(fleet, group)
    children = job.children()
    failed = [c for c in children if c.status == "FAILURE"]
    assert 0 < len(failed) < len(children)
    with EmulatorThread(fleet) as emu:
        result = run_cli(
            [
                *("list", "--group", group, "--status", "FAILURE", "--verbose"),
                *("--config", _cfg(tmp_path, emu)),
            ],
            env={"COLUMNS": "240"},
        )
        listings = emu.state.counters.requests_by_kind["list"]
    assert result.exit_code == 0, result.output
    assert listings == 1
    assert f"1 jobs, {len(children)} host parts" in result.stderr  # the title; rows on stdout
    rows = _rows(result.stdout)
    assert [(r[0], r[1], r[2]) for r in rows] == [(group, job.id, "FAILURE")] * len(children)
    assert [(r[3], r[4], r[5], r[6]) for r in rows] == [
        (c.host_name, c.log_type, c.status, c.error_message or "") for c in children
    ]
    for part in failed:
        assert f"Failed to collect {part.log_type} logs from {part.host}" in result.stdout


def test_list_verbose_json_carries_each_jobs_child_jobs(tmp_path: Path) -> None:
    fleet = make_fleet(groups=2)
    with EmulatorThread(fleet) as emu:
        cfg = _cfg(tmp_path, emu)
        verbose = run_cli(["list", "--all-groups", "--verbose", "--json", "--config", cfg])
        plain = run_cli(["list", "--all-groups", "--json", "--config", cfg])
    assert verbose.exit_code == 0, verbose.output
    jobs = json.loads(verbose.stdout)
    assert len(jobs) == 12
    for doc in jobs:
        job = fleet.job(doc["id"])
        assert job is not None
        assert doc["childJobs"] == [
            {
                "hostName": c.host_name,
                "logCollectionType": c.log_type,
                "status": c.status,
                "errorMessage": c.error_message,
            }
            for c in job.children()
        ]
    failures = [d for d in jobs if d["status"] == "FAILURE"]
    assert failures
    assert all(any(c["errorMessage"] for c in d["childJobs"]) for d in failures)
    assert all("childJobs" not in d for d in json.loads(plain.stdout))


def test_download_records_a_failure_jobs_failed_parts_in_its_manifest_line(
    tmp_path: Path,
) -> None:
    """One verbose GET per FAILURE job; SUCCESS jobs' lines carry no failedParts."""
    fleet = make_fleet(groups=2)
    out = tmp_path / "out"
    failures = {g: _failure_job(fleet, g) for g in fleet.groups}
    with EmulatorThread(fleet) as emu:
        result = run_cli(
            ["download", "--all-groups", "--out", str(out), "--config", _cfg(tmp_path, emu)]
        )
        job_gets = emu.state.counters.requests_by_kind["job"]
    assert result.exit_code == 0, result.output
    assert job_gets == len(failures)
    lines = {line["jobId"]: line for line in read_manifest(out)}
    for job in failures.values():
        line = lines[job.id]
        assert line["outcome"] == "downloaded"
        assert line["status"] == "FAILURE"
        assert line["failedParts"] == [
            {
                "hostName": c.host_name,
                "logCollectionType": c.log_type,
                "status": "FAILURE",
                "errorMessage": c.error_message,
            }
            for c in job.children()
            if c.status == "FAILURE"
        ]
    others = [line for jid, line in lines.items() if jid not in {j.id for j in failures.values()}]
    assert others
    assert all("failedParts" not in line for line in others)
