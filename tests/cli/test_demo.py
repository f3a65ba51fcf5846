"""`bulkdl demo` and `bulkdl emulate`: the first things a new user runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import is_valid_tar_gz, read_manifest, run_cli


def test_demo_downloads_everything(tmp_path: Path) -> None:
    """The demo pulls 12 archives from the built-in emulator, exit 0, manifest complete."""
    out = tmp_path / "demo"
    result = run_cli(["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    archives = sorted(out.rglob("*.tar.gz"))
    assert len(archives) == 12
    assert all(is_valid_tar_gz(p) for p in archives)
    assert len(read_manifest(out)) == 18
    assert "12 downloaded, 0 skipped, 6 not downloadable, 0 failed" in result.stderr


def test_emulate_serves_until_interrupted(tmp_path: Path) -> None:
    """`bulkdl emulate --port 0` prints where it listens and stops cleanly on Ctrl-C."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bulkdl",
            "emulate",
            "--port",
            "0",
            "--flaky",
            "503",
            "--rate-limit",
            "100",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "Cloud Manager emulator on http://127.0.0.1:" in line
    base_url = line.split(" on ")[1].split()[0]
    rest = [proc.stderr.readline() for _ in range(5)]
    assert any("BULKDL_PUBLIC_KEY=" in r for r in rest)
    # Point the real client at it with the printed credentials.
    pub = (
        next(r for r in rest if "BULKDL_PUBLIC_KEY=" in r).split("BULKDL_PUBLIC_KEY=")[1].split()[0]
    )
    priv = (
        next(r for r in rest if "BULKDL_PRIVATE_KEY=" in r)
        .split("BULKDL_PRIVATE_KEY=")[1]
        .split()[0]
    )
    groups = next(r for r in rest if "groups = " in r).split("[")[1].split("]")[0]
    args = ["download", "--base-url", base_url, "--out", str(tmp_path / "o")]
    for gid in groups.replace('"', "").split(", "):
        args += ["--group", gid]
    result = run_cli(args, env={"BULKDL_PUBLIC_KEY": pub, "BULKDL_PRIVATE_KEY": priv})
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "o").rglob("*.tar.gz"))) == 12
    # --flaky 503: every download's first attempt failed, and was retried.
    assert result.stderr.count("HTTP 503 UNEXPECTED_ERROR") == 12
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_python_dash_m_entry_point() -> None:
    """`python -m bulkdl --help` lists the commands."""
    out = subprocess.run(
        [sys.executable, "-m", "bulkdl", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("download", "demo", "emulate"):
        assert command in out
