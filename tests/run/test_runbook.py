"""Runbook steps do what they say, through the CLI against the emulator: an explicit --job or
--group that selects nothing fails naming it; --extract unpacks archives already on disk; a dry
run counts complete archives as skips; collect --download needs an output folder; --timeout
waits until its deadline and says so once; --wait reports what it still waits for."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bulkdl.domain.models import GroupId, Job, JobId, JobStatus
from bulkdl.domain.selection import JobFilter, unmatched_jobs
from bulkdl.emulator import EmulatorThread, Fleet
from bulkdl.emulator.archives import make_archive
from bulkdl.run.waits import (
    WAIT_REPORT_ENV,
    WAIT_REPORT_S,
    WaitBoard,
    human_age,
    old_in_progress_warning,
    wait_report_interval,
)
from tests.conftest import COLLECT as FLEET_COLLECT
from tests.conftest import CliResult, make_fleet, read_manifest, run_cli, write_config

COLLECT = [arg for arg in FLEET_COLLECT if arg != "--all-groups"]  # groups chosen per test
NOWHERE = "0123456789abcdef01234567"  # a well-formed id no group or job of the fleet has


def _cfg(tmp_path: Path, emu: EmulatorThread, **extra: object) -> str:
    keys = {"base_url": emu.base_url, "poll_interval_s": 0.05, **extra}
    path = write_config(tmp_path / "c.toml", **keys)
    return str(path)


def _job_with(fleet: Fleet, status: str) -> tuple[str, str]:
    """(group id, job id) of the fleet's first job in `status`."""
    for gid, jobs in fleet.groups.items():
        for job in jobs:
            if job.status == status:
                return gid, job.id
    raise AssertionError(f"no {status} job in the fleet")


def _changes_sent(emu: EmulatorThread) -> int:
    kinds = emu.state.counters.requests_by_kind
    return sum(kinds[k] for k in ("create", "patch", "retry", "delete", "download"))


# --- an explicit --job or --group that selects nothing ----------------------------------------


@pytest.mark.parametrize(
    "command",
    [["download"], ["list"], ["extend", "--days", "10"], ["retry"]],
    ids=["download", "list", "extend", "retry"],
)
def test_unknown_job_id_fails_naming_it(tmp_path: Path, command: list[str]) -> None:
    fleet = make_fleet()
    gid, real = _job_with(fleet, "FAILURE")
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        args = [*command, "--all-groups", "--job", NOWHERE, "--job", real]
        args += ["--config", _cfg(tmp_path, emu)]
        result = run_cli([*args, "--out", str(out)] if command == ["download"] else args)
        sent = emu.state.counters.requests_by_kind
    assert result.exit_code == 1, result.output
    assert f"job {NOWHERE}: not found in the listings of the selected groups" in result.stderr
    if command == ["download"]:
        # The job that does exist is still downloaded; the missing one has its failed line.
        archive = out / gid / f"{real}.tar.gz"
        job = next(j for j in fleet.groups[gid] if j.id == real)
        assert archive.read_bytes() == make_archive(job)
        lines = {line["jobId"]: line for line in read_manifest(out)}
        assert lines[NOWHERE]["outcome"] == "failed"
        assert lines[real]["outcome"] == "downloaded"
        assert sent["download"] == 1
    if command == ["retry"]:
        assert sent["retry"] == 1  # the job that exists is retried all the same
    if command[0] == "extend":  # it exists, but from 2019: past the 6-month rule, refused
        assert f"job {real}: " in result.stderr
        assert "more than 6 months" in result.stderr


