"""`bulkdl download` end to end: CLI -> real loopback HTTP -> emulator -> files on disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bulkdl.emulator import EmulatorThread, Fleet
from tests.conftest import (
    PRIVATE_KEY,
    is_valid_tar_gz,
    make_fleet,
    read_manifest,
    run_cli,
    served_archive,
    write_config,
)

DOWNLOADABLE = {"SUCCESS", "FAILURE", "MARKED_FOR_EXPIRY"}


def _config(tmp_path: Path, emu: EmulatorThread, fleet: Fleet, **extra: object) -> Path:
    return write_config(
        tmp_path / "bulkdl.toml",
        base_url=emu.base_url,
        groups=list(fleet.groups),
        per_group_concurrency=2,
        **extra,
    )


@pytest.fixture
def overlapping(fleet: Fleet) -> Iterator[EmulatorThread]:
    """Bodies of about 0.1 s: three downloads overlap even on a machine busy with other tests."""
    with EmulatorThread(fleet, chunk_size=16 * 1024, chunk_delay_s=0.03) as emu:
        yield emu


def test_downloads_every_downloadable_archive_byte_exact(
    tmp_path: Path, fleet: Fleet, overlapping: EmulatorThread
) -> None:
    """3 groups x 6 jobs, five statuses: archives byte-exact, limits held, a manifest line each."""
    emulator = overlapping
    out = tmp_path / "out"
    cfg = _config(tmp_path, emulator, fleet)
    result = run_cli(["download", "--config", str(cfg), "--out", str(out), "--concurrency", "3"])
    assert result.exit_code == 0, result.output

    expected_files = set()
    for gid, jobs in fleet.groups.items():
        for job in jobs:
            path = out / gid / f"{job.id}.tar.gz"
            if job.status in DOWNLOADABLE:
                expected_files.add(path)
                assert path.read_bytes() == served_archive(fleet, gid, job.id)
                assert is_valid_tar_gz(path)
            else:
                assert not path.exists(), f"{job.status} job must not be written"
    bookkeeping = {"manifest.jsonl", ".bulkdl.lock"}
    on_disk = {p for p in out.rglob("*") if p.is_file() and p.name not in bookkeeping}
    assert on_disk == expected_files
    assert not list(out.rglob("*.part"))

    lines = read_manifest(out)
    assert len(lines) == sum(len(j) for j in fleet.groups.values()) == 18
    by_job = {line["jobId"]: line for line in lines}
    for jobs in fleet.groups.values():
        for job in jobs:
            line = by_job[job.id]
            if job.status in DOWNLOADABLE:
                assert line["outcome"] == "downloaded"
                assert line["bytes"] == len(served_archive(fleet, job.group_id, job.id))
                assert len(line["sha256"]) == 64
            else:
                assert line["outcome"] == "not_downloadable"
                assert job.status in line["error"]

    counters = emulator.state.counters
    assert counters.max_in_flight == 3  # concurrency reached, never exceeded
    assert max(counters.max_in_flight_by_group.values()) <= 2
    assert counters.challenges <= 2  # about one 401 round trip for the whole run
    assert counters.downloads_completed == len(expected_files) == 12


def test_second_run_downloads_nothing(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """A rerun skips archives already complete, without requesting their download URL."""
    out = tmp_path / "out"
    cfg = _config(tmp_path, emulator, fleet)
    assert run_cli(["download", "--config", str(cfg), "--out", str(out)]).exit_code == 0
    downloads = emulator.state.counters.downloads_started
    assert downloads == 12

    again = run_cli(["download", "--config", str(cfg), "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert emulator.state.counters.downloads_started == downloads
    rerun_lines = read_manifest(out)[18:]
    assert (
        sorted(line["outcome"] for line in rerun_lines)
        == ["not_downloadable"] * 6 + ["skipped"] * 12
    )


def test_rerun_replaces_a_damaged_archive(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """A final file that no longer matches the manifest's sha256 is downloaded again."""
    out = tmp_path / "out"
    cfg = _config(tmp_path, emulator, fleet)
    assert run_cli(["download", "--config", str(cfg), "--out", str(out)]).exit_code == 0
    gid = next(iter(fleet.groups))
    job = fleet.groups[gid][0]
    damaged = out / gid / f"{job.id}.tar.gz"
    damaged.write_bytes(damaged.read_bytes()[:-10] + b"0123456789")
    before = emulator.state.counters.downloads_started

    assert run_cli(["download", "--config", str(cfg), "--out", str(out)]).exit_code == 0
    assert emulator.state.counters.downloads_started == before + 1
    assert damaged.read_bytes() == served_archive(fleet, gid, job.id)


