"""Ways forward: each error a user can cause says what to do next; ids in upper case work."""

from __future__ import annotations

import shlex
import signal
import socket
from pathlib import Path

import pytest

from bulkdl.emulator import EmulatorThread, Fleet
from bulkdl.report.hints import resume_command
from tests.conftest import make_fleet, read_manifest, run_cli, start_download, wait_for

GROUP = "5f" * 12


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _list(base_url: str, *extra: str) -> tuple[int, list[str]]:
    result = run_cli(["list", "--base-url", base_url, "--group", GROUP, *extra])
    return result.exit_code, result.stderr.splitlines()


@pytest.mark.parametrize(
    ("base_url", "error", "hint"),
    [
        ("http://127.0.0.1:{free_port}", "cannot connect to 127.0.0.1", "nothing listens"),
        ("http://no-such-host.invalid", "no-such-host.invalid", "does not resolve"),
        ("cloud.mongodb.com", "is not an http(s) URL", "https://cloud.mongodb.com"),
    ],
)
def test_connection_errors_have_a_hint(base_url: str, error: str, hint: str) -> None:
    # The port is picked as the test runs, not at collection: test ids stay the same in every
    # pytest-xdist worker, and the port is not taken meanwhile by another test's emulator.
    status, lines = _list(base_url.format(free_port=_free_port()))
    assert status == 2
    assert len(lines) == 2, lines
    assert lines[0].startswith("error: ")
    assert error in lines[0]
    assert lines[1].startswith("hint: ")
    assert hint in lines[1]


def test_https_against_a_plain_http_port(emulator: EmulatorThread) -> None:
    status, lines = _list(emulator.base_url.replace("http://", "https://"))
    assert status == 2
    assert (
        lines[1]
        == "hint: that port speaks plain HTTP, not TLS: use http:// in base_url, or the HTTPS port"
    )
    assert emulator.state.counters.requests == 0


def test_a_group_name_given_as_group_points_to_group_name(emulator: EmulatorThread) -> None:
    result = run_cli(["list", "--base-url", emulator.base_url, "--group", "prod-eu-1"])
    assert result.exit_code == 2
    error, hint = result.stderr.splitlines()
    assert error == "error: --group 'prod-eu-1' is not a group id (24 hex digits)"
    assert "--group-name" in hint
    assert "bulkdl groups" in hint
    assert emulator.state.counters.requests == 0


def test_upper_case_ids_are_accepted(
    tmp_path: Path, fleet: Fleet, emulator: EmulatorThread
) -> None:
    """Ids copied from a UI in upper case select the same group and job, stored in lower case."""
    gid = next(iter(fleet.groups))
    job = next(j for j in fleet.groups[gid] if j.status == "SUCCESS")
    out = tmp_path / "out"
    result = run_cli(
        [
            "download",
            "--base-url",
            emulator.base_url,
            "--group",
            gid.upper(),
            "--job",
            job.id.upper(),
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    assert (out / gid / f"{job.id}.tar.gz").is_file()
    assert [line["jobId"] for line in read_manifest(out)] == [job.id]


def test_resume_command_never_shows_a_secret() -> None:
    args = ["download", "--out", "my dir", "--private-key", "s3cret", "--api-token=abc", "-q"]
    assert resume_command(args) == (
        "bulkdl download --out 'my dir' --private-key '***' '--api-token=***' -q"
    )
    assert resume_command(None) is None


def test_interrupted_run_prints_the_command_that_resumes_it(tmp_path: Path) -> None:
    fleet = make_fleet(groups=1, jobs_per_group=6, archive_bytes=256 * 1024)
    gid = next(iter(fleet.groups))
    out = tmp_path / "out"
    with EmulatorThread(fleet, chunk_size=16 * 1024, chunk_delay_s=0.02) as emu:
        proc = start_download(emu.base_url, [gid], out, "--concurrency", "2")
        wait_for(lambda: emu.state.counters.in_flight, "a download in flight")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr
    args = ["download", "--base-url", emu.base_url, "--out", str(out), "--group", gid]
    expected = shlex.join(["bulkdl", *args, "--concurrency", "2"])
    assert stderr.splitlines()[-1] == f"to resume: {expected}"
