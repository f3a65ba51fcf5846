"""Archive integrity through the CLI (issue 21, points 1-4): a body without a declared length
is kept only once checked whole, every gzip trailer is checked, link members are members, a
verdict on the bytes is not retried, and --extract is filtered and capped."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bulkdl.emulator import EmulatorThread, Fleet, parse_fault_specs
from bulkdl.emulator.archive_faults import BadCrc, NoTrailer, spoil
from bulkdl.emulator.archive_kinds import ARCHIVE_KINDS
from bulkdl.emulator.archives import corrupt_archive
from tests.conftest import make_fleet, read_manifest, run_cli, served_archive


def _fleet(*kinds: str, archive_bytes: int = 48 * 1024) -> Fleet:
    fleet = make_fleet(groups=1, jobs_per_group=len(kinds), archive_bytes=archive_bytes)
    for job, kind in zip(next(iter(fleet.groups.values())), kinds, strict=True):
        job.status = "SUCCESS"
        job.archive_kind = kind
    return fleet


def _download(emu: EmulatorThread, fleet: Fleet, out: Path, *extra: str) -> tuple[int, str]:
    (gid,) = fleet.groups
    result = run_cli(
        ["download", "--base-url", emu.base_url, "--group", gid, "--out", str(out), *extra]
    )
    return result.exit_code, result.stderr


def _checking(tmp_path: Path, how: str) -> list[str]:
    if how == "--verify":
        return ["--verify"]
    config = tmp_path / "check.toml"
    config.write_text("check_gzip = true\n")
    return ["--config", str(config)]


def _one_job(fleet: Fleet) -> tuple[str, str]:
    (gid,) = fleet.groups
    (job,) = fleet.groups[gid]
    return gid, job.id


def test_a_close_delimited_body_cut_half_way_is_never_kept(tmp_path: Path) -> None:
    """Point 1: no Content-Length, the connection closed half-way: aiohttp sees a clean end;
    the archive check sees a gzip stream without its end. Not kept, the job fails, exit 1."""
    fleet = _fleet("logs")
    gid, job = _one_job(fleet)
    out = tmp_path / "out"
    half = len(served_archive(fleet, gid, job)) // 2
    with EmulatorThread(fleet) as emu:
        emu.state.add_download_faults(job, parse_fault_specs(f"always:close-delimited:{half}"))
        code, stderr = _download(emu, fleet, out)
    assert code == 1, stderr
    assert "the gzip stream ends before its trailer" in stderr
    assert not (out / gid / f"{job}.tar.gz").exists()
    assert not list((out / gid).glob("*.part"))
    (line,) = read_manifest(out)
    assert line["outcome"] == "failed"
    assert line["attempts"] == 2  # the same cut bytes twice: a verdict, not retried again


def test_a_whole_close_delimited_body_is_kept_after_the_check(tmp_path: Path) -> None:
    fleet = _fleet("logs")
    gid, job = _one_job(fleet)
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        emu.state.add_download_faults(job, parse_fault_specs("close-delimited"))
        code, stderr = _download(emu, fleet, out)
    assert code == 0, stderr
    assert (out / gid / f"{job}.tar.gz").read_bytes() == served_archive(fleet, gid, job)


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("bad-crc", "its gzip CRC32 does not match its data"),
        ("no-trailer", "the gzip stream ends before its trailer"),
    ],
)
@pytest.mark.parametrize("how", ["--verify", "check_gzip"])
def test_a_wrong_or_missing_gzip_trailer_fails_the_job(
    tmp_path: Path, spec: str, named: str, how: str
) -> None:
    """Point 2, with --verify (read back) and with check_gzip (checked as it arrives): the
    archive is not kept, and the same bytes are fetched twice, not six times (a verdict on
    the bytes is not a network fault)."""
    fleet = _fleet("logs")
    gid, job = _one_job(fleet)
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        emu.state.add_download_faults(job, parse_fault_specs(f"always:{spec}"))
        code, stderr = _download(emu, fleet, out, *_checking(tmp_path, how))
        fetched = emu.state.counters.downloads_by_job[job]
    assert code == 1, stderr
    assert named in stderr
    assert not (out / gid / f"{job}.tar.gz").exists()
    assert fetched == 2


def test_a_corrupt_archive_that_changes_is_retried(tmp_path: Path) -> None:
    """Bytes that differ from the last attempt's deserve another attempt: bad once, then good."""
    fleet = _fleet("logs")
    gid, job = _one_job(fleet)
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        emu.state.add_download_faults(job, parse_fault_specs("bad-crc,no-trailer"))
        code, stderr = _download(emu, fleet, out, "--verify")
        fetched = emu.state.counters.downloads_by_job[job]
    assert code == 0, stderr
    assert fetched == 3
    assert (out / gid / f"{job}.tar.gz").read_bytes() == served_archive(fleet, gid, job)