def test_job_left_out_by_another_filter_says_which(tmp_path: Path) -> None:
    fleet = make_fleet()
    gid, success = _job_with(fleet, "SUCCESS")
    with EmulatorThread(fleet) as emu:
        cfg = _cfg(tmp_path, emu)
        listed = run_cli(
            ["list", "--all-groups", "--job", success, "--status", "FAILURE", "--config", cfg]
        )
        retried = run_cli(["retry", "--all-groups", "--job", success, "--config", cfg])
        sent = _changes_sent(emu)
    assert listed.exit_code == 1, listed.output
    assert f"group {gid} job {success}: --job names it but --status (it is SUCCESS)" in (
        listed.stderr
    )
    # retry acts on FAILURE jobs only: naming a SUCCESS job is refused, not passed over.
    assert retried.exit_code == 1, retried.output
    assert "only FAILURE jobs are retried (it is SUCCESS)" in retried.stderr
    assert success in retried.stderr
    assert sent == 0


@pytest.mark.parametrize("command", ["download", "list", "collect"])
def test_group_not_found_by_discovery_fails_naming_it(tmp_path: Path, command: str) -> None:
    """--group narrowing --all-groups: an id the key does not see is a failure of its own."""
    fleet = make_fleet(groups=2)
    seen = next(iter(fleet.groups))
    out = tmp_path / "out"
    with EmulatorThread(fleet, collect_duration_s=0.1) as emu:
        head = COLLECT if command == "collect" else [command]
        args = [*head, "--all-groups", "--group", NOWHERE, "--group", seen]
        args += ["--config", _cfg(tmp_path, emu)]
        args += ["--json"] if command == "list" else ["--out", str(out)]
        result = run_cli(args)
        kinds = emu.state.counters.requests_by_kind
    assert result.exit_code == 1, result.output
    assert f"group {NOWHERE}: not among the groups visible to this API key (--group)" in (
        result.stderr
    )
    if command == "download":
        assert kinds["download"] == 4  # the group that exists is pulled all the same
        assert (out / seen).is_dir()
    if command == "collect":
        assert kinds["create"] == 1
    if command == "list":
        assert {job["groupId"] for job in json.loads(result.stdout)} == {seen}


