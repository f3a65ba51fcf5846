"""`collect --from/--to` through the CLI: the time window on every POST, refused before any
request when malformed, the fallback to the other wire form, and the window in `list` and
the manifest. The emulator's own rules for the window are checked over HTTP at the end."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bulkdl.emulator import EmulatedJob, EmulatorThread, Fleet
from tests.conftest import (
    COLLECT,
    PRIVATE_KEY,
    PUBLIC_KEY,
    make_fleet,
    read_manifest,
    run_cli,
    write_config,
)


def _cfg(tmp_path: Path, emu: EmulatorThread) -> Path:
    return write_config(tmp_path / "c.toml", base_url=emu.base_url, poll_interval_s=0.05)


def _cfg_args(tmp_path: Path, emu: EmulatorThread) -> list[str]:
    return ["--out", str(tmp_path / "out"), "--config", str(_cfg(tmp_path, emu))]


def _created(fleet: Fleet) -> list[EmulatedJob]:
    return [j for jobs in fleet.groups.values() for j in jobs if j.resource_name == "rs0"]


def _instant(value: int | str | None) -> datetime:
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, UTC)
    assert isinstance(value, str)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _near(when: datetime, expected: datetime) -> bool:
    return abs(when - expected) < timedelta(minutes=2)


def test_collect_window_is_sent_in_iso_8601_for_every_group(tmp_path: Path) -> None:
    """The docs' form first: an ISO-only server accepts it at once, one POST per group."""
    fleet = make_fleet(groups=3)
    fleet.filter_date_forms = ("iso8601",)
    out = tmp_path / "out"
    with EmulatorThread(fleet) as emu:
        result = run_cli([*COLLECT, "--from", "2h", "--to", "30m", *_cfg_args(tmp_path, emu)])
        counters = emu.state.counters
    now = datetime.now(UTC)
    assert result.exit_code == 0, result.output
    assert counters.requests_by_kind["create"] == 3
    assert counters.responses_by_status[400] == 0
    created = _created(fleet)
    assert {j.group_id for j in created} == set(fleet.groups)
    for job in created:
        assert isinstance(job.log_collection_from_date, str)
        assert isinstance(job.log_collection_to_date, str)
        assert _near(_instant(job.log_collection_from_date), now - timedelta(hours=2))
        assert _near(_instant(job.log_collection_to_date), now - timedelta(minutes=30))
    lines = read_manifest(out)
    assert [line["outcome"] for line in lines] == ["created"] * 3
    by_job = {j.id: j for j in created}
    for line in lines:
        job = by_job[line["jobId"]]
        assert line["logCollectionFromDate"] == job.log_collection_from_date
        assert line["logCollectionToDate"] == job.log_collection_to_date


def test_fallback_to_epoch_ms_is_taken_once_and_kept(tmp_path: Path) -> None:
    """An epoch-ms-only server: one 400 about the dates' format, one resend in epoch
    milliseconds, and every later POST of the run goes in that form at once."""
    fleet = make_fleet(groups=4)
    fleet.filter_date_forms = ("epoch_ms",)
    with EmulatorThread(fleet) as emu:
        result = run_cli(
            [*COLLECT, "--from", "3h", "--to", "1h", "--json", *_cfg_args(tmp_path, emu)]
        )
        counters = emu.state.counters
    now = datetime.now(UTC)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] == 4
    assert counters.responses_by_status[400] == 1
    assert counters.requests_by_kind["create"] == 5
    created = _created(fleet)
    assert len(created) == 4
    for job in created:
        assert isinstance(job.log_collection_from_date, int)
        assert _near(_instant(job.log_collection_from_date), now - timedelta(hours=3))
        assert _near(_instant(job.log_collection_to_date), now - timedelta(hours=1))


def test_a_server_reading_neither_form_fails_each_group_without_flip_flopping(
    tmp_path: Path,
) -> None:
    fleet = make_fleet(groups=3)
    fleet.filter_date_forms = ()
    with EmulatorThread(fleet) as emu:
        result = run_cli([*COLLECT, "--from", "3h", "--to", "1h", *_cfg_args(tmp_path, emu)])
        counters = emu.state.counters
    assert result.exit_code == 1, result.output
    assert counters.requests_by_kind["create"] == 4  # ISO, epoch ms, then epoch ms for the rest
    assert result.stderr.count("INVALID_JSON_ATTRIBUTE") >= 3
    assert _created(fleet) == []


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--from", "2h"], "--from needs --to"),
        (["--to", "1h"], "--to needs --from"),
        (["--from", "1h", "--to", "2h"], "is not before --to"),
        (["--from", "2h", "--to", "2h"], "is not before --to"),
        (["--from", "2099-01-01", "--to", "2099-01-02"], "is not in the past"),
        (["--from", "yesterday", "--to", "1h"], "--from: cannot read 'yesterday'"),
        (["--from", "2h", "--to", "soon"], "--to: cannot read 'soon'"),
    ],
)
def test_a_bad_window_is_exit_2_before_any_request(
    tmp_path: Path, flags: list[str], said: str
) -> None:
    fleet = make_fleet(groups=2)
    with EmulatorThread(fleet) as emu:
        result = run_cli([*COLLECT, *flags, "--config", str(_cfg(tmp_path, emu))])
        requests = emu.state.counters.requests
    assert result.exit_code == 2, result.output
    assert requests == 0
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: "), result.stderr
    assert said in first, result.stderr
    assert "Traceback" not in result.output


