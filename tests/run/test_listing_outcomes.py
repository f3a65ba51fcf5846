"""The jobs a listing settles at once (those the API will not serve) are recorded together:
their manifest lines go out in one write, all of them or none. Through the CLI, against the
emulator over loopback."""

from __future__ import annotations

import json
import resource
import signal
from pathlib import Path

from bulkdl.emulator import EmulatorThread, Fleet
from bulkdl.emulator.fleet import add_group
from bulkdl.report.schema import ManifestLine, problems
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, read_manifest, start_download

STATUSES = ("IN_PROGRESS", "EXPIRED")
REASONS = {
    "IN_PROGRESS": "the job is still collecting logs (IN_PROGRESS)",
    "EXPIRED": "the job has expired and its logs were deleted (EXPIRED)",
}


def _unservable_fleet(groups: int, jobs: int) -> Fleet:
    fleet = Fleet()
    for _ in range(groups):
        add_group(fleet, n_jobs=jobs, statuses=STATUSES)
    fleet.keys = {PUBLIC_KEY: PRIVATE_KEY}
    return fleet


def test_unservable_jobs_get_one_line_each_timed_by_their_listing(tmp_path: Path) -> None:
    fleet = _unservable_fleet(groups=2, jobs=30)
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        proc = start_download(emu.base_url, list(fleet.groups), out, "--json")
        stdout, stderr = proc.communicate(timeout=60)
        downloads = emu.state.counters.downloads_started
    assert proc.returncode == 0, stderr
    assert downloads == 0
    summary = json.loads(stdout)
    assert (summary["notDownloadable"], summary["failed"]) == (60, 0)
    lines = read_manifest(out)
    assert sorted((d["groupId"], d["jobId"]) for d in lines) == sorted(
        (g, j.id) for g, jobs in fleet.groups.items() for j in jobs
    )
    statuses = {j.id: j.status for jobs in fleet.groups.values() for j in jobs}
    for doc in lines:
        assert problems(doc, ManifestLine) == []
        assert doc["outcome"] == "not_downloadable"
        assert doc["status"] == statuses[doc["jobId"]]
        assert doc["error"] == REASONS[doc["status"]]
        assert doc["startedAt"] == doc["finishedAt"]
    for group in fleet.groups:  # one time per group: when its listing said so
        assert len({d["startedAt"] for d in lines if d["groupId"] == group}) == 1


def _limit_file_size() -> None:
    # 1500 bytes: four or five manifest lines, never a group's thirty.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))


def test_a_full_disk_fails_all_of_a_listings_lines_and_leaves_none(tmp_path: Path) -> None:
    fleet = _unservable_fleet(groups=1, jobs=30)
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        proc = start_download(emu.base_url, list(fleet.groups), out, preexec_fn=_limit_file_size)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert (out / "manifest.jsonl").read_bytes() == b""  # all or none: not a partial batch
    assert "cannot write the manifest (File too large)" in stderr
    for job in next(iter(fleet.groups.values())):
        assert f"job {job.id}: not_downloadable, but " in stderr
    assert "0 not downloadable, 30 failed" in stderr