@pytest.mark.parametrize("command", ["download", "collect"])
def test_explicit_group_that_does_not_exist_fails(tmp_path: Path, command: str) -> None:
    fleet = make_fleet(groups=1)
    with EmulatorThread(fleet) as emu:
        head = COLLECT if command == "collect" else [command]
        args = [*head, "--group", NOWHERE, "--config", _cfg(tmp_path, emu)]
        result = run_cli([*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert f"group {NOWHERE}" in result.stderr


# --- --extract on archives already on disk ----------------------------------------------------


def test_extract_unpacks_every_archive_already_on_disk(tmp_path: Path) -> None:
    """A finished pull, then --extract: each archive is unpacked, each says so, once."""
    fleet = make_fleet(groups=2)
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        cfg = ["--all-groups", "--config", _cfg(tmp_path, emu), "--out", str(out)]
        first = run_cli(["download", *cfg])
        downloads = emu.state.counters.requests_by_kind["download"]
        extract = run_cli(["download", *cfg, "--extract"])
        again = run_cli(["download", *cfg, "--extract"])
        downloads_after = emu.state.counters.requests_by_kind["download"]
    assert (first.exit_code, extract.exit_code, again.exit_code) == (0, 0, 0), extract.output
    assert downloads_after == downloads == 8  # nothing fetched again
    archives = sorted(out.glob("*/*.tar.gz"))
    assert len(archives) == 8
    for archive in archives:
        folder = archive.with_name(archive.name.removesuffix(".tar.gz"))
        assert any(f.is_file() for f in folder.rglob("*")), folder
        assert f"extracted {archive} into {folder}/" in extract.stderr
    assert extract.stderr.count("extracted ") == 8
    assert "extracted " not in again.stderr  # already unpacked: nothing to say or do
    skipped = [line for line in read_manifest(out) if line["outcome"] == "skipped"]
    assert sum(1 for line in skipped if line.get("extractedPath")) == 16


def test_extract_after_collect_download(tmp_path: Path) -> None:
    fleet = make_fleet(groups=2)
    out = tmp_path / "out"
    with EmulatorThread(fleet, collect_duration_s=0.1) as emu:
        cfg = ["--all-groups", "--config", _cfg(tmp_path, emu), "--out", str(out)]
        collected = run_cli([*COLLECT, "--download", *cfg])
        created = [e.job_id for e in emu.state.events if e.kind == "created"]
        extract = run_cli(["download", *cfg, "--extract", *[f"--job={j}" for j in created]])
    assert (collected.exit_code, extract.exit_code) == (0, 0), extract.output
    assert len(created) == 2
    for job in created:
        (folder,) = out.glob(f"*/{job}")
        assert any(f.is_file() for f in folder.rglob("*")), folder
    assert extract.stderr.count("extracted ") == 2


# --- dry run: complete archives are skips -----------------------------------------------------


def test_dry_run_counts_complete_archives_as_skips(tmp_path: Path) -> None:
    fleet = make_fleet(groups=2)
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        cfg = ["--all-groups", "--config", _cfg(tmp_path, emu), "--out", str(out)]
        assert run_cli(["download", *cfg]).exit_code == 0
        before = emu.state.counters.requests_by_kind["download"]
        whole = run_cli(["download", *cfg, "--dry-run", "--json"])
        text = run_cli(["download", *cfg, "--dry-run"])
        damaged = next(iter(sorted(out.glob("*/*.tar.gz"))))
        damaged.write_bytes(b"not the archive")
        after_damage = run_cli(["download", *cfg, "--dry-run", "--json"])
        real = run_cli(["download", *cfg, "--json"])
        assert emu.state.counters.requests_by_kind["download"] == before + 1
    plan = json.loads(whole.stdout)
    assert (plan["toDownload"], plan["toSkip"]) == (0, 8), plan
    assert all(g["toSkip"] == 4 and g["toDownload"] == 0 for g in plan["groups"])
    # The plan's table: per group, 0 to download and 4 to skip (columns `to download`, `to skip`).
    rows = [line for line in text.stderr.splitlines() if line[:24] in fleet.groups]
    assert len(rows) == 2, text.stderr
    assert all(re.search(r"\s0\s+4\s", row) for row in rows), text.stderr
    assert "6 jobs listed, 0 to download" in text.stderr
    assert "; skip 8 already complete" in text.stderr
    plan = json.loads(after_damage.stdout)
    assert (plan["toDownload"], plan["toSkip"]) == (1, 7), plan
    # The real run does what the plan said.
    summary = json.loads(real.stdout)
    assert (summary["downloaded"], summary["skipped"]) == (1, 7)


# --- collect --download needs an output folder ------------------------------------------------


def test_collect_download_without_out_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = make_fleet(groups=1)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    with EmulatorThread(fleet) as emu:
        cfg = write_config(tmp_path / "c.toml", base_url=emu.base_url)
        result = run_cli([*COLLECT, "--all-groups", "--download", "--config", str(cfg)])
        requests = sum(emu.state.counters.requests_by_kind.values())
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: no output directory"], result.stderr
    assert "--out DIR" in result.stderr
    assert requests == 0
    assert list(cwd.iterdir()) == []


# --- --timeout and --wait reports -------------------------------------------------------------


def test_timeout_waits_until_its_deadline_and_says_so_once(tmp_path: Path) -> None:
    """The demo fleet's IN_PROGRESS jobs never finish. Polls at 0, 0.4, 1.0 s would have given
    up at 1.0 s for a 1.2 s timeout; now the last poll is at the deadline."""
    fleet = make_fleet(groups=1)
    gid, stuck = _job_with(fleet, "IN_PROGRESS")
    with EmulatorThread(fleet) as emu:
        cfg = write_config(tmp_path / "c.toml", base_url=emu.base_url, poll_interval_s=0.4)
        began = time.monotonic()
        args = ["download", "--group", gid, "--job", stuck, "--wait", "--timeout", "1.2"]
        # --since: the jobs are old, but asked for (no warning line about them here).
        args += ["--since", "2000-01-01", "--config", str(cfg), "--out", str(tmp_path / "out")]
        result = run_cli(args)
        took = time.monotonic() - began
        polls = emu.state.counters.requests_by_kind["job"]
    assert result.exit_code == 1, result.output
    assert took >= 1.2
    assert 3 <= polls <= 4  # unloaded: 0, 0.4, 1.0 and the deadline (1.2)
    (line,) = [line for line in result.stderr.splitlines() if "still IN_PROGRESS" in line]
    assert f"group {gid} job {stuck}: still IN_PROGRESS after waiting 1." in line
    assert line.endswith("(--timeout 1.2)"), line
    assert float(line.split("after waiting ")[1].split(" s")[0]) >= 1.2
    assert line.endswith("(--timeout 1.2)")
    assert "failed:" not in result.stderr


def test_wait_reports_what_it_waits_for_when_not_on_a_terminal(tmp_path: Path) -> None:
    fleet = make_fleet(groups=2)
    with EmulatorThread(fleet) as emu:
        args = ["download", "--all-groups", "--status", "IN_PROGRESS", "--wait", "--timeout", "1"]
        args += ["--config", _cfg(tmp_path, emu, poll_interval_s=0.2)]
        args += ["--out", str(tmp_path / "o")]
        result = run_cli(args, env={"BULKDL_WAIT_REPORT_S": "0.3"})
    assert result.exit_code == 1, result.output  # they never finish: both time out
    lines = result.stderr.splitlines()
    reports = [line for line in lines if line.startswith("still waiting for")]
    assert len(reports) >= 2, result.stderr
    assert reports[-1].startswith("still waiting for 2 jobs IN_PROGRESS in 2 groups; the oldest")
    assert reports[-1].endswith("days ago")  # the demo fleet's jobs date from 2019
    (warning,) = [line for line in lines if line.startswith("warning: --wait includes")]
    assert "2 IN_PROGRESS jobs in 2 groups created more than a day ago" in warning
    assert "--since" in warning
    timeouts = [n for n, line in enumerate(lines) if "still IN_PROGRESS after waiting" in line]
    assert len(timeouts) == 2
    assert lines.index(warning) < min(timeouts)  # up front, not when it is too late


def _collect_and_wait(tmp_path: Path, duration_s: float, env: dict[str, str]) -> CliResult:
    """`collect --wait` in one group whose new job takes `duration_s` to finish."""
    with EmulatorThread(make_fleet(groups=1), collect_duration_s=duration_s) as emu:
        args = [*COLLECT, "--all-groups", "--wait", "--config", _cfg(tmp_path, emu)]
        return run_cli([*args, "--out", str(tmp_path / "out")], env=env)


def test_collect_wait_reports_fresh_jobs_without_warning(tmp_path: Path) -> None:
    result = _collect_and_wait(tmp_path, 1.0, {"BULKDL_WAIT_REPORT_S": "0.25"})
    assert result.exit_code == 0, result.output
    reports = [line for line in result.stderr.splitlines() if line.startswith("still waiting")]
    assert reports, result.stderr
    assert reports[0].startswith("still waiting for 1 job IN_PROGRESS in 1 group")
    assert reports[0].endswith(" s ago")
    assert "warning:" not in result.stderr


def test_no_wait_report_with_default_interval_in_a_short_wait(tmp_path: Path) -> None:
    """The default interval is 30 s: a wait shorter than that prints no report line."""
    result = _collect_and_wait(tmp_path, 0.3, {})
    assert result.exit_code == 0, result.output
    assert "still waiting" not in result.stderr


# --- the pure rules behind them ---------------------------------------------------------------

_NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _job(n: int, status: str = "IN_PROGRESS", created: str = "2026-11-30T11:00:00Z") -> Job:
    return Job(
        group_id=GroupId(f"{n % 2:024x}"),
        id=JobId(f"{n + 16:024x}"),
        status=JobStatus.parse(status),
        raw_status=status,
        creation_date=created,
        resource_name="rs0",
    )


@pytest.mark.parametrize(
    ("env", "live", "interval"),
    [
        ({}, False, WAIT_REPORT_S),
        ({}, True, None),  # the live display shows the state instead
        ({WAIT_REPORT_ENV: "0.5"}, False, 0.5),
        ({WAIT_REPORT_ENV: "0.5"}, True, None),
        ({WAIT_REPORT_ENV: "soon"}, False, WAIT_REPORT_S),
        ({WAIT_REPORT_ENV: "-1"}, False, WAIT_REPORT_S),
        ({WAIT_REPORT_ENV: "nan"}, False, WAIT_REPORT_S),
    ],
)
def test_wait_report_interval(env: dict[str, str], live: bool, interval: float | None) -> None:
    assert wait_report_interval(env, live_display=live) == interval


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "0 s"),
        (45, "45 s"),
        (119, "119 s"),
        (720, "12 min"),
        (5 * 3600, "5 h"),
        (47 * 3600, "47 h"),
        (3 * 86400 + 5, "3 days"),
    ],
)
def test_human_age(seconds: float, text: str) -> None:
    assert human_age(seconds) == text


