"""Retry-After in both forms (issue 21, point 6; issue 18: a Retry-After of a year): seconds and
HTTP-dates are read, past dates and negatives mean now, and a wait beyond retry_after_max_s
fails the job at once, saying what the server asked and when a rerun makes sense."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bulkdl.domain.retry_after import parse_retry_after
from bulkdl.emulator import EmulatorThread, RateLimit
from tests.conftest import make_fleet, run_cli, served_archive, write_config

NOW = datetime(2026, 12, 2, 17, 0, 0, tzinfo=UTC)
YEAR_S = 365 * 86400.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("1.5", 1.5),
        ("-30", 0.0),  # negative: now
        ("Wed, 02 Dec 2026 17:02:00 GMT", 120.0),
        ("Wed, 02 Dec 2026 16:00:00 GMT", 0.0),  # in the past: now
        ("Thu, 02 Dec 2027 17:00:00 GMT", YEAR_S),
        ("soon", None),
        ("", None),
        ("nan", None),
        (None, None),
    ],
)
def test_both_forms(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize("dated", [False, True])
def test_a_year_long_wait_fails_at_once_saying_so(tmp_path: Path, dated: bool) -> None:
    fleet = make_fleet(groups=1, jobs_per_group=2)
    (gid,) = fleet.groups
    slow, fine = fleet.groups[gid]
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        emu.state.add_download_faults(slow.id, [RateLimit(retry_after_s=YEAR_S, dated=dated)])
        cfg = write_config(tmp_path / "c.toml", base_url=emu.base_url, retry_backoff_s=0.01)
        result = run_cli(["download", "--config", str(cfg), "--group", gid, "--out", str(out)])
        tries = emu.state.counters.downloads_by_job[slow.id]
    assert result.exit_code == 1, result.output
    assert tries == 1  # not retried
    assert "the server asked to wait 365 days (Retry-After, until 2027-" in result.stderr
    assert (
        "more than retry_after_max_s (5 min) allows: not retried; rerun after then" in result.stderr
    )
    assert (out / gid / f"{fine.id}.tar.gz").read_bytes() == served_archive(fleet, gid, fine.id)


def test_a_dated_wait_within_the_cap_is_honoured(tmp_path: Path) -> None:
    """A date 2 s ahead is waited for (the retry line says so), then the job is fetched."""
    fleet = make_fleet(groups=1, jobs_per_group=1)
    (gid,) = fleet.groups
    (job,) = fleet.groups[gid]
    with EmulatorThread(fleet) as emu:
        emu.state.add_download_faults(job.id, [RateLimit(retry_after_s=2, dated=True)])
        cfg = write_config(tmp_path / "c.toml", base_url=emu.base_url, retry_backoff_s=0.01)
        result = run_cli(
            [
                "download",
                "--config",
                str(cfg),
                "--group",
                gid,
                "--out",
                str(tmp_path / "o"),
                "--json",
            ]
        )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["downloaded"] == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("retrying")]
    delay = float(line.split(" in ")[1].split(" s")[0])
    assert 0.5 <= delay <= 2.0  # the server's date (whole seconds), not our 0.01 s backoff


def test_a_wait_past_the_retry_deadline_says_so(tmp_path: Path) -> None:
    """Within retry_after_max_s but beyond what retry_deadline_s leaves: the same clause."""
    fleet = make_fleet(groups=1, jobs_per_group=1)
    (gid,) = fleet.groups
    (job,) = fleet.groups[gid]
    with EmulatorThread(fleet) as emu:
        emu.state.add_download_faults(job.id, [RateLimit(retry_after_s=120)])
        cfg = write_config(tmp_path / "c.toml", base_url=emu.base_url, retry_deadline_s=30)
        out = str(tmp_path / "o")
        result = run_cli(["download", "--config", str(cfg), "--group", gid, "--out", out])
    assert result.exit_code == 1, result.output
    assert "the server asked to wait 2 min (Retry-After, until " in result.stderr
    assert "more than retry_deadline_s (30 s) allows: not retried; rerun after then" in (
        result.stderr
    )