def test_archives_with_link_members_are_intact_and_extract_inside(tmp_path: Path) -> None:
    """Point 3: rotation-style symbolic and hard links are members: --verify keeps the
    archive at the first attempt, `verify` says intact, --extract makes the links."""
    fleet = _fleet("links")
    gid, job = _one_job(fleet)
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        code, stderr = _download(emu, fleet, out, "--verify", "--extract")
        fetched = emu.state.counters.downloads_by_job[job]
    assert code == 0, stderr
    assert fetched == 1
    assert run_cli(["verify", str(out)]).exit_code == 0
    logs = next((out / gid / job).glob("*/27017/mongodb"))
    assert os.readlink(logs / "mongodb.log") == "mongodb.log.2026-12-01T00-00-00"
    dated = logs / "mongodb.log.2026-12-01T00-00-00"
    assert (logs / "mongodb.log").read_bytes() == dated.read_bytes() != b""
    assert (logs / "mongodb.log.1").stat().st_ino == dated.stat().st_ino  # a hard link


def test_links_leaving_the_folder_are_refused_by_name_the_rest_extracted(tmp_path: Path) -> None:
    fleet = _fleet("escaping-links")
    gid, job = _one_job(fleet)
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        code, stderr = _download(emu, fleet, out, "--extract")
    assert code == 0, stderr
    assert "not extracted: '" in stderr
    assert "/passwd'" in stderr
    assert "/shadow'" in stderr
    host = next((out / gid / job).iterdir())
    assert not (host / "passwd").exists()
    assert not (host / "passwd").is_symlink()
    assert not (host / "shadow").exists()
    assert (host / "27017/mongodb/mongodb.log").is_symlink()


def test_extract_refuses_an_archive_that_inflates_past_the_cap(tmp_path: Path) -> None:
    """Point 4: ~48 KiB inflating to 48 MiB: refused with one clear line, nothing unpacked;
    raising extract_max_ratio lets it through."""
    fleet = _fleet("bomb")
    gid, job = _one_job(fleet)
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        code, stderr = _download(emu, fleet, out, "--extract")
        assert code == 1, stderr
        assert "not extracted: its files would take 50331648 bytes" in stderr
        assert "extract_max_ratio (200)" in stderr
        assert not (out / gid / job).exists()
        assert not (out / gid / f"{job}.part").exists()
        config = tmp_path / "c.toml"
        config.write_text("extract_max_ratio = 2000\n")
        code, stderr = _download(emu, fleet, out, "--extract", "--config", str(config))
    assert code == 0, stderr
    assert (next((out / gid / job).rglob("mongodb.log"))).stat().st_size == 48 * 1024 * 1024


def _spoiled(fleet: Fleet, gid: str, job: str) -> dict[str, bytes]:
    good = served_archive(fleet, gid, job)
    return {
        "bad-crc": spoil(good, BadCrc()),
        "no-trailer": spoil(good, NoTrailer()),
        "corrupt-gzip": corrupt_archive(good),
        "cut": good[: len(good) // 2],
    }


@pytest.mark.skipif(shutil.which("tar") is None or shutil.which("gzip") is None, reason="no tar")
def test_verify_agrees_with_gzip_and_tar_on_every_archive_kind(tmp_path: Path) -> None:
    """Every archive kind the emulator serves, whole and as each integrity fault spoils it:
    `bulkdl verify` calls it intact exactly when `gzip -t` and `tar tzf` both accept it."""
    fleet = _fleet(*ARCHIVE_KINDS)
    (gid,) = fleet.groups
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        code, stderr = _download(emu, fleet, out)
    assert code == 0, stderr
    lines = read_manifest(out)
    cases: dict[str, bytes] = {}
    for job in fleet.groups[gid]:
        cases[job.id] = (out / gid / f"{job.id}.tar.gz").read_bytes()
        assert cases[job.id] == served_archive(fleet, gid, job.id)
    # Each spoiled form as an archive of its own, recorded as it is, so only its bytes decide.
    for job in fleet.groups[gid]:
        if job.archive_kind in ("logs", "links"):
            for data in _spoiled(fleet, gid, job.id).values():
                fake = f"{job.id[:-4]}{len(cases):04x}"
                cases[fake] = data
                line = dict(next(ln for ln in lines if ln["jobId"] == job.id))
                line.update(jobId=fake, path=f"{gid}/{fake}.tar.gz", bytes=len(data))
                line["sha256"] = hashlib.sha256(data).hexdigest()
                lines.append(line)
                (out / gid / f"{fake}.tar.gz").write_bytes(data)
    (out / "manifest.jsonl").write_text("".join(json.dumps(ln) + "\n" for ln in lines))
    verified = run_cli(["verify", str(out), "--json"])
    bad = {
        Path(item["path"]).name.removesuffix(".tar.gz")
        for item in json.loads(verified.stdout)["bad"]
    }
    tools_bad = set()
    for job in cases:
        path = out / gid / f"{job}.tar.gz"
        gz = subprocess.run(["gzip", "-t", str(path)], capture_output=True, check=False)
        tar = subprocess.run(["tar", "tzf", str(path)], capture_output=True, check=False)
        if gz.returncode or tar.returncode:
            tools_bad.add(job)
    assert len(cases) == len(ARCHIVE_KINDS) + 8
    assert bad == tools_bad
    assert len(bad) == 8
