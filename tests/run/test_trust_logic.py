"""What gets downloaded, and collect that resumes, through the CLI against the emulator:
archives stay current (a retried job replaces its partial archive), one malformed listing entry
fails alone, and an interrupted collect picks up its own jobs instead of creating more."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bulkdl.domain.models import RAW_ID_LIMIT, GroupId, Job, JobId, JobStatus, quote_raw
from bulkdl.domain.planner import Recorded, listing_change
from bulkdl.emulator import EmulatorThread, MalformedId, SlowAnswer
from bulkdl.emulator.archives import make_archive
from bulkdl.store.manifest import request_fingerprint
from tests.conftest import (  # COLLECT is for all groups: with --group, only those
    COLLECT,
    PRIVATE_KEY,
    PUBLIC_KEY,
    make_fleet,
    read_manifest,
    run_cli,
    wait_for,
    write_config,
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cfg(tmp_path: Path, emu: EmulatorThread, **extra: object) -> Path:
    return write_config(
        tmp_path / "c.toml",
        base_url=emu.base_url,
        poll_interval_s=0.05,
        retry_backoff_s=0.05,
        **extra,
    )


def _until(check: Callable[[], bool]) -> None:
    wait_for(check, "the emulator")


def _lines_for(out: Path, job_id: str) -> list[dict[str, Any]]:
    return [line for line in read_manifest(out) if line["jobId"] == job_id]


def _start(args: list[str]) -> subprocess.Popen[str]:
    """`python -m bulkdl ARGS` as a real process, for signals and exit codes."""
    env = dict(os.environ, BULKDL_PUBLIC_KEY=PUBLIC_KEY, BULKDL_PRIVATE_KEY=PRIVATE_KEY)
    return subprocess.Popen(
        [sys.executable, "-m", "bulkdl", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# --- 3. Current, not only complete -----------------------------------------------------------


@pytest.mark.parametrize("wait", [False, True], ids=["download", "download-wait"])
def test_retried_failure_job_replaces_its_partial_archive(tmp_path: Path, wait: bool) -> None:
    """FAILURE downloaded (partial), retried into SUCCESS: the next download replaces it."""
    fleet = make_fleet(groups=1, jobs_per_group=2)  # statuses SUCCESS, FAILURE
    (gid,) = fleet.groups
    ok_job, failed_job = fleet.groups[gid]
    assert failed_job.status == "FAILURE"
    out = tmp_path / "out"
    with EmulatorThread(fleet, collect_duration_s=0.5) as emu:
        cfg = ["--config", str(_cfg(tmp_path, emu)), "--group", gid, "--out", str(out)]
        first = run_cli(["download", *cfg])
        assert first.exit_code == 0, first.output
        partial = (out / gid / f"{failed_job.id}.tar.gz").read_bytes()
        assert partial == make_archive(failed_job)

        retried = run_cli(["retry", *cfg[:-2]])
        assert retried.exit_code == 0, retried.output
        assert failed_job.status == "IN_PROGRESS"
        if not wait:
            _until(lambda: emu.state.finished_at(failed_job.id) is not None)
            plan = run_cli(["download", "--dry-run", *cfg])
            assert plan.exit_code == 0, plan.output
            assert "download 1 archives" in plan.stderr, plan.stderr
        downloads_before = dict(emu.state.counters.downloads_by_job)
        again = run_cli(["download", *(["--wait"] if wait else []), *cfg])
        downloads_after = dict(emu.state.counters.downloads_by_job)
    assert again.exit_code == 0, again.output
    assert failed_job.status == "SUCCESS"
    fresh = make_archive(failed_job)
    assert fresh != partial
    assert len(fresh) > len(partial)
    assert (out / gid / f"{failed_job.id}.tar.gz").read_bytes() == fresh
    assert not list(out.rglob("*.part"))
    last = _lines_for(out, failed_job.id)[-1]
    assert last["outcome"] == "replaced"
    assert last["status"] == "SUCCESS"
    assert last["sha256"] == _sha(fresh)
    assert last["previousSha256"] == _sha(partial)
    assert last["uncompressedSizeTotalBytes"] == failed_job.uncompressed_size_total_bytes
    assert last["creationDate"] == "2019-03-07T11:21:24Z"
    assert _lines_for(out, ok_job.id)[-1]["outcome"] == "skipped"
    assert downloads_after.get(ok_job.id) == downloads_before.get(ok_job.id) == 1
    assert "replaced" in again.stderr
    verify = run_cli(["verify", str(out)])
    assert verify.exit_code == 0, verify.output


def test_listing_size_change_replaces_and_old_lines_compare_status_only(tmp_path: Path) -> None:
    """A changed uncompressedSizeTotalBytes replaces the archive; a manifest line written
    before sizes were recorded is compared on its status alone, so the archive is kept."""
    fleet = make_fleet(groups=1, jobs_per_group=1)
    (gid,) = fleet.groups
    (job,) = fleet.groups[gid]
    out = tmp_path / "out"
    manifest = out / "manifest.jsonl"
    with EmulatorThread(fleet) as emu:
        cfg = ["--config", str(_cfg(tmp_path, emu)), "--group", gid, "--out", str(out)]
        assert run_cli(["download", *cfg]).exit_code == 0
        old = (out / gid / f"{job.id}.tar.gz").read_bytes()
        full_lines = manifest.read_text()
        legacy = [json.loads(line) for line in full_lines.splitlines()]
        for line in legacy:  # as an older bulkdl wrote it
            del line["uncompressedSizeTotalBytes"], line["creationDate"]
        manifest.write_text("".join(json.dumps(line) + "\n" for line in legacy))
        job.archive_bytes //= 2  # the server now lists (and serves) another archive

        kept = run_cli(["download", *cfg])
        assert kept.exit_code == 0, kept.output
        assert _lines_for(out, job.id)[-1]["outcome"] == "skipped"
        assert emu.state.counters.downloads_by_job[job.id] == 1

        manifest.write_text(full_lines)  # lines that carry the listing's size
        replaced = run_cli(["download", *cfg])
        assert replaced.exit_code == 0, replaced.output
        assert emu.state.counters.downloads_by_job[job.id] == 2
    new = (out / gid / f"{job.id}.tar.gz").read_bytes()
    assert new == make_archive(job) != old
    last = _lines_for(out, job.id)[-1]
    assert (last["outcome"], last["previousSha256"]) == ("replaced", _sha(old))


# --- 5. One bad entry fails alone ------------------------------------------------------------


def test_malformed_job_id_fails_alone_and_is_named_safely(tmp_path: Path) -> None:
    """One job with a hostile id: skipped, named (quoted, cut), never a path; the rest run."""
    fleet = make_fleet(groups=2, jobs_per_group=2)
    bad_gid, good_gid = fleet.groups
    hostile = "../../../escape\x1b[31m" + "A" * 200
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        emu.state.add_listing_faults(bad_gid, [MalformedId(hostile, index=0)])
        cfg = ["--config", str(_cfg(tmp_path, emu)), "--out", str(out)]
        result = run_cli(["download", "--group", bad_gid, "--group", good_gid, *cfg, "--json"])
        served = emu.state.counters.faults_served["MalformedId"]
    assert served == 1
    assert result.exit_code == 1, result.output
    hidden = fleet.groups[bad_gid][0]  # the job whose id was spoiled in the listing
    others = [j for g in fleet.groups.values() for j in g if j is not hidden]
    for job in others:
        assert (out / job.group_id / f"{job.id}.tar.gz").read_bytes() == make_archive(job)
    assert not (tmp_path / "escape").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml", "out"]
    (bad,) = [line for line in read_manifest(out) if line["jobId"] is None]
    assert bad["outcome"] == "failed"
    assert bad["groupId"] == bad_gid
    assert bad["rawJobId"].startswith('"../../../escape\\u001b[31mAAA')
    assert len(bad["rawJobId"]) < 80
    assert f"group {bad_gid}" in bad["error"]
    assert "\x1b" not in result.output
    summary = json.loads(result.stdout)
    assert (summary["downloaded"], summary["failed"]) == (len(others), 1)
    assert f"group {bad_gid}: the listing has a job with a malformed id" in result.stderr


def test_malformed_group_id_from_discovery_fails_alone(tmp_path: Path) -> None:
    """--all-groups: a group listed with a null id is skipped and named; the rest download."""
    fleet = make_fleet(groups=3, jobs_per_group=1)
    gids = list(fleet.groups)
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        emu.state.add_listing_faults("groups", [MalformedId(None, index=1)])
        cfg = ["--config", str(_cfg(tmp_path, emu)), "--out", str(out)]
        result = run_cli(["download", "--all-groups", *cfg])
        listed = dict(emu.state.counters.list_requests_by_group)
    assert result.exit_code == 1, result.output
    assert set(listed) == {gids[0], gids[2]}
    for gid in (gids[0], gids[2]):
        (job,) = fleet.groups[gid]
        assert (out / gid / f"{job.id}.tar.gz").read_bytes() == make_archive(job)
    (bad,) = [line for line in read_manifest(out) if line["jobId"] is None]
    assert (bad["groupId"], bad["rawGroupId"], bad["outcome"]) == (None, "null", "failed")
    assert "the group listing has a group with a malformed id null; skipped" in result.stderr
    assert "1 failed" in result.stderr


# --- 6. collect resumes instead of repeating -------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_collect_resumes_its_jobs(tmp_path: Path, sig: signal.Signals) -> None:
    """Stopped after its POSTs, the same collect again creates nothing and downloads the jobs
    it created; --new creates fresh ones."""
    fleet = make_fleet(groups=2, jobs_per_group=1)
    out = tmp_path / "out"
    with EmulatorThread(fleet, collect_duration_s=1.5) as emu:
        cfg = _cfg(tmp_path, emu)
        args = [*COLLECT, "--wait", "--download", "--out", str(out)]
        args += ["--config", str(cfg)]
        proc = _start(args)
        _until(lambda: emu.state.counters.requests_by_kind["create"] == 2)
        _until(lambda: (out / "manifest.jsonl").is_file() and len(read_manifest(out)) == 2)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=20)
        assert proc.returncode == 130, stderr
        created = {line["groupId"]: line["jobId"] for line in read_manifest(out)}
        assert not list(out.rglob("*.tar.gz")), "stopped before any job finished"

        again = run_cli(args)
        assert again.exit_code == 0, again.output
        assert emu.state.counters.requests_by_kind["create"] == 2, "no second job per group"
        for gid, job_id in created.items():
            assert f"group {gid}: resuming job {job_id}" in again.stderr
            job = fleet.job(job_id)
            assert job is not None
            assert (out / gid / f"{job_id}.tar.gz").read_bytes() == make_archive(job)

        fresh = run_cli([*args, "--new"])
        assert fresh.exit_code == 0, fresh.output
        assert emu.state.counters.requests_by_kind["create"] == 4
    lines = read_manifest(out)
    assert sorted(line["outcome"] for line in lines) == ["created"] * 4 + ["downloaded"] * 4
    fingerprints = {line["requestSha256"] for line in lines if line["outcome"] == "created"}
    assert len(fingerprints) == 1


def test_other_request_is_not_resumed(tmp_path: Path) -> None:
    """A collect for other log types on the same OUT creates its own jobs."""
    fleet = make_fleet(groups=1, jobs_per_group=1)
    (gid,) = fleet.groups
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        base = ["--group", gid, "--out", str(out), "--config", str(_cfg(tmp_path, emu))]
        assert run_cli([*COLLECT, *base]).exit_code == 0
        same = run_cli([*COLLECT[:-1], "FTDC,MONGODB", *base])  # same set of log types
        other = run_cli([*COLLECT[:-1], "MONGODB", *base])
        creates = emu.state.counters.requests_by_kind["create"]
    assert same.exit_code == other.exit_code == 0, same.output + other.output
    assert "resuming job" in same.stderr
    assert "resuming job" not in other.stderr
    assert creates == 2


def test_sigterm_during_the_post_still_records_the_created_job(tmp_path: Path) -> None:
    """The job is created but its answer is late: a SIGTERM then still gets its line written."""
    fleet = make_fleet(groups=1, jobs_per_group=1)
    (gid,) = fleet.groups
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        emu.state.add_create_faults(gid, [SlowAnswer(1.5)])
        cfg = _cfg(tmp_path, emu)
        proc = _start([*COLLECT, "--group", gid, "--out", str(out), "--config", str(cfg)])
        # The server has the POST: it is in flight, its answer 1.5 s away.
        _until(lambda: emu.state.counters.requests_by_kind["create"] == 1)
        assert not (out / "manifest.jsonl").is_file() or not read_manifest(out)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
        made = [e.job_id for e in emu.state.events if e.kind == "created"]
    assert proc.returncode == 130, stderr
    assert len(made) == 1
    (line,) = read_manifest(out)
    assert (line["outcome"], line["jobId"], line["groupId"]) == ("created", made[0], gid)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_retry_names_the_jobs_it_changed(tmp_path: Path, sig: signal.Signals) -> None:
    """One PUT goes through, the next is held back by 429s; the interrupt names the first."""
    fleet = make_fleet(groups=1, jobs_per_group=7)  # FAILURE at positions 1 and 6
    (gid,) = fleet.groups
    failed = [j.id for j in fleet.groups[gid] if j.status == "FAILURE"]
    assert len(failed) == 2
    with EmulatorThread(fleet, collect_duration_s=60) as emu:
        emu.state.set_rate_limit(2)  # the listing and one PUT per minute
        cfg = _cfg(tmp_path, emu, retries=50)
        proc = _start(["retry", "--group", gid, "--json", "--config", str(cfg)])
        _until(lambda: emu.state.counters.rate_limited >= 1)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=20)
        retried = [e.job_id for e in emu.state.events if e.kind == "retried"]
    assert proc.returncode == 130, stderr
    assert len(retried) == 1
    assert retried[0] in failed
    doc = json.loads(stdout)
    assert doc["interrupted"] is True
    assert [(a["jobId"], a["done"]) for a in doc["actions"]] == [(retried[0], True)]
    assert f"retry: group {gid} job {retried[0]}" in stderr
    assert "retry: interrupted; 1 done before it" in stderr
    untouched = next(j for j in failed if j != retried[0])
    assert untouched not in stderr


# --- the pure rules behind them ----------------------------------------------------------------

_JOB = Job(
    group_id=GroupId("a" * 24),
    id=JobId("b" * 24),
    status=JobStatus.SUCCESS,
    raw_status="SUCCESS",
    creation_date="2026-01-01T00:00:00Z",
    uncompressed_size_bytes=100,
)


@pytest.mark.parametrize(
    ("recorded", "changed"),
    [
        (Recorded("p", 1, "s", status="SUCCESS", listed_size_bytes=100), None),
        (Recorded("p", 1, "s", status="MARKED_FOR_EXPIRY"), None),  # same archive
        (Recorded("p", 1, "s", status="FAILURE"), "status FAILURE -> SUCCESS"),
        (Recorded("p", 1, "s"), None),  # nothing known: nothing to compare
        (
            Recorded("p", 1, "s", status="SUCCESS", listed_size_bytes=99),
            "uncompressedSizeTotalBytes 99 -> 100",
        ),
        (
            Recorded("p", 1, "s", creation_date="2025-01-01T00:00:00Z"),
            "creationDate 2025-01-01T00:00:00Z -> 2026-01-01T00:00:00Z",
        ),
    ],
)
def test_listing_change(recorded: Recorded, changed: str | None) -> None:
    assert listing_change(recorded, _JOB) == changed


def test_request_fingerprint_is_canonical() -> None:
    body = {"resourceType": "replicaset", "logTypes": ["MONGODB", "FTDC"], "redacted": True}
    same = {"redacted": True, "logTypes": ["FTDC", "MONGODB"], "resourceType": "replicaset"}
    assert request_fingerprint(body) == request_fingerprint(same)
    assert request_fingerprint(body) != request_fingerprint({**body, "redacted": False})


@pytest.mark.parametrize(
    ("raw", "quoted"),
    [(None, "null"), ("null", '"null"'), (7, "7"), ("a\x1bb", '"a\\u001bb"')],
)
def test_quote_raw_is_printable_and_unambiguous(raw: object, quoted: str) -> None:
    assert quote_raw(raw) == quoted
    assert quote_raw("x" * 500).endswith("...(cut)")
    assert len(quote_raw("x" * 500)) <= RAW_ID_LIMIT + len("...(cut)")