def test_listing_of_more_than_500_jobs_follows_pages(tmp_path: Path) -> None:
    """A group with 1200 jobs is listed completely: three pages of at most 500."""
    fleet = make_fleet(groups=1, jobs_per_group=1200, archive_bytes=4096)
    gid = next(iter(fleet.groups))
    # Keep the download part small: only the first few jobs are downloadable.
    for job in fleet.groups[gid][10:]:
        job.status = "EXPIRED"
    with EmulatorThread(fleet) as emu:
        out = tmp_path / "out"
        result = run_cli(
            ["download", "--base-url", emu.base_url, "--group", gid, "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert emu.state.counters.list_requests_by_group[gid] == 3
    lines = read_manifest(out)
    assert len(lines) == 1200
    assert {line["jobId"] for line in lines} == {job.id for job in fleet.groups[gid]}
    downloaded = [line for line in lines if line["outcome"] == "downloaded"]
    assert len(downloaded) == sum(1 for j in fleet.groups[gid] if j.status in DOWNLOADABLE)


def test_wrong_private_key_exits_2_with_one_line(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """A key the API rejects stops the run before any download: exit 2, one line, no traceback."""
    out = tmp_path / "out"
    cfg = _config(tmp_path, emulator, fleet)
    result = run_cli(
        ["download", "--config", str(cfg), "--out", str(out)],
        env={"BULKDL_PRIVATE_KEY": "not-the-right-key"},
    )
    assert result.exit_code == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert "authentication failed" in error_lines[0]
    assert "Traceback" not in result.output
    assert "not-the-right-key" not in result.output
    assert emulator.state.counters.downloads_started == 0
    assert not list(out.rglob("*.tar.gz"))


def test_unreachable_groups_fail_alone(tmp_path: Path) -> None:
    """A group the key is not in, and one that does not exist, fail; the others complete: exit 1."""
    fleet = make_fleet(groups=3)
    good = list(fleet.groups)
    locked = "aaaaaaaaaaaaaaaaaaaaaaaa"
    missing = "bbbbbbbbbbbbbbbbbbbbbbbb"
    fleet.groups[locked] = []
    fleet.not_in_group.add(locked)
    with EmulatorThread(fleet) as emu:
        out = tmp_path / "out"
        cfg = write_config(
            tmp_path / "c.toml",
            base_url=emu.base_url,
            groups=[good[0], locked, good[1], missing, good[2]],
        )
        result = run_cli(["download", "--config", str(cfg), "--out", str(out), "--json"])
    assert result.exit_code == 1, result.output
    assert f"group {locked}" in result.stderr
    assert "NOT_IN_GROUP" in result.stderr
    assert f"group {missing}" in result.stderr
    assert "GROUP_NOT_FOUND" in result.stderr
    assert "Traceback" not in result.output
    for gid in good:
        assert len(list((out / gid).glob("*.tar.gz"))) == 4
    failed = [line for line in read_manifest(out) if line["outcome"] == "failed"]
    assert {line["groupId"] for line in failed} == {locked, missing}
    summary = json.loads(result.stdout)
    assert summary["failed"] == 2
    assert summary["downloaded"] == 12
    assert summary["exitCode"] == 1


def test_json_summary_and_plain_output(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """--json prints one JSON document on stdout; stderr (not a TTY) has no control codes."""
    out = tmp_path / "out"
    cfg = _config(tmp_path, emulator, fleet)
    result = run_cli(["download", "--config", str(cfg), "--out", str(out), "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert summary["downloaded"] == 12
    assert summary["notDownloadable"] == 6
    assert summary["failed"] == 0
    assert summary["bytes"] == sum(
        len(served_archive(fleet, j.group_id, j.id))
        for jobs in fleet.groups.values()
        for j in jobs
        if j.status in DOWNLOADABLE
    )
    assert "\x1b" not in result.stderr
    assert "12 downloaded, 0 skipped, 6 not downloadable, 0 failed" in result.stderr


def test_quiet_prints_nothing_on_success(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """--quiet keeps stderr empty when nothing went wrong."""
    cfg = _config(tmp_path, emulator, fleet)
    result = run_cli(["download", "--config", str(cfg), "--out", str(tmp_path / "o"), "--quiet"])
    assert result.exit_code == 0
    assert result.stderr == ""


def test_private_key_never_printed(tmp_path: Path, fleet: Fleet, emulator: EmulatorThread) -> None:
    """The private key appears in no output and no file, on success or failure."""
    out = tmp_path / "out"
    cfg = _config(tmp_path, emulator, fleet)
    runs = [
        run_cli(["download", "--config", str(cfg), "--out", str(out), "--json"]),
        run_cli(["download", "--config", str(cfg), "--out", str(out), "--group", "z" * 24]),
        run_cli(["download", "--config", str(cfg), "--out", str(out), "--debug"]),
    ]
    for run in runs:
        assert PRIVATE_KEY not in run.output
    for path in out.rglob("*"):
        if path.is_file():
            assert PRIVATE_KEY.encode() not in path.read_bytes()


def test_files_are_private(tmp_path: Path, fleet: Fleet, emulator: EmulatorThread) -> None:
    """Archives may hold sensitive logs: folders 0700, files 0600."""
    out = tmp_path / "out"
    cfg = _config(tmp_path, emulator, fleet)
    assert run_cli(["download", "--config", str(cfg), "--out", str(out)]).exit_code == 0
    for path in [out, *out.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), path
