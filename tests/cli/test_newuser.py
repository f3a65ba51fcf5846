"""Issue 22, the SRE coming from mongocli: outputs that tell the whole truth (every -o works or
is refused, counts that agree, exitCode and absolute paths in JSON), `~` in path flags."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from bulkdl.emulator import EmulatorThread, Fleet
from bulkdl.report.schema import ManifestLine
from tests.conftest import COLLECT, read_manifest, run_cli

MISSING_GROUP = "5f00000000000000000000ff"


def _base(emulator: EmulatorThread, fleet: Fleet) -> list[str]:
    return ["--base-url", emulator.base_url, *(a for g in fleet.groups for a in ("--group", g))]


def test_download_csv_is_one_row_per_job_in_the_manifests_columns(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    out = tmp_path / "out"
    result = run_cli(["download", *_base(emulator, fleet), "--out", str(out), "-o", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == tuple(ManifestLine.__annotations__)
    manifest = read_manifest(out)
    assert sorted(r["jobId"] for r in rows) == sorted(line["jobId"] for line in manifest)
    by_job = {r["jobId"]: r for r in rows}
    for line in manifest:
        assert by_job[line["jobId"]]["outcome"] == line["outcome"]
        assert by_job[line["jobId"]]["sha256"] == (line["sha256"] or "")


def test_collect_and_download_csv_one_row_per_created_job(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """A job created and then downloaded is one row: its last outcome."""
    out = tmp_path / "out"
    args = [*COLLECT, "--base-url", emulator.base_url, "--download", "--out", str(out)]
    result = run_cli([*args, "-o", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(fleet.groups)
    assert {r["outcome"] for r in rows} == {"downloaded"}


@pytest.mark.parametrize(
    ("command", "expect"),
    [
        (["verify"], 0),
        (["groups"], 0),
        (["list"], 0),
        (["extend", "--days", "3", "--dry-run"], 1),  # the demo jobs are years old
        (["retry", "--dry-run"], 0),
        (["delete", "--dry-run"], 0),
    ],
)
def test_o_json_wherever_json_is(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread, command: list[str], expect: int
) -> None:
    """`-o json` prints what `--json` prints; the fleet commands' JSON carries exitCode."""
    if command == ["verify"]:
        assert run_cli(["download", *_base(emulator, fleet), "--out", str(tmp_path)]).exit_code == 0
        args = ["verify", str(tmp_path)]
    elif command == ["groups"]:
        args = ["groups", "--base-url", emulator.base_url]
    else:
        args = [*command, *_base(emulator, fleet)]
    by_o = run_cli([*args, "-o", "json"])
    by_flag = run_cli([*args, "--json"])
    assert by_o.exit_code == by_flag.exit_code == expect, by_o.output
    doc = json.loads(by_o.stdout)
    assert type(doc) is type(json.loads(by_flag.stdout))
    if isinstance(doc, dict):
        assert doc["exitCode"] == expect


def test_emulate_refuses_csv_with_exit_2() -> None:
    result = run_cli(["emulate", "--port", "0", "-o", "csv"])
    assert result.exit_code == 2
    assert "emulate offers -o table|json" in result.stderr


def test_fleet_counts_agree_with_failure_lines(fleet: Fleet, emulator: EmulatorThread) -> None:
    """A group that cannot be listed is a failure the count includes, and JSON says exit 1."""
    gid = next(iter(fleet.groups))
    base = ["--base-url", emulator.base_url, "--group", gid, "--group", MISSING_GROUP]
    for command in (["retry"], ["extend", "--days", "2"], ["delete", "--yes"]):
        result = run_cli([*command, *base, "--dry-run", "--json"])
        assert result.exit_code == 1, result.output
        lines = result.stderr.splitlines()
        assert len([ln for ln in lines if ln.startswith("failed:")]) == 1
        errors = len([ln for ln in lines if ln.startswith(("failed:", "error:"))])
        assert lines[-1].startswith(f"{command[0]}: ")
        assert lines[-1].endswith(f", {errors} failed")
        assert json.loads(result.stdout)["exitCode"] == 1