def test_list_shows_the_window_whatever_form_the_server_answers_in(tmp_path: Path) -> None:
    """Jobs created in either form list with the same ISO window, in the table and in JSON."""
    fleet = make_fleet(groups=2)
    start, end = (
        datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 10, 30, tzinfo=UTC),
    )
    epoch_group, iso_group = list(fleet.groups)
    fleet.groups[epoch_group][0].log_collection_from_date = int(start.timestamp() * 1000)
    fleet.groups[epoch_group][0].log_collection_to_date = int(end.timestamp() * 1000)
    fleet.groups[iso_group][0].log_collection_from_date = "2026-11-30T08:00:00Z"
    fleet.groups[iso_group][0].log_collection_to_date = "2026-11-30T10:30:00Z"
    windowed = {fleet.groups[g][0].id for g in fleet.groups}
    with EmulatorThread(fleet) as emu:
        cfg = str(_cfg(tmp_path, emu))
        as_json = run_cli(["list", "--all-groups", "--json", "--config", cfg])
        table = run_cli(["list", "--all-groups", "--config", cfg])
    assert as_json.exit_code == 0, as_json.output
    jobs = json.loads(as_json.stdout)
    with_window = [j for j in jobs if "logCollectionFromDate" in j]
    assert {j["id"] for j in with_window} == windowed
    for job in with_window:
        assert job["logCollectionFromDate"] == "2026-11-30T08:00:00Z"
        assert job["logCollectionToDate"] == "2026-11-30T10:30:00Z"
    assert table.exit_code == 0, table.output
    assert "window" in table.stdout
    assert table.stdout.count("2026-11-30 08:00 → 10:30") == 2


# The emulator's rules, over HTTP (the CLI never sends a window it would refuse).

WALL = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
BODY: dict[str, Any] = {
    "resourceType": "REPLICASET",
    "resourceName": "rs0",
    "sizeRequestedPerFileBytes": 1000,
    "logTypes": ["MONGODB"],
}


def _post(emu: EmulatorThread, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    gid = next(iter(emu.fleet.groups))
    url = f"{emu.base_url}/api/public/v1.0/groups/{gid}/logCollectionJobs"

    async def main() -> tuple[int, dict[str, Any]]:
        auth = aiohttp.DigestAuthMiddleware(PUBLIC_KEY, PRIVATE_KEY)
        async with (
            aiohttp.ClientSession(middlewares=(auth,)) as session,
            session.post(url, json=body) as resp,
        ):
            return resp.status, await resp.json(content_type=None)

    return asyncio.run(main())


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("window", "code"),
    [
        ({"logCollectionFromDate": _iso(WALL - timedelta(hours=1))}, "NOT_TOGETHER"),
        ({"logCollectionToDate": _iso(WALL)}, "NOT_TOGETHER"),
        (
            {"logCollectionFromDate": _iso(WALL), "logCollectionToDate": _iso(WALL)},
            "FROM_DATE_NOT_IN_PAST",
        ),
        (
            {
                "logCollectionFromDate": _iso(WALL - timedelta(hours=1)),
                "logCollectionToDate": _iso(WALL - timedelta(hours=2)),
            },
            "FROM_DATE_NOT_BEFORE_TO_DATE",
        ),
        (
            {
                "logCollectionFromDate": _iso(WALL - timedelta(days=8)),
                "logCollectionToDate": _iso(WALL - timedelta(days=1)),
            },
            "FROM_DATE_BEFORE_LOG_HISTORY",
        ),
    ],
)
def test_the_emulator_refuses_windows_as_the_docs_say(window: dict[str, str], code: str) -> None:
    fleet = make_fleet(groups=1)
    fleet.log_history = timedelta(days=7)
    with EmulatorThread(fleet, wall_clock=lambda: WALL) as emu:
        status, doc = _post(emu, {**BODY, **window})
        created = emu.state.counters.requests_by_kind["create"]
    assert (status, doc["errorCode"]) == (400, f"INVALID_LOG_COLLECTION_{code}")
    assert created == 1
    assert _created(fleet) == []


@pytest.mark.parametrize(
    ("forms", "sent", "status"),
    [
        (("iso8601", "epoch_ms"), "iso", 201),
        (("iso8601", "epoch_ms"), "ms", 201),
        (("iso8601",), "ms", 400),
        (("epoch_ms",), "iso", 400),
        (("epoch_ms",), "ms", 201),
    ],
)
def test_the_emulator_reads_the_forms_it_is_told_to(
    forms: tuple[str, ...], sent: str, status: int
) -> None:
    start, end = WALL - timedelta(hours=2), WALL - timedelta(hours=1)
    window: dict[str, Any] = (
        {"logCollectionFromDate": _iso(start), "logCollectionToDate": _iso(end)}
        if sent == "iso"
        else {
            "logCollectionFromDate": int(start.timestamp() * 1000),
            "logCollectionToDate": int(end.timestamp() * 1000),
        }
    )
    fleet = make_fleet(groups=1)
    fleet.filter_date_forms = forms
    with EmulatorThread(fleet, wall_clock=lambda: WALL) as emu:
        got, doc = _post(emu, {**BODY, **window})
    assert got == status, doc
    if status == 400:
        assert doc["errorCode"] == "INVALID_JSON_ATTRIBUTE"
        assert doc["parameters"] == ["logCollectionFromDate"]
    else:
        (job,) = _created(fleet)
        assert job.log_collection_from_date == window["logCollectionFromDate"]
