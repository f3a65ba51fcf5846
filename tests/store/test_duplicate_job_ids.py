"""Job ids repeat across groups (MongoDB's own client fixtures do): the manifest is read keyed by
(groupId, jobId) everywhere, so verify, reruns and skips hold for both (issue 21, point 12).
Through the CLI against the emulator's `duplicate-job-ids` scenario."""

from __future__ import annotations

import json
from pathlib import Path

from bulkdl.emulator import EmulatorThread
from bulkdl.emulator.scenarios import apply_scenarios
from tests.conftest import make_fleet, read_manifest, run_cli, served_archive


def test_same_job_id_in_two_groups(tmp_path: Path) -> None:
    fleet = make_fleet(groups=2, jobs_per_group=2)
    apply_scenarios(fleet, "duplicate-job-ids")
    first, second = fleet.groups
    shared = [j.id for j in fleet.groups[first]]
    assert shared == [j.id for j in fleet.groups[second]]
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        args = ["download", "--base-url", emu.base_url, "--all-groups", "--out", str(out)]
        pulled = run_cli([*args, "--json"])
        verified = run_cli(["verify", str(out), "--json"])
        again = run_cli([*args, "--json"])
        downloads = emu.state.counters.downloads_by_job
    assert pulled.exit_code == 0, pulled.output
    assert json.loads(pulled.stdout)["downloaded"] == 4
    for gid in (first, second):
        for jid in shared:
            assert (out / gid / f"{jid}.tar.gz").read_bytes() == served_archive(fleet, gid, jid)
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout) == {"checked": 4, "bad": [], "failures": [], "exitCode": 0}
    # The rerun skips all four: neither group's line stands for the other's.
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert (summary["downloaded"], summary["skipped"]) == (0, 4)
    assert sum(downloads.values()) == 4
    skipped = [line for line in read_manifest(out) if line["outcome"] == "skipped"]
    assert sorted((line["groupId"], line["jobId"]) for line in skipped) == sorted(
        (g, j) for g in (first, second) for j in shared
    )
