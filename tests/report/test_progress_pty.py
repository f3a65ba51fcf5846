"""The live display, as a terminal shows it: bulkdl runs under a pseudo-terminal against the
emulator, and the screen's text is read back (control codes stripped)."""

from __future__ import annotations

import re
from pathlib import Path

from bulkdl.emulator import EmulatorThread, parse_fault_specs
from tests.conftest import make_fleet, read_manifest, run_cli
from tests.terminal import run_in_pty


def test_live_display_shows_planned_total_elapsed_and_stall(tmp_path: Path) -> None:
    """Every planned archive is in the total before the first one finishes; elapsed time shows;
    a download that stops sending says "stalled N s" instead of a rate; bars carry the group's
    full id (no name without discovery) and the job id."""
    fleet = make_fleet(groups=2, jobs_per_group=6, archive_bytes=256 * 1024)
    groups = list(fleet.groups)
    stalled_job = next(j for j in fleet.groups[groups[0]] if j.status == "SUCCESS")
    with EmulatorThread(fleet, chunk_size=16 * 1024, chunk_delay_s=0.01) as emu:
        emu.state.add_download_faults(stalled_job.id, parse_fault_specs("stall:40000:5"))
        args = ["download", "--base-url", emu.base_url, "--out", str(tmp_path / "out")]
        for gid in groups:
            args += ["--group", gid]
        status, screen = run_in_pty([*args, "--concurrency", "2", "--stall-timeout", "30"])
        completed = emu.state.counters.downloads_completed
    assert status == 0, screen[-3000:]
    assert completed == 8
    first_done = screen.index("downloaded ")
    assert "0/8 archives" in screen[:first_done], "the planned total is there from the start"
    assert re.search(r"elapsed \d+\.\d s", screen)
    assert re.search(r"stalled [2-9] s", screen), "a silent download says it is stalled"
    assert f"{groups[0]} {stalled_job.id}" in screen, "bars name the group by its full id"
    assert "MB/s" not in screen, "binary units, as in the summary"
    assert "MiB" in screen
    assert "done: 8 downloaded" in screen


def test_live_display_names_groups_and_counts_retries(tmp_path: Path) -> None:
    """With discovery the bars carry group names; a 503 turns a bar into 'retry 2/6 in N s'."""
    fleet = make_fleet(groups=2, jobs_per_group=2, archive_bytes=128 * 1024)
    names = [fleet.info(gid).name for gid in fleet.groups]
    with EmulatorThread(fleet, chunk_size=16 * 1024, chunk_delay_s=0.01) as emu:
        for jobs in fleet.groups.values():
            for job in jobs:
                emu.state.add_download_faults(job.id, parse_fault_specs("429:retry-after=3"))
        args = ["download", "--base-url", emu.base_url, "--out", str(tmp_path / "out")]
        status, screen = run_in_pty([*args, "--all-groups"])
    assert status == 0, screen[-3000:]
    assert re.search(r"retry 2/6 in [1-3] s", screen), screen[-3000:]
    for gid, name in zip(fleet.groups, names, strict=True):
        assert f"group {name} ({gid})" in screen, "listing lines name the group"
        assert re.search(rf"{re.escape(name)} [0-9a-f]{{24}} ", screen), "so do the bars"


def test_not_downloadable_jobs_are_one_line_per_group(tmp_path: Path) -> None:
    """Plain mode: each group's line counts its not-downloadable jobs by status; --verbose also
    names each job; the manifest always has a line for each."""
    fleet = make_fleet(groups=3, jobs_per_group=6)
    with EmulatorThread(fleet) as emu:
        base = ["download", "--base-url", emu.base_url, "--all-groups"]
        quiet = run_cli([*base, "--out", str(tmp_path / "a")])
        verbose = run_cli([*base, "--out", str(tmp_path / "b"), "--verbose"])
    assert quiet.exit_code == 0, quiet.output
    for gid in fleet.groups:
        name = fleet.info(gid).name
        line = f"group {name} ({gid}): 6 jobs listed, 4 to download; "
        assert f"{line}not downloadable: 1 EXPIRED, 1 IN_PROGRESS" in quiet.stderr.splitlines()
    assert "not downloadable: group" not in quiet.stderr
    assert verbose.stderr.count("not downloadable: group") == 6
    skipped = [x for x in read_manifest(tmp_path / "a") if x["outcome"] == "not_downloadable"]
    assert len(skipped) == 6
