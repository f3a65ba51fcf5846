"""A resume's 206 whose Content-Range does not hold is refused, naming the defect, and the
download starts over from byte 0 (through the CLI, against the emulator's lying-range fault)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkdl.emulator import EmulatorThread, parse_fault_specs
from tests.conftest import make_fleet, read_manifest, run_cli, served_archive


@pytest.mark.parametrize(
    ("how", "named"),
    [
        ("start", "starts at byte 20001, not at byte 20000 as asked"),
        ("backwards", "ends (byte 19999) before it starts (byte 20000)"),
        ("past-end", "is past the archive's"),
        ("length", "but Content-Length says"),
    ],
)
def test_a_lying_content_range_is_refused_and_the_archive_fetched_whole(
    tmp_path: Path, how: str, named: str
) -> None:
    fleet = make_fleet(groups=1, jobs_per_group=1, archive_bytes=64 * 1024)
    (gid,) = fleet.groups
    (job,) = fleet.groups[gid]
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        emu.state.add_download_faults(job.id, parse_fault_specs(f"reset:20000,lying-range:{how}"))
        result = run_cli(
            ["download", "--base-url", emu.base_url, "--group", gid, "--out", str(out)]
        )
        assert emu.state.counters.downloads_by_job[job.id] == 3  # cut, lied, then whole
    assert result.exit_code == 0, result.output
    assert "resume answered with Content-Range" in result.stderr
    assert named in result.stderr
    assert (out / gid / f"{job.id}.tar.gz").read_bytes() == served_archive(fleet, gid, job.id)
    (line,) = read_manifest(out)
    assert line["outcome"] == "downloaded"
    assert line["attempts"] == 3
