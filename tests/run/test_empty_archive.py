"""A SUCCESS job that collected no logs is served an empty archive: kept, recorded, exit 0."""

from __future__ import annotations

import json
from pathlib import Path

from bulkdl.emulator import EmulatorThread, Fleet
from bulkdl.report.schema import ManifestLine, SummaryDoc, problems
from tests.conftest import make_fleet, read_manifest, run_cli, served_archive


def _fleet(*kinds: str) -> Fleet:
    fleet = make_fleet(groups=1, jobs_per_group=len(kinds))
    for job, kind in zip(next(iter(fleet.groups.values())), kinds, strict=True):
        job.status = "SUCCESS"
        job.archive_kind = kind
    return fleet


def _download(emu: EmulatorThread, fleet: Fleet, out: Path, *extra: str) -> tuple[int, str, str]:
    (gid,) = fleet.groups
    result = run_cli(
        ["download", "--base-url", emu.base_url, "--group", gid, "--out", str(out), *extra]
    )
    return result.exit_code, result.stdout, result.stderr


def test_empty_archives_are_kept_recorded_counted_and_verified(tmp_path: Path) -> None:
    """Both empty forms (a gzip of an empty tar, a gzip of nothing) next to a normal archive:
    exit 0, each file byte-exact under its final name, `empty: true` with its sha256, a
    warning naming the job, `empty` counted; `bulkdl verify` says intact; a rerun skips them."""
    fleet = _fleet("empty", "empty-gzip", "logs")
    (gid,) = fleet.groups
    empty_tar, empty_gzip, logs = fleet.groups[gid]
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        code, stdout, stderr = _download(emu, fleet, out, "--json")
        assert code == 0, stderr
        summary = json.loads(stdout)
        assert problems(summary, SummaryDoc) == []
        assert (summary["downloaded"], summary["empty"], summary["failed"]) == (3, 2, 0)
        lines = {line["jobId"]: line for line in read_manifest(out)}
        for job in (empty_tar, empty_gzip):
            data = served_archive(fleet, gid, job.id)
            assert (out / gid / f"{job.id}.tar.gz").read_bytes() == data
            line = lines[job.id]
            assert problems(line, ManifestLine) == []
            assert line["outcome"] == "downloaded"
            assert line["empty"] is True
            assert line["bytes"] == len(data)
            assert len(line["sha256"]) == 64
            assert f"job {job.id}: the archive is empty" in stderr
        assert "empty" not in lines[logs.id]
        assert f"job {logs.id}: the archive is empty" not in stderr

        verified = run_cli(["verify", str(out)])
        assert verified.exit_code == 0, verified.output

        code, stdout, stderr = _download(emu, fleet, out, "--json")
        assert code == 0, stderr
        again = json.loads(stdout)
        assert (again["skipped"], again["downloaded"], again["empty"]) == (3, 0, 2)
        assert emu.state.counters.downloads_by_job[empty_tar.id] == 1  # not fetched again
        dry = run_cli(
            ["download", "--base-url", emu.base_url, "--group", gid, "--out", str(out), "--dry-run"]
        )
        assert dry.exit_code == 0, dry.output
        assert emu.state.counters.downloads_by_job[empty_gzip.id] == 1


def test_extract_of_an_empty_archive_makes_an_empty_folder(tmp_path: Path) -> None:
    fleet = _fleet("empty", "empty-gzip")
    (gid,) = fleet.groups
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        code, _, stderr = _download(emu, fleet, out, "--extract")
    assert code == 0, stderr
    for job in fleet.groups[gid]:
        folder = out / gid / job.id
        assert folder.is_dir()
        assert list(folder.iterdir()) == []


def test_gzip_of_anything_but_a_tar_is_still_refused(tmp_path: Path) -> None:
    """An empty archive is no loophole: gzip of an HTML page fails the job as before."""
    fleet = _fleet("logs")
    (gid,) = fleet.groups
    (job,) = fleet.groups[gid]
    from bulkdl.emulator import parse_fault_spec

    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        emu.state.add_download_faults(job.id, [parse_fault_spec("always:gzip-not-tar")])
        code, _, stderr = _download(emu, fleet, out)
    assert code == 1
    assert "gzip, but not of a tar archive" in stderr
    assert not (out / gid / f"{job.id}.tar.gz").exists()