def test_wait_board_line() -> None:
    board = WaitBoard()
    assert board.line(_NOW) is None
    board.waiting("a" * 24, "1" * 24, _NOW - timedelta(minutes=3))
    assert board.line(_NOW) == (
        "still waiting for 1 job IN_PROGRESS in 1 group; the oldest was created 3 min ago"
    )
    board.waiting("a" * 24, "2" * 24, _NOW - timedelta(seconds=10))
    board.waiting("b" * 24, "3" * 24, _NOW - timedelta(hours=5))
    assert board.line(_NOW) == (
        "still waiting for 3 jobs IN_PROGRESS in 2 groups; the oldest was created 5 h ago"
    )
    for job in ("1" * 24, "2" * 24, "3" * 24):
        board.done(job)
    assert board.line(_NOW) is None


def test_old_in_progress_warning_only_past_a_day() -> None:
    fresh = _job(1, created="2026-11-29T12:30:00Z")  # 23.5 h old
    assert old_in_progress_warning([fresh, _job(2, created="")], _NOW) is None
    old = [_job(3, created="2026-11-20T12:00:00Z"), _job(4, created="2026-11-28T11:00:00Z")]
    warning = old_in_progress_warning([fresh, *old], _NOW)
    assert warning is not None
    assert warning.startswith("--wait includes 2 IN_PROGRESS jobs in 2 groups created more")
    assert "(the oldest 10 days ago)" in warning


def test_unmatched_jobs_names_the_flag_that_left_each_out() -> None:
    listed = [_job(1, "SUCCESS"), _job(2, "FAILURE", created="2026-01-01T00:00:00Z")]
    missing = JobId("f" * 24)
    wanted = JobFilter(
        job_ids=frozenset({listed[0].id, listed[1].id, missing}),
        statuses=frozenset({JobStatus.FAILURE, JobStatus.SUCCESS}),
        since=_NOW - timedelta(days=7),
    )
    found = {u.job_id: u for u in unmatched_jobs(wanted, listed)}
    assert set(found) == {listed[1].id, missing}  # listed[0] is selected
    assert found[missing].group_id is None
    assert "not found in the listings of the selected groups" in found[missing].error
    assert found[listed[1].id].group_id == listed[1].group_id
    assert "--since (created 2026-01-01T00:00:00Z)" in found[listed[1].id].error
    assert unmatched_jobs(JobFilter(), listed) == []
    narrow = JobFilter(job_ids=frozenset({listed[0].id}), resource_name="shard-*")
    (only,) = unmatched_jobs(narrow, listed)
    assert "--resource-name (its resource is 'rs0')" in only.error
