"""The live display at the edges (issue 22 point 10): at 60 columns every redrawn line fits (no
wrap, so no scrolling on each refresh); at 200 the bars carry group and job. Retries of an
archive show in its bar; a line per job comes only when it finally fails."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bulkdl.emulator import EmulatorThread, parse_fault_specs
from tests.conftest import make_fleet
from tests.terminal import drawn_lines, run_in_pty


@pytest.mark.parametrize("columns", [60, 200])
def test_live_display_fits_and_shows_retries_in_bars(tmp_path: Path, columns: int) -> None:
    fleet = make_fleet(groups=2, jobs_per_group=4, archive_bytes=128 * 1024)
    jobs = [j for js in fleet.groups.values() for j in js if j.status == "SUCCESS"]
    doomed, *flaky = jobs
    with EmulatorThread(fleet, chunk_size=16 * 1024, chunk_delay_s=0.01) as emu:
        for job in flaky:
            emu.state.add_download_faults(job.id, parse_fault_specs("429:retry-after=2"))
        emu.state.add_download_faults(doomed.id, parse_fault_specs("always:503:retry-after=0"))
        args = ["download", "--base-url", emu.base_url, "--out", str(tmp_path / "out")]
        for gid in fleet.groups:
            args += ["--group", gid]
        status, raw = run_in_pty(args, columns=columns, raw=True)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    assert status == 1, screen[-3000:]
    assert re.search(r"retry 2/6 in [0-3] s", screen), screen[-3000:]
    assert "retrying" not in screen, "an archive's retries show in its bar, not as lines"
    error_lines = [ln for ln in screen.splitlines() if ln.startswith("error: ")]
    assert len(error_lines) == 1, error_lines
    assert doomed.id in error_lines[0]
    outcome = ("downloaded ", "error: ", "done: ", "to resume", "group ", "interrupted")
    live = [p.rstrip() for p in drawn_lines(raw) if not p.startswith(outcome)]
    assert any(" archives, " in p for p in live), screen[-2000:]
    assert any(re.search(r"retry \d/6 in", p) for p in live)
    assert max(len(p) for p in live) <= columns, max(live, key=len)
    if columns == 200:
        gid = next(iter(fleet.groups))
        assert any(f"{gid} " in p for p in live), "wide bars name the group too"
