"""`collect` without --out (issue 21, point 11): it needs an OUT (its manifest records the jobs
it creates, so a rerun resumes them), and never makes the working folder one silently: exit 2,
one line and a hint, nothing created on the server, nothing written where it ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkdl.emulator import EmulatorThread
from tests.conftest import COLLECT, make_fleet, run_cli


def test_collect_without_out_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with EmulatorThread(make_fleet(groups=1)) as emu:
        result = run_cli([*COLLECT, "--base-url", emu.base_url])
        creates = emu.state.counters.requests_by_kind["create"]
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[:2] == [
        "error: no output directory",
        "hint: pass --out DIR or set out_dir",
    ]
    assert creates == 0
    assert list(tmp_path.iterdir()) == []
