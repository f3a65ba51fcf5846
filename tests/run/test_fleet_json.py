"""The fleet commands' --json, as a script reads it (issue 21, point 10): a failed change is in
`failures` (not only in `actions`), every manifest line carries the run id the JSON names, and
a retried change counts its attempts. Through the CLI against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

from bulkdl.emulator import Always, EmulatorThread, ServerFault
from tests.conftest import make_fleet, read_manifest, run_cli, write_config


def test_delete_json_names_each_failure_and_run_and_attempts(tmp_path: Path) -> None:
    fleet = make_fleet(groups=1, jobs_per_group=3)
    (gid,) = fleet.groups
    broken, flaky, fine = (j.id for j in fleet.groups[gid])
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        emu.state.add_change_faults(broken, [Always(ServerFault(500))])
        emu.state.add_change_faults(flaky, [ServerFault(503)])
        cfg = write_config(
            tmp_path / "c.toml", base_url=emu.base_url, retries=2, retry_backoff_s=0.01
        )
        result = run_cli(
            ["delete", "--config", str(cfg), "--group", gid, "--yes", "--json", "--out", str(out)]
        )
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert len(doc["failures"]) == 1
    assert broken in doc["failures"][0]
    assert "500" in doc["failures"][0]
    by_job = {a["jobId"]: a for a in doc["actions"]}
    assert by_job[broken]["attempts"] == 3  # retries = 2
    assert by_job[flaky]["attempts"] == 2
    assert by_job[fine]["attempts"] == 1
    lines = {line["jobId"]: line for line in read_manifest(out)}
    assert set(lines) == {flaky, fine}
    assert doc["runId"]
    assert {line["runId"] for line in lines.values()} == {doc["runId"]}
    assert lines[flaky]["attempts"] == 2
    assert lines[fine]["attempts"] == 1


def test_retry_json_lists_a_failed_retry(tmp_path: Path) -> None:
    fleet = make_fleet(groups=1, jobs_per_group=5)
    (gid,) = fleet.groups
    (failed,) = [j.id for j in fleet.groups[gid] if j.status == "FAILURE"]
    with EmulatorThread(fleet) as emu:
        emu.state.add_change_faults(failed, [Always(ServerFault(502))])
        cfg = write_config(tmp_path / "c.toml", base_url=emu.base_url, retries=0)
        result = run_cli(["retry", "--config", str(cfg), "--group", gid, "--json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert [failed in line for line in doc["failures"]] == [True]