def test_closing_line_names_folder_and_manifest_and_outdir_is_absolute(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli(["download", *_base(emulator, fleet), "--out", "x", "--json"])
    assert result.exit_code == 0, result.output
    folder = (tmp_path / "x").absolute()
    assert result.stderr.splitlines()[-1].endswith(
        f"; in {folder} (manifest {folder / 'manifest.jsonl'})"
    )
    doc = json.loads(result.stdout)
    assert doc["outDir"] == str(folder)
    assert doc["manifest"] == str(folder / "manifest.jsonl")
    assert doc["left"] == 0


def test_list_json_and_csv_name_the_job_jobid(fleet: Fleet, emulator: EmulatorThread) -> None:
    listed = run_cli(["list", *_base(emulator, fleet), "-o", "json"])
    ids = {j.id for jobs in fleet.groups.values() for j in jobs}
    assert {doc["jobId"] for doc in json.loads(listed.stdout)} == ids
    rows = csv.DictReader(
        io.StringIO(run_cli(["list", *_base(emulator, fleet), "-o", "csv"]).stdout)
    )
    assert {r["jobId"] for r in rows} == ids


@pytest.mark.parametrize("form", [["--out", "~/pulls/x"], ["--out=~/pulls/x"]])
def test_tilde_in_out_is_home(
    tmp_path: Path,
    fleet: Fleet,
    emulator: EmulatorThread,
    monkeypatch: pytest.MonkeyPatch,
    form: list[str],
) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    result = run_cli(["download", *_base(emulator, fleet), *form], env={"HOME": str(home)})
    assert result.exit_code == 0, result.output
    assert (home / "pulls" / "x" / "manifest.jsonl").is_file()
    assert not (cwd / "~").exists()
    verified = run_cli(["verify", "~/pulls/x"], env={"HOME": str(home)})
    assert verified.exit_code == 0, verified.output


def test_window_hh_mm_is_today_utc_and_is_shown_everywhere(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """`--from 00:00 --to now`: resolved to UTC, printed on the dry run and the real run, in the
    JSON and on the manifest's created lines, and sent as such."""
    from datetime import UTC, datetime

    today = datetime.now(UTC).strftime("%Y-%m-%d")
    out = tmp_path / "out"
    args = [*COLLECT, "--base-url", emulator.base_url, "--from", "00:00", "--to", "now"]
    start = f"{today}T00:00:00Z"
    dry = run_cli([*args, "--dry-run", "--out", str(out)])
    assert dry.exit_code == 0, dry.output
    assert f"window: {start} to " in dry.stderr
    assert "(UTC)" in dry.stderr
    dry_json = run_cli([*args, "--dry-run", "--json", "--out", str(out)])
    assert json.loads(dry_json.stdout)["window"]["logCollectionFromDate"] == start
    real = run_cli([*args, "--out", str(out), "--json"])
    assert real.exit_code == 0, real.output
    assert f"window: {start} to " in real.stderr
    assert json.loads(real.stdout)["window"]["logCollectionFromDate"] == start
    created = [line for line in read_manifest(out) if line["outcome"] == "created"]
    assert len(created) == len(fleet.groups)
    assert {line["logCollectionFromDate"] for line in created} == {start}


@pytest.mark.parametrize(
    ("raw", "expect"),
    [
        ("2026-12-02T02:10", "2026-12-02T02:10:00+00:00"),  # no offset: UTC
        ("2026-12-02T02:10Z", "2026-12-02T02:10:00+00:00"),
        ("2026-12-02T03:10+01:00", "2026-12-02T02:10:00+00:00"),
        ("02:10", "2026-12-03T02:10:00+00:00"),  # today (NOW's day), UTC
        ("90m ago", "2026-12-03T10:30:00+00:00"),
        ("2h", "2026-12-03T10:00:00+00:00"),
    ],
)
def test_one_instant_parser(raw: str, expect: str) -> None:
    from datetime import UTC, datetime

    from bulkdl.domain.timewindow import parse_instant

    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert parse_instant(raw, now, "--from").isoformat() == expect


def test_since_reads_hh_mm_through_the_cli(fleet: Fleet, emulator: EmulatorThread) -> None:
    """The same parser behind list --since: `00:00` is accepted (main refused it)."""
    result = run_cli(["list", *_base(emulator, fleet), "--since", "00:00", "-o", "json"])
    assert result.exit_code == 0, result.output


COMMANDS = ["groups", "list", "collect", "extend", "retry", "delete", "download", "verify"]


@pytest.mark.parametrize("command", [*COMMANDS, "emulate", "demo"])
def test_help_has_examples_and_dir(command: str) -> None:
    shown = run_cli([command, "--help"], env={"COLUMNS": "100"})
    assert shown.exit_code == 0
    examples = shown.stdout.split("Examples:\n", 1)[1].lstrip()
    assert examples.startswith((f"bulkdl {command}", "# "))
    assert "<path>" not in shown.stdout
    assert "PATH" not in shown.stdout
    for line in shown.stdout.splitlines():
        if line.lstrip().startswith("--out"):
            assert line.lstrip().startswith("--out DIR"), line


def test_help_shows_defaults_the_collect_one_liner_and_full_summaries() -> None:
    top = run_cli(["--help"], env={"COLUMNS": "80"}).stdout
    commands = top.split("Commands:\n", 1)[1]
    assert "..." not in commands
    assert "collect   Create a log-collection job per group; wait, download." in commands
    download = " ".join(run_cli(["download", "--help"]).stdout.split())
    assert "[default: 8, or concurrency in the config]" in download
    assert "[default: 60.0, or stall_timeout_s in the config]" in download
    collect = run_cli(["collect", "--help"]).stdout
    assert "--from 2h --to now --download --out ~/incident-42" in collect
    assert "MCLI_PROFILE" in collect


@pytest.mark.parametrize(
    ("words", "expect"),
    [
        ("bulkdl list --status SUCCESS,F", ["SUCCESS,FAILURE"]),
        ("bulkdl collect --resource-type r", ["replicaset"]),
        ("bulkdl collect --log-types MONGODB,F", ["MONGODB,FTDC"]),
    ],
)
def test_values_complete(words: str, expect: list[str]) -> None:
    import os
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "bulkdl"
    env = dict(os.environ, _BULKDL_COMPLETE="complete_bash", COMP_WORDS=words)
    env["COMP_CWORD"] = str(len(words.split()) - 1)
    done = subprocess.run([str(exe)], env=env, capture_output=True, text=True, check=False)
    assert done.stdout.split() == expect, done.stderr


def test_collect_extract_and_created_here_act_on_exactly_this_outs_jobs(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """collect --extract unpacks what it created; download/extend/retry/delete --created-here
    select exactly the jobs OUT's manifest says collect created (not the fleet's older ones)."""
    out = tmp_path / "incident"
    base = ["--base-url", emulator.base_url]
    made = run_cli([*COLLECT, *base, "--extract", "--out", str(out), "--json"])
    assert made.exit_code == 0, made.output
    created = {j["jobId"] for j in json.loads(made.stdout)["createdJobs"]}
    assert len(created) == len(fleet.groups)
    extracted = {line["jobId"] for line in read_manifest(out) if line.get("extractedPath")}
    assert extracted == created
    for line in read_manifest(out):
        if line.get("extractedPath"):
            assert (out / line["extractedPath"]).is_dir()

    again = run_cli(
        ["download", *base, "--all-groups", "--out", str(out), "--created-here", "-o", "csv"]
    )
    assert again.exit_code == 0, again.output
    rows = list(csv.DictReader(io.StringIO(again.stdout)))
    assert {r["jobId"] for r in rows} == created
    assert {r["outcome"] for r in rows} == {"skipped"}
    for command in (["extend", "--days", "2"], ["retry"], ["delete"]):
        args = [*command, *base, "--all-groups", "--out", str(out), "--created-here"]
        shown = run_cli([*args, "--dry-run", "-o", "json"])
        acted = {a["jobId"] for a in json.loads(shown.stdout)["actions"]}
        # retry names each of them too, refused (only FAILURE jobs are retried)
        assert acted == created, (command, shown.output)


def test_created_here_without_a_manifest_is_exit_2(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    args = ["download", "--base-url", emulator.base_url, "--all-groups", "--out", str(tmp_path)]
    result = run_cli([*args, "--created-here"])
    assert result.exit_code == 2
    assert "--created-here: cannot read" in result.stderr
    assert emulator.state.counters.requests_by_kind.get("jobs", 0) == 0


def test_hints_name_the_failing_part(tmp_path: Path, emulator: EmulatorThread) -> None:
    """A wrong path in base_url, a mistyped scheme, a missing config file: each hint names it."""
    wrong_path = run_cli(["list", "--base-url", emulator.base_url + "/wrong", "--all-groups"])
    assert wrong_path.exit_code == 2, wrong_path.output
    assert "check the path in base_url" in wrong_path.stderr
    assert "(base_url came from --base-url)" in wrong_path.stderr
    typo = run_cli(["list", "--base-url", "http//127.0.0.1:8089", "--all-groups"])
    assert typo.exit_code == 2
    assert "did you mean http://127.0.0.1:8089?" in typo.stderr
    assert "https://http//" not in typo.stderr
    missing = run_cli(["list", "--config", str(tmp_path / "bulkdl.toml"), "--all-groups"])
    assert missing.exit_code == 2
    assert f"bulkdl config example > {tmp_path / 'bulkdl.toml'}" in missing.stderr


def test_a_full_disk_line_carries_a_hint() -> None:
    """ENOSPC as the archive writer words it: the error line says what to do (reporter level:
    a test cannot fill a real disk)."""
    from rich.console import Console

    from bulkdl.domain.models import JobResult, Outcome
    from bulkdl.report.progress import PlainReporter

    log = io.StringIO()
    error = "/srv/out/g/j.tar.gz.part: write failed (No space left on device)"
    result = JobResult("5c8100bcf2a30b12ff88258f", None, "SUCCESS", Outcome.FAILED, error=error)
    PlainReporter(Console(file=log, width=40)).finished(result)
    assert (
        "No space left on device) (hint: free space on that disk, or rerun with another --out"
        in log.getvalue()
    )
