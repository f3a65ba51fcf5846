"""A write error (here: a file-size limit, as a full disk would) fails that job alone."""

from __future__ import annotations

import resource
import signal
from pathlib import Path

from bulkdl.emulator import EmulatorThread
from tests.conftest import make_fleet, read_manifest, served_archive, start_download


def _limit_file_size() -> None:
    # Writes past 40 KiB fail with EFBIG instead of killing the process (SIGXFSZ ignored).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (40 * 1024, 40 * 1024))


def test_write_error_fails_that_job_only(tmp_path: Path) -> None:
    fleet = make_fleet(groups=1, jobs_per_group=6, archive_bytes=48 * 1024)
    gid = next(iter(fleet.groups))
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        proc = start_download(
            emu.base_url,
            [gid],
            out,
            preexec_fn=_limit_file_size,  # the test process is single-threaded here
        )
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    lines = {line["jobId"]: line for line in read_manifest(out)}
    big = [
        j
        for j in fleet.groups[gid]
        if j.status in {"SUCCESS", "FAILURE", "MARKED_FOR_EXPIRY"}
        and len(served_archive(fleet, gid, j.id)) > 40 * 1024
    ]
    small = [
        j
        for j in fleet.groups[gid]
        if j.status in {"SUCCESS", "FAILURE", "MARKED_FOR_EXPIRY"}
        and len(served_archive(fleet, gid, j.id)) <= 40 * 1024
    ]
    assert big, "the fleet must have archives over the limit"
    assert small, "and archives under it"
    for job in big:
        assert lines[job.id]["outcome"] == "failed"
        assert "write failed (File too large)" in lines[job.id]["error"]
        assert f"{job.id}.tar.gz.part" in lines[job.id]["error"]
        assert lines[job.id]["attempts"] == 1  # a disk error is not retried
        assert not (out / gid / f"{job.id}.tar.gz").exists()
        assert f"job {job.id}" in stderr
    for job in small:
        assert (out / gid / f"{job.id}.tar.gz").read_bytes() == served_archive(fleet, gid, job.id)
    assert not list(out.rglob("*.part"))
