"""The disk layer under hostile conditions: one writer per OUT, nothing written outside OUT,
a manifest that never tears. Every test runs bulkdl through its CLI against the emulator."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import resource
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bulkdl.domain.errors import ConfigError, DiskError
from bulkdl.domain.planner import DOWNLOADABLE
from bulkdl.emulator import EmulatorThread, Fleet
from bulkdl.store.archive_file import ArchiveFile
from bulkdl.store.outdir import OutDir
from bulkdl.store.verify import UNRECORDED
from tests.conftest import (
    make_fleet,
    read_manifest,
    run_cli,
    served_archive,
    start_download,
    wait_for,
    write_config,
)

PRECIOUS = b"a file outside OUT that bulkdl must never touch\n"


@pytest.fixture
def one_group() -> Fleet:
    return make_fleet(groups=1, jobs_per_group=6, archive_bytes=16 * 1024)


@pytest.fixture
def emu(one_group: Fleet) -> Iterator[EmulatorThread]:
    with EmulatorThread(one_group) as e:
        yield e


def _gid(fleet: Fleet) -> str:
    return next(iter(fleet.groups))


def _downloadable(fleet: Fleet) -> list[str]:
    return [j.id for j in fleet.groups[_gid(fleet)] if j.status in {s.value for s in DOWNLOADABLE}]


def _download(emu: EmulatorThread, fleet: Fleet, out: Path, *extra: str) -> tuple[int, str]:
    cfg = write_config(out.parent / "c.toml", base_url=emu.base_url, groups=list(fleet.groups))
    result = run_cli(["download", "--config", str(cfg), "--out", str(out), *extra])
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    return result.exit_code, result.stderr


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "outside" / "victim.txt"
    victim.parent.mkdir()
    victim.write_bytes(PRECIOUS)
    return victim


def _group_folder(out: Path, gid: str) -> Path:
    folder = out / gid
    folder.mkdir(mode=0o700, parents=True)
    out.chmod(0o700)
    return folder


def _others_intact(fleet: Fleet, out: Path, bad: str) -> None:
    gid = _gid(fleet)
    for job in _downloadable(fleet):
        if job != bad:
            assert (out / gid / f"{job}.tar.gz").read_bytes() == served_archive(fleet, gid, job)


def _failed_line(out: Path, job: str) -> dict[str, object]:
    (line,) = [d for d in read_manifest(out) if d["jobId"] == job]
    assert line["outcome"] == "failed"
    return line


# --- 1. One writer per OUT ------------------------------------------------------------------


def _slow_fleet() -> Fleet:
    """8 archives of 8 chunks: at --concurrency 1 the first run holds OUT for 6 s or more, long
    enough for a second run to start even on a machine busy with other tests."""
    return make_fleet(groups=2, jobs_per_group=6, archive_bytes=128 * 1024)


def _slow(fleet: Fleet) -> EmulatorThread:
    return EmulatorThread(fleet, chunk_size=16 * 1024, chunk_delay_s=0.1)


def _wait_for_lock(out: Path, pid: int) -> None:
    lock = out / ".bulkdl.lock"
    wait_for(lambda: lock.exists() and f"pid {pid} " in lock.read_text(), "the first run's lock")


def _assert_pull_exact(fleet: Fleet, out: Path) -> None:
    checked = 0
    for gid, jobs in fleet.groups.items():
        for job in jobs:
            if job.status in {s.value for s in DOWNLOADABLE}:
                got = (out / gid / f"{job.id}.tar.gz").read_bytes()
                assert got == served_archive(fleet, gid, job.id)
                checked += 1
    verified = run_cli(["verify", str(out), "--json"])
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout) == {
        "checked": checked,
        "bad": [],
        "failures": [],
        "exitCode": 0,
    }


def test_second_run_is_refused_while_the_first_holds_out(tmp_path: Path) -> None:
    fleet = _slow_fleet()
    out = tmp_path / "out"
    with _slow(fleet) as emu:
        first = start_download(emu.base_url, list(fleet.groups), out, "--concurrency", "1")
        _wait_for_lock(out, first.pid)
        second = start_download(emu.base_url, list(fleet.groups), out)
        _, err2 = second.communicate(timeout=30)
        still_running = first.poll() is None  # refused at once, not after the first ended
        _, err1 = first.communicate(timeout=60)
    assert second.returncode == 2, err2
    (line,) = err2.strip().splitlines()[:1]
    assert line.startswith(f"error: output directory {out} is in use by another bulkdl run")
    assert f"(pid {first.pid} on " in line
    assert "started " in line
    assert still_running
    assert first.returncode == 0, err1
    _assert_pull_exact(fleet, out)


@pytest.mark.parametrize("kill_after_s", [0.05, 0.5])
def test_second_run_killed_midway_leaves_the_first_pull_exact(
    tmp_path: Path, kill_after_s: float
) -> None:
    """The second run is killed at some point of its start: refused or killed, never harmful."""
    fleet = _slow_fleet()
    out = tmp_path / "out"
    with _slow(fleet) as emu:
        first = start_download(emu.base_url, list(fleet.groups), out, "--concurrency", "1")
        _wait_for_lock(out, first.pid)
        second = start_download(emu.base_url, list(fleet.groups), out, "--concurrency", "8")
        time.sleep(kill_after_s)
        if second.poll() is None:
            second.send_signal(signal.SIGKILL)
        _, err2 = second.communicate(timeout=30)
        assert first.poll() is None  # the second run overlapped the first
        _, err1 = first.communicate(timeout=60)
    assert second.returncode in (2, -signal.SIGKILL), err2
    if second.returncode == 2:
        assert f"pid {first.pid}" in err2
    assert first.returncode == 0, err1
    _assert_pull_exact(fleet, out)


def test_lock_is_released_when_a_run_dies(tmp_path: Path, one_group: Fleet) -> None:
    """A run killed with SIGKILL leaves no stale lock: the next run proceeds."""
    out = tmp_path / "out"
    with EmulatorThread(one_group, chunk_size=1024, chunk_delay_s=0.05) as emu:
        first = start_download(emu.base_url, list(one_group.groups), out)
        _wait_for_lock(out, first.pid)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        code, err = _download(emu, one_group, out)
    assert code == 0, err
    _others_intact(one_group, out, bad="")


# --- 2. Nothing outside OUT, ever -----------------------------------------------------------


def _plant_and_run(
    tmp_path: Path, fleet: Fleet, emu: EmulatorThread, suffix: str, target: Path
) -> Path:
    """Plant OUT/<g>/<job><suffix> -> target, download: that job alone fails, naming the link."""
    out, gid = tmp_path / "out", _gid(fleet)
    job = _downloadable(fleet)[0]
    link = _group_folder(out, gid) / f"{job}{suffix}"
    link.symlink_to(target)
    code, err = _download(emu, fleet, out)
    assert code == 1
    assert f"{link}: is a symbolic link" in err
    assert f"{link}: is a symbolic link" in str(_failed_line(out, job)["error"])
    assert link.is_symlink()  # left for the user to look at
    for other in (out / gid / f"{job}.tar.gz", out / gid / f"{job}.tar.gz.part"):
        assert other == link or not os.path.lexists(other)
    _others_intact(fleet, out, job)
    return link


@pytest.mark.parametrize("suffix", [".tar.gz.part", ".tar.gz"])
def test_link_at_part_or_final_name_to_a_file_outside(
    tmp_path: Path, one_group: Fleet, emu: EmulatorThread, suffix: str
) -> None:
    victim = _victim(tmp_path)
    _plant_and_run(tmp_path, one_group, emu, suffix, victim)
    assert victim.read_bytes() == PRECIOUS


def test_dangling_link_at_part(tmp_path: Path, one_group: Fleet, emu: EmulatorThread) -> None:
    target = tmp_path / "outside-created.tar.gz"
    _plant_and_run(tmp_path, one_group, emu, ".tar.gz.part", target)
    assert not target.exists()


def test_group_folder_as_a_link(tmp_path: Path, one_group: Fleet, emu: EmulatorThread) -> None:
    out, gid = tmp_path / "out", _gid(one_group)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_bytes(PRECIOUS)
    out.mkdir(mode=0o700)
    (out / gid).symlink_to(outside, target_is_directory=True)
    code, err = _download(emu, one_group, out)
    assert code == 1
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert (outside / "keep.txt").read_bytes() == PRECIOUS
    assert f"{out / gid}: is a symbolic link" in err
    for job in _downloadable(one_group):
        _failed_line(out, job)


def test_symlinked_manifest_stops_the_run(
    tmp_path: Path, one_group: Fleet, emu: EmulatorThread
) -> None:
    out = tmp_path / "out"
    victim = _victim(tmp_path)
    out.mkdir(mode=0o700)
    (out / "manifest.jsonl").symlink_to(victim)
    before = emu.state.counters.requests
    code, err = _download(emu, one_group, out)
    assert code == 2
    assert (
        err.splitlines()[0]
        == f"error: {out / 'manifest.jsonl'} is a symbolic link; bulkdl does not follow it"
    )
    assert victim.read_bytes() == PRECIOUS
    assert emu.state.counters.requests == before  # refused before any request
    assert not (out / _gid(one_group)).exists()


@pytest.mark.parametrize("planted", ["symlink", "hard link"])
def test_lock_file_planted_as_a_link_stops_the_run(
    tmp_path: Path, one_group: Fleet, emu: EmulatorThread, planted: str
) -> None:
    """The lock file is written (the holder's name): a link planted at it must not let that
    write land on a file outside OUT."""
    out = tmp_path / "out"
    victim = _victim(tmp_path)
    out.mkdir(mode=0o700)
    lock = out / ".bulkdl.lock"
    if planted == "symlink":
        lock.symlink_to(victim)
    else:
        os.link(victim, lock)
    before = emu.state.counters.requests
    code, err = _download(emu, one_group, out)
    assert code == 2
    assert err.splitlines()[0].startswith(f"error: {lock} is ")
    assert victim.read_bytes() == PRECIOUS
    assert emu.state.counters.requests == before  # refused before any request
    assert not (out / _gid(one_group)).exists()


def test_out_itself_a_link_stops_the_run(
    tmp_path: Path, one_group: Fleet, emu: EmulatorThread
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    out = tmp_path / "out"
    out.symlink_to(real, target_is_directory=True)
    code, err = _download(emu, one_group, out)
    assert code == 2
    assert err.startswith(f"error: output directory {out} is a symbolic link")
    assert list(real.iterdir()) == []


@pytest.mark.parametrize("where", ["staging", "target"])
def test_link_at_extraction_paths(
    tmp_path: Path, one_group: Fleet, emu: EmulatorThread, where: str
) -> None:
    """Today's "internal error: ExceptionGroup" becomes a one-line job failure with its line."""
    out, gid = tmp_path / "out", _gid(one_group)
    job = _downloadable(one_group)[0]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_bytes(PRECIOUS)
    link = _group_folder(out, gid) / (f"{job}.part" if where == "staging" else job)
    link.symlink_to(outside, target_is_directory=True)
    code, err = _download(emu, one_group, out, "--extract")
    assert code == 1
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert (outside / "keep.txt").read_bytes() == PRECIOUS
    assert f"{link}: is a symbolic link" in err
    line = _failed_line(out, job)
    assert f"{link}: is a symbolic link" in str(line["error"])
    for other in _downloadable(one_group)[1:]:
        assert (out / gid / other).is_dir()  # the neighbours were extracted


def test_loose_folder_modes_are_reported(
    tmp_path: Path, one_group: Fleet, emu: EmulatorThread
) -> None:
    out, gid = tmp_path / "out", _gid(one_group)
    (out / gid).mkdir(parents=True)
    out.chmod(0o755)
    (out / gid).chmod(0o750)
    code, err = _download(emu, one_group, out)
    assert code == 0, err
    assert f"{out} is open to other users (mode drwxr-xr-x)" in err
    assert f"{out / gid} is open to other users (mode drwxr-x---)" in err
    _others_intact(one_group, out, bad="")


# --- 7. The manifest never tears -------------------------------------------------------------


def test_torn_last_line_is_repaired_before_appending(
    tmp_path: Path, one_group: Fleet, emu: EmulatorThread
) -> None:
    out = tmp_path / "out"
    assert _download(emu, one_group, out)[0] == 0
    manifest = out / "manifest.jsonl"
    text = manifest.read_bytes()
    last = json.loads(text.splitlines()[-1])
    torn = text[: len(text) - 40]  # a crash mid-write: the last line is cut short
    manifest.write_bytes(torn)

    code, err = _download(emu, one_group, out)
    assert code == 0, err
    assert f"{manifest}: removed a torn last line (" in err
    lines = manifest.read_text().splitlines()
    docs = [json.loads(line) for line in lines]  # every line is whole JSON again
    assert manifest.read_bytes().startswith(torn[: torn.rfind(b"\n") + 1])
    mine = [d for d in docs if d["jobId"] == last["jobId"]]
    assert mine[-1]["outcome"] in {"downloaded", "not_downloadable"}
    verified = run_cli(["verify", str(out)])
    assert verified.exit_code == 0, verified.output


def _limit_file_size() -> None:
    # Every file may grow to 1500 bytes: each archive fits, the manifest does not.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))


def test_full_disk_during_a_manifest_write_fails_that_job_only(tmp_path: Path) -> None:
    fleet = make_fleet(groups=1, jobs_per_group=12, archive_bytes=64)
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        proc = start_download(
            emu.base_url, list(fleet.groups), out, "--concurrency", "1", preexec_fn=_limit_file_size
        )
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert any(line.startswith("done: ") for line in stderr.splitlines())  # summary printed
    data = (out / "manifest.jsonl").read_bytes()
    assert data.endswith(b"\n")
    assert len(data) <= 1500
    recorded = {json.loads(line)["jobId"] for line in data.splitlines()}  # no partial line
    unrecorded = [j.id for j in fleet.groups[_gid(fleet)] if j.id not in recorded]
    assert recorded
    assert unrecorded
    for job in unrecorded:
        assert f"job {job}" in stderr
    assert "cannot write the manifest (File too large)" in stderr


def test_verify_names_archives_without_a_manifest_line(
    tmp_path: Path, one_group: Fleet, emu: EmulatorThread
) -> None:
    out, gid = tmp_path / "out", _gid(one_group)
    assert _download(emu, one_group, out)[0] == 0
    manifest = out / "manifest.jsonl"
    job = _downloadable(one_group)[0]
    kept = [line for line in manifest.read_text().splitlines() if job not in line]
    manifest.write_text("".join(line + "\n" for line in kept))
    stray = out / gid / ("f" * 24 + ".tar.gz")
    stray.write_bytes(b"left by a crash")

    result = run_cli(["verify", str(out), "--json"])
    assert result.exit_code == 1
    bad = {b["path"]: b["problem"] for b in json.loads(result.stdout)["bad"]}
    assert bad == {
        str(out / gid / f"{job}.tar.gz"): UNRECORDED,
        str(stray): UNRECORDED,
    }
    assert f"bad: {stray}: {UNRECORDED}" in result.stderr


def test_verify_does_not_follow_a_linked_archive(
    tmp_path: Path, one_group: Fleet, emu: EmulatorThread
) -> None:
    out, gid = tmp_path / "out", _gid(one_group)
    assert _download(emu, one_group, out)[0] == 0
    job = _downloadable(one_group)[0]
    final = out / gid / f"{job}.tar.gz"
    copy = tmp_path / "copy.tar.gz"
    copy.write_bytes(final.read_bytes())  # identical bytes, but outside OUT
    final.unlink()
    final.symlink_to(copy)
    result = run_cli(["verify", str(out), "--json"])
    assert result.exit_code == 1
    (bad,) = json.loads(result.stdout)["bad"]
    assert bad["problem"] == "cannot open: a symbolic link on the way (not followed)"
    assert os.readlink(final) == str(copy)


def test_a_second_writer_never_truncates_a_live_part(tmp_path: Path) -> None:
    """Below the lock: a second ArchiveFile on the same name creates its own `.part` (the first
    one's is unlinked, never truncated), and the first then refuses to rename what is not its
    own file. Direct, because the lock keeps a second bulkdl process from getting this far."""
    out = OutDir.open(tmp_path / "out")
    first, second = gzip.compress(b"first writer's bytes"), gzip.compress(b"second writer's")
    try:
        a = ArchiveFile(out, "g", "j.tar.gz")
        b = ArchiveFile(out, "g", "j.tar.gz")
        a.writelines([first])
        b.writelines([second])
        with pytest.raises(DiskError, match=r"j\.tar\.gz\.part: replaced by another process"):
            a.finish([], verify=False)
        a.discard()  # must not remove the second writer's `.part`
        written = b.finish([], verify=False)
    finally:
        out.close()
    assert (tmp_path / "out" / "g" / "j.tar.gz").read_bytes() == second
    assert written.sha256 == hashlib.sha256(second).hexdigest()
    assert not (tmp_path / "out" / "g" / "j.tar.gz.part").exists()


def test_out_lock_refuses_a_second_opener_in_process(tmp_path: Path) -> None:
    out = OutDir.open(tmp_path / "out")
    try:
        with pytest.raises(
            ConfigError, match=rf"in use by another bulkdl run \(pid {os.getpid()} "
        ):
            OutDir.open(tmp_path / "out")
    finally:
        out.close()
    OutDir.open(tmp_path / "out").close()  # released by close()


def test_collect_and_demo_take_the_same_lock(
    tmp_path: Path, one_group: Fleet, emu: EmulatorThread
) -> None:
    """Every command that writes into OUT is refused while OUT is held; nothing is created."""
    out = tmp_path / "out"
    held = OutDir.open(out)
    cfg = write_config(tmp_path / "c.toml", base_url=emu.base_url, groups=list(one_group.groups))
    collect = ["collect", "--config", str(cfg), "--resource-type", "replicaset"]
    collect += ["--resource-name", "rs0", "--log-types", "MONGODB", "--out", str(out)]
    try:
        for args in (collect, ["demo", "--out", str(out)]):
            result = run_cli(args)
            assert result.exit_code == 2, result.output
            assert f"is in use by another bulkdl run (pid {os.getpid()} on " in result.stderr
    finally:
        held.close()
    assert emu.state.counters.requests == 0  # refused before any request
    assert sorted(p.name for p in out.iterdir()) == [".bulkdl.lock"]
