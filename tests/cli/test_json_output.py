"""JSON a runbook can use: the summary, the manifest lines and exit-2 errors, checked against the
documented shapes in bulkdl.report.schema; the resume command on exit 1."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from bulkdl.emulator import EmulatorThread, Fleet
from bulkdl.report.schema import ErrorDoc, ManifestLine, SummaryDoc, problems
from tests.conftest import COLLECT, PRIVATE_KEY, PUBLIC_KEY, read_manifest, run_cli

MISSING_GROUP = "5f00000000000000000000ff"


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BULKDL_PUBLIC_KEY=PUBLIC_KEY, BULKDL_PRIVATE_KEY=PRIVATE_KEY)
    return subprocess.run(
        [sys.executable, "-m", "bulkdl", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_summary_and_manifest_follow_the_schema(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """A run with a missing group: exit 1, failures as objects with the API's errorCode, one
    runId in summary and manifest, manifest paths relative to OUT, and the resume command."""
    gid = next(iter(fleet.groups))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    args = [
        "download",
        "--base-url",
        emulator.base_url,
        "--group",
        gid,
        "--group",
        MISSING_GROUP,
        "--out",
        "../out",  # relative to the cwd: the manifest must not depend on it
        "--json",
    ]
    result = _run(args, cwd=elsewhere)
    assert result.returncode == 1, result.stderr

    summary = json.loads(result.stdout)
    assert problems(summary, SummaryDoc) == []
    assert summary["failures"] == [
        {
            "groupId": MISSING_GROUP,
            "jobId": None,
            "error": summary["failures"][0]["error"],
            "errorCode": "GROUP_NOT_FOUND",
        }
    ]
    assert MISSING_GROUP in summary["failures"][0]["error"]
    assert summary["downloaded"] == 4
    assert summary["exitCode"] == 1
    assert Path(elsewhere, summary["manifest"]).resolve() == (out / "manifest.jsonl").resolve()

    lines = read_manifest(out)
    for line in lines:
        assert problems(line, ManifestLine) == [], line
    assert {line["runId"] for line in lines} == {summary["runId"]}
    downloaded = [line for line in lines if line["outcome"] == "downloaded"]
    assert len(downloaded) == 4
    for line in downloaded:
        assert line["path"] == f"{gid}/{line['jobId']}.tar.gz"
        assert (out / line["path"]).is_file()

    resume = [x for x in result.stderr.splitlines() if x.startswith("to resume: ")]
    assert resume == ["to resume: " + shlex.join(["bulkdl", *args])]

    # The same command from another folder: the archives are skipped, the paths read the same.
    again = _run([*args[:-3], "--out", str(out), "--json"], cwd=tmp_path)
    second = json.loads(again.stdout)
    assert second["skipped"] == 4
    assert second["runId"] != summary["runId"]
    later = [x for x in read_manifest(out) if x["runId"] == second["runId"]]
    assert {x["path"] for x in later if x["outcome"] == "skipped"} == {
        x["path"] for x in downloaded
    }


def test_collect_json_lists_the_created_jobs(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    out = str(tmp_path / "out")
    result = run_cli([*COLLECT, "--base-url", emulator.base_url, "--out", out, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert problems(summary, SummaryDoc) == []
    created = summary["createdJobs"]
    assert sorted(c["groupId"] for c in created) == sorted(fleet.groups)
    for c in created:
        assert c["jobId"] in {j.id for j in fleet.groups[c["groupId"]]}, "the emulator has it"


def test_exit_2_under_json_is_a_json_object_on_stdout(tmp_path: Path) -> None:
    result = run_cli(
        ["download", "--base-url", "cloud.mongodb.com", "--group", "5f" * 12, "--json"],
    )
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert problems(doc, ErrorDoc) == []
    assert doc["exitCode"] == 2
    assert "cloud.mongodb.com" in doc["error"]
    assert doc["hint"] == "give the scheme too, e.g. https://cloud.mongodb.com"
    assert result.stderr.splitlines()[0].startswith("error: ")
    plain = run_cli(["download", "--base-url", "cloud.mongodb.com", "--group", "5f" * 12])
    assert plain.exit_code == 2
    assert plain.stdout == "", "without --json stdout stays empty"


def test_schema_check_can_fail() -> None:
    """The checker itself: a missing key, a wrong type and an undocumented key are reported."""
    found = problems({"error": 1, "exitCode": 2, "extra": True}, ErrorDoc)
    assert found == ["$: missing 'hint'", "$: undocumented 'extra'", "$.error: expected str, got 1"]
