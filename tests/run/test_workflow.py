"""The incident workflow through the CLI: discover, collect, wait, download as jobs finish,
list, extend, retry, dry runs, extraction, and pacing under the per-group rate limit."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bulkdl.emulator import EmulatedJob, EmulatorThread, Fleet, add_group
from bulkdl.emulator.archives import make_archive
from tests.conftest import (
    COLLECT,
    PRIVATE_KEY,
    PUBLIC_KEY,
    make_fleet,
    read_manifest,
    run_cli,
    write_config,
)


def _cfg(tmp_path: Path, emu: EmulatorThread, **extra: object) -> Path:
    return write_config(tmp_path / "c.toml", base_url=emu.base_url, poll_interval_s=0.05, **extra)


def test_collect_wait_download_streams_each_archive_as_its_job_finishes(tmp_path: Path) -> None:
    """One command: a job per group, each archive downloaded as soon as its job is done."""
    fleet = make_fleet(groups=4)
    order = {gid: n for n, gid in enumerate(fleet.groups)}

    def duration(job: EmulatedJob) -> float:
        return 0.2 + 0.5 * order[job.group_id]  # the last group's job finishes 1.5 s later

    out = tmp_path / "out"
    with EmulatorThread(fleet, collect_duration_s=duration) as emu:
        result = run_cli(
            [
                *COLLECT,
                "--wait",
                "--download",
                "--out",
                str(out),
                "--config",
                str(_cfg(tmp_path, emu)),
            ]
        )
        events = emu.state.events
        created = emu.state.counters.requests_by_kind["create"]
    assert result.exit_code == 0, result.output
    assert created == 4
    new_jobs = {e.job_id: e.group_id for e in events if e.kind == "created"}
    assert len(new_jobs) == 4
    assert set(new_jobs.values()) == set(fleet.groups)
    for job_id, gid in new_jobs.items():
        job = next(j for j in fleet.groups[gid] if j.id == job_id)
        assert job.resource_type == "replicaset"
        assert (out / gid / f"{job_id}.tar.gz").read_bytes() == make_archive(job)
    finished = {e.job_id: e.at for e in events if e.kind == "finished"}
    started = {e.job_id: e.at for e in events if e.kind == "download_started"}
    first_download = min(started[j] for j in new_jobs)
    assert first_download < max(finished.values()), "a download starts before the last job ends"
    outcomes = [(line["jobId"], line["outcome"]) for line in read_manifest(out)]
    assert sorted(o for _, o in outcomes) == ["created"] * 4 + ["downloaded"] * 4
    assert "4 jobs created, 4 downloaded" in result.stderr


def test_collect_without_wait_records_jobs(tmp_path: Path) -> None:
    fleet = make_fleet(groups=2)
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        result = run_cli(
            [
                *COLLECT,
                "--out",
                str(out),
                "--config",
                str(_cfg(tmp_path, emu)),
                "--json",
                "--no-redact",
            ]
        )
        bodies = [
            j
            for g in fleet.groups.values()
            for j in g
            if j.resource_name == "rs0" and j.status == "IN_PROGRESS"
        ]
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] == 2
    assert len(bodies) >= 2
    assert all(j.redacted is False for j in bodies)
    assert [line["outcome"] for line in read_manifest(out)] == ["created", "created"]
    assert not list(out.rglob("*.tar.gz"))


def test_collect_dry_run_sends_no_post(tmp_path: Path) -> None:
    fleet = make_fleet(groups=3)
    with EmulatorThread(fleet) as emu:
        result = run_cli(
            [
                *COLLECT,
                "--download",
                "--dry-run",
                "--out",
                str(tmp_path / "o"),
                "--config",
                str(_cfg(tmp_path, emu)),
            ]
        )
        kinds = dict(emu.state.counters.requests_by_kind)
    assert result.exit_code == 0, result.output
    assert kinds.get("create", 0) == 0
    assert result.stderr.count("would create a job for REPLICASET rs0 (MONGODB, FTDC)") == 3
    assert "dry run: would create 3 jobs" in result.stderr
    assert not (tmp_path / "o").exists()


def test_download_dry_run_plans_and_downloads_nothing(tmp_path: Path) -> None:
    fleet = make_fleet(groups=3)
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        cfg = _cfg(tmp_path, emu, groups=list(fleet.groups))
        result = run_cli(
            ["download", "--config", str(cfg), "--out", str(out), "--dry-run", "--json"]
        )
        downloads = emu.state.counters.downloads_started
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert downloads == 0
    assert not out.exists()
    assert plan["toDownload"] == 12
    assert plan["fits"] is True
    assert plan["freeBytes"] > 0
    expected_bytes = sum(
        j.uncompressed_size_total_bytes
        for g in fleet.groups.values()
        for j in g
        if j.status in {"SUCCESS", "FAILURE", "MARKED_FOR_EXPIRY"}
    )
    assert plan["bytesUpperBound"] == expected_bytes
    expired = {g["groupId"]: g["statuses"]["EXPIRED"] for g in plan["groups"]}
    assert expired == dict.fromkeys(fleet.groups, 1)


def test_download_wait_downloads_jobs_that_finish(tmp_path: Path) -> None:
    """download --wait polls IN_PROGRESS jobs and fetches them when they are done."""
    fleet = make_fleet(groups=2)
    out = tmp_path / "out"
    with EmulatorThread(fleet, collect_duration_s=0.6) as emu:
        cfg = _cfg(tmp_path, emu)
        assert (
            run_cli([*COLLECT, "--out", str(tmp_path / "c"), "--config", str(cfg)]).exit_code == 0
        )
        new_ids = {e.job_id for e in emu.state.events if e.kind == "created"}
        result = run_cli(
            [
                "download",
                "--all-groups",
                "--config",
                str(cfg),
                "--out",
                str(out),
                "--wait",
                "--resource-name",
                "rs0",
                "--timeout",
                "30",
            ]
        )
    assert result.exit_code == 0, result.output
    got = {p.name.removesuffix(".tar.gz") for p in out.rglob("*.tar.gz")}
    assert got == new_ids


def test_download_wait_times_out(tmp_path: Path) -> None:
    """A job still IN_PROGRESS at --timeout is a failure naming it."""
    fleet = make_fleet(groups=1)
    gid = next(iter(fleet.groups))
    stuck = next(j for j in fleet.groups[gid] if j.status == "IN_PROGRESS")
    with EmulatorThread(fleet) as emu:
        result = run_cli(
            [
                "download",
                "--group",
                gid,
                "--config",
                str(_cfg(tmp_path, emu)),
                "--out",
                str(tmp_path / "o"),
                "--wait",
                "--timeout",
                "0.3",
                "--status",
                "IN_PROGRESS",
            ]
        )
    assert result.exit_code == 1
    assert f"job {stuck.id}" in result.stderr
    assert "still IN_PROGRESS after waiting 0.3 s" in result.stderr


def test_groups_and_list(tmp_path: Path) -> None:
    fleet = make_fleet(groups=3)
    hidden = list(fleet.groups)[2]
    fleet.not_in_group.add(hidden)
    with EmulatorThread(fleet) as emu:
        cfg = _cfg(tmp_path, emu)
        groups = run_cli(["groups", "--config", str(cfg), "--json"])
        named = run_cli(["groups", "--config", str(cfg), "--json", "--group-name", "prod-eu-*"])
        table = run_cli(["groups", "--config", str(cfg)])
        listing = run_cli(
            ["list", "--all-groups", "--config", str(cfg), "--json", "--status", "success,failure"]
        )
        plain = run_cli(["list", "--all-groups", "--config", str(cfg), "--status", "EXPIRED"])
    assert groups.exit_code == 0, groups.output
    visible = json.loads(groups.stdout)
    assert {g["id"] for g in visible} == set(fleet.groups) - {hidden}
    assert [g["name"] for g in json.loads(named.stdout)] == ["prod-eu-1"]
    for g in visible:
        assert g["id"] in table.stdout
        assert g["name"] in table.stdout
    jobs = json.loads(listing.stdout)
    assert len(jobs) == 6  # two visible groups, each with 2 SUCCESS and 1 FAILURE
    assert {j["status"] for j in jobs} == {"SUCCESS", "FAILURE"}
    assert {j["groupId"] for j in jobs} == set(fleet.groups) - {hidden}
    assert plain.exit_code == 0
    assert plain.stdout.count("EXPIRED") == 2


def _fresh_fleet(groups: int, jobs: int, statuses: list[str]) -> Fleet:
    fleet = Fleet(keys={PUBLIC_KEY: PRIVATE_KEY})
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    for i in range(groups):
        add_group(
            fleet, n_jobs=jobs, statuses=statuses, archive_bytes=4096, seed=i, base_time=recent
        )
    return fleet


def test_extend(tmp_path: Path) -> None:
    """PATCH expirationDate on each job; too far is refused before sending; dry run sends none."""
    fleet = _fresh_fleet(2, 3, ["SUCCESS", "FAILURE", "EXPIRED"])
    with EmulatorThread(fleet) as emu:
        cfg = _cfg(tmp_path, emu)
        dry = run_cli(["extend", "--all-groups", "--days", "20", "--dry-run", "--config", str(cfg)])
        assert emu.state.counters.requests_by_kind["patch"] == 0
        too_far = run_cli(["extend", "--all-groups", "--days", "200", "--config", str(cfg)])
        assert emu.state.counters.requests_by_kind["patch"] == 0
        ok = run_cli(["extend", "--all-groups", "--days", "20", "--config", str(cfg), "--json"])
        patched = emu.state.counters.requests_by_kind["patch"]
    assert dry.exit_code == 0, dry.output
    assert dry.stderr.count("would extend to") == 4  # EXPIRED jobs are left alone
    assert too_far.exit_code == 1
    assert "more than 6 months after its creation" in too_far.stderr
    assert ok.exit_code == 0, ok.output
    assert patched == 4
    target = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    for g in fleet.groups.values():
        for job in g:
            if job.status != "EXPIRED":
                assert job.to_api("", False)["expirationDate"].startswith(target)
    assert all(a["done"] for a in json.loads(ok.stdout)["actions"])


def test_retry_failed_jobs(tmp_path: Path) -> None:
    fleet = make_fleet(groups=2)
    failed = {j.id for g in fleet.groups.values() for j in g if j.status == "FAILURE"}
    with EmulatorThread(fleet) as emu:
        cfg = _cfg(tmp_path, emu)
        dry = run_cli(["retry", "--all-groups", "--dry-run", "--config", str(cfg)])
        assert emu.state.counters.requests_by_kind["retry"] == 0
        done = run_cli(["retry", "--all-groups", "--config", str(cfg)])
        retried = emu.state.counters.requests_by_kind["retry"]
    assert dry.exit_code == 0, dry.output
    assert dry.stderr.count("would retry") == 2
    assert done.exit_code == 0, done.output
    assert retried == 2
    assert {j.id for g in fleet.groups.values() for j in g if j.status == "IN_PROGRESS"} >= failed


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_extract_unpacks_safely_and_refuses_crafted_archives(tmp_path: Path) -> None:
    fleet = make_fleet(groups=1, jobs_per_group=2)
    gid = next(iter(fleet.groups))
    good, evil = fleet.groups[gid]
    crafted = _tar_gz(
        {
            "host/27017/mongodb/mongodb.log": b"ok\n",
            "../../escaped.txt": b"pwned\n",
            "/tmp/absolute-bulkdl.txt": b"pwned\n",  # noqa: S108 -- the attack under test
        }
    )
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        emu.state.archives.serve_bytes(evil.id, crafted)
        result = run_cli(
            [
                "download",
                "--group",
                gid,
                "--config",
                str(_cfg(tmp_path, emu)),
                "--out",
                str(out),
                "--extract",
            ]
        )
    # Issue 21: a member that would leave the folder is refused by name, the rest extracted.
    assert result.exit_code == 0, result.output
    extracted = out / gid / good.id
    with tarfile.open(out / gid / f"{good.id}.tar.gz") as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
    assert names
    for name in names:
        assert (extracted / name).is_file()
    assert f"job {evil.id}: not extracted: '../../escaped.txt'" in result.stderr
    kept = out / gid / evil.id
    assert (kept / "host/27017/mongodb/mongodb.log").read_bytes() == b"ok\n"
    assert (kept / "tmp/absolute-bulkdl.txt").is_file()  # the filter makes it relative
    assert not list(out.rglob("*.part"))
    assert not (tmp_path / "escaped.txt").exists()
    assert not (out / "escaped.txt").exists()
    assert not Path("/tmp/absolute-bulkdl.txt").exists()  # noqa: S108
    lines = {line["jobId"]: line for line in read_manifest(out)}
    assert lines[good.id]["extractedPath"] == extracted.relative_to(out).as_posix()  # from OUT


def test_pacing_keeps_50_groups_under_the_rate_limit(tmp_path: Path) -> None:
    """50 groups, a server enforcing 100 requests per minute per group: not a single 429."""
    fleet = make_fleet(groups=50, jobs_per_group=2, archive_bytes=4096)
    out = tmp_path / "out"
    with EmulatorThread(fleet, collect_duration_s=0.3) as emu:
        emu.state.set_rate_limit(100)
        result = run_cli(
            [
                *COLLECT,
                "--wait",
                "--download",
                "--out",
                str(out),
                "--config",
                str(_cfg(tmp_path, emu, concurrency=8)),
            ]
        )
        limited = emu.state.counters.rate_limited
    assert result.exit_code == 0, result.output
    assert limited == 0
    assert len(list(out.rglob("*.tar.gz"))) == 50


def test_pacing_is_what_prevents_429s(tmp_path: Path) -> None:
    """The same budget logic in compressed time: 20 calls per second per group on the server.

    `extend` on 25 jobs a group sends 26 calls per group at once. Paced at 10 per second (half
    the server's limit: a loaded machine delays some calls between the budget and the wire, and
    they then arrive bunched), no 429; unpaced (a budget above the server's), the server refuses
    some (the control run).
    """
    fleet = _fresh_fleet(20, 25, ["SUCCESS"])  # the limit is per group
    with EmulatorThread(fleet) as emu:
        emu.state.set_rate_limit(20, window_s=1.0)
        paced = run_cli(
            [
                "extend",
                "--all-groups",
                "--days",
                "3",
                "--config",
                str(_cfg(tmp_path, emu, requests_per_minute=10, rate_window_s=1.0, retries=0)),
            ]
        )
        paced_429 = emu.state.counters.rate_limited
        control = run_cli(
            [
                "extend",
                "--all-groups",
                "--days",
                "4",
                "--config",
                str(_cfg(tmp_path, emu, requests_per_minute=1000, rate_window_s=1.0, retries=0)),
            ]
        )
        control_429 = emu.state.counters.rate_limited - paced_429
    assert paced.exit_code == 0, paced.output[-2000:]
    assert paced_429 == 0
    assert control_429 > 0, "without pacing the server must refuse some calls"
    assert control.exit_code == 1


def test_org_and_job_filters(tmp_path: Path) -> None:
    """--org narrows discovery to one organization; --job and --since narrow the jobs."""
    fleet = demo_fleet_keyed(groups=4, orgs=2)
    org = fleet.group_info[next(iter(fleet.groups))].org_id
    in_org = {g for g, info in fleet.group_info.items() if info.org_id == org}
    assert 0 < len(in_org) < 4
    some_job = fleet.groups[sorted(in_org)[0]][0]
    with EmulatorThread(fleet) as emu:
        cfg = _cfg(tmp_path, emu)
        groups = run_cli(["groups", "--config", str(cfg), "--org", org, "--json"])
        one = run_cli(["list", "--org", org, "--config", str(cfg), "--json", "--job", some_job.id])
        recent = run_cli(["list", "--org", org, "--config", str(cfg), "--json", "--since", "1d"])
        old = run_cli(
            [
                "list",
                "--org",
                org,
                "--config",
                str(cfg),
                "--json",
                "--since",
                "2019-03-07T10:00:00Z",
            ]
        )
        bad_org = run_cli(["groups", "--config", str(cfg), "--org", "f" * 24])
    assert {g["id"] for g in json.loads(groups.stdout)} == in_org
    assert [j["id"] for j in json.loads(one.stdout)] == [some_job.id]
    assert json.loads(recent.stdout) == []  # the demo jobs are from 2019
    since_jobs = json.loads(old.stdout)
    assert since_jobs
    assert all(j["creationDate"] >= "2019-03-07T10:00:00Z" for j in since_jobs)
    assert bad_org.exit_code == 2
    assert "ORG_NOT_FOUND" in bad_org.stderr


def demo_fleet_keyed(**kw: int) -> Fleet:
    from bulkdl.emulator import demo_fleet

    fleet = demo_fleet(**kw)
    fleet.keys = {PUBLIC_KEY: PRIVATE_KEY}
    return fleet
