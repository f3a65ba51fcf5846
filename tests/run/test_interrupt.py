"""Ctrl-C and SIGTERM: exit 130 quickly, no .part left, finished archives kept, rerun completes."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from bulkdl.emulator import EmulatorThread
from tests.conftest import make_fleet, read_manifest, served_archive, start_download, wait_for

DOWNLOADABLE = {"SUCCESS", "FAILURE", "MARKED_FOR_EXPIRY"}


def _start(emu: EmulatorThread, groups: list[str], out: Path) -> subprocess.Popen[str]:
    return start_download(emu.base_url, groups, out, "--concurrency", "4")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_download(tmp_path: Path, sig: signal.Signals) -> None:
    """Stop while archives stream; then a rerun finishes the rest without redoing finished ones."""
    fleet = make_fleet(groups=2, jobs_per_group=6, archive_bytes=256 * 1024)
    groups = list(fleet.groups)
    out = tmp_path / "out"
    with EmulatorThread(fleet, chunk_size=16 * 1024, chunk_delay_s=0.02) as emu:
        proc = _start(emu, groups, out)
        wait_for(lambda: emu.state.counters.downloads_completed >= 2, "two whole archives")
        assert emu.state.counters.in_flight > 0, "the signal must land mid-download"
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=10)
        assert proc.returncode == 130, stderr
        # It stopped instead of finishing: archives were left for the rerun.
        downloadable = [j for g in groups for j in fleet.groups[g] if j.status in DOWNLOADABLE]
        assert emu.state.counters.downloads_completed < len(downloadable)
        assert "Traceback" not in stderr
        assert "interrupted" in stderr

        assert not list(out.rglob("*.part"))
        finished = {line["jobId"] for line in read_manifest(out) if line["outcome"] == "downloaded"}
        for gid in groups:
            for path in (out / gid).glob("*.tar.gz"):
                assert path.read_bytes() == served_archive(fleet, gid, path.name[:24])
                assert path.name[:24] in finished
        # The closing line counts what is left and names where the rest will go (issue 22).
        assert f"; {8 - len(finished)} archives left" in stderr
        assert f"(manifest {out.absolute() / 'manifest.jsonl'})" in stderr
        done_before = emu.state.counters.downloads_completed

        rerun = _start(emu, groups, out)
        _, stderr = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, stderr
        started_again = sum(emu.state.counters.downloads_by_job.get(j, 0) > 1 for j in finished)
        assert started_again == 0, "archives finished before the signal are not downloaded again"
        assert emu.state.counters.downloads_completed - done_before == 8 - len(finished)
    assert len(list(out.rglob("*.tar.gz"))) == 8
