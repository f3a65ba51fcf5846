"""The Producer on its own, against the emulator over 127.0.0.1: what it queues, what it
records, and what it hands to `on_fatal` — no workers, no CLI."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from bulkdl.cloud.session import ApiSession
from bulkdl.domain.errors import AuthError, BulkdlError
from bulkdl.domain.models import GroupId
from bulkdl.domain.planner import DownloadTarget
from bulkdl.domain.selection import collect_request
from bulkdl.emulator import EmulatorThread, Fleet
from bulkdl.report.progress import PlainReporter
from bulkdl.report.summary import RunSummary
from bulkdl.run.dryrun import GroupPlan, Planning
from bulkdl.run.group_queue import GroupQueue
from bulkdl.run.options import RunOptions
from bulkdl.run.producer import Producer
from bulkdl.run.record import Recorder
from bulkdl.settings.load import Secret, Settings
from bulkdl.store.manifest import ManifestWriter
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY

pytestmark = pytest.mark.anyio

DOWNLOADABLE = {"SUCCESS", "FAILURE", "MARKED_FOR_EXPIRY"}


class Produced:
    """One Producer run: the targets it queued (drained in order), the summary, the log."""

    def __init__(self) -> None:
        self.targets: list[DownloadTarget] = []
        self.fatal: list[BulkdlError] = []
        self.summary = RunSummary()
        self.log = io.StringIO()
        self.planning: Planning | None = None


async def _produce(
    base_url: str,
    out: Path,
    groups: list[str],
    options: RunOptions,
    *,
    private_key: str = PRIVATE_KEY,
    poll_interval_s: float = 0.1,
    planning: bool = False,
) -> Produced:
    got = Produced()
    reporter = PlainReporter(Console(file=got.log, width=200))
    config = Settings(
        base_url=base_url,
        public_key=PUBLIC_KEY,
        private_key=Secret(private_key),
        groups=tuple(GroupId(g) for g in groups),
        out_dir=out,
        poll_interval_s=poll_interval_s,
    )
    session = ApiSession(config)
    queue: GroupQueue[DownloadTarget] = GroupQueue(config.per_group_concurrency)
    async with ManifestWriter(None) as manifest, session.client:
        recorder = Recorder(manifest, got.summary, reporter)
        got.planning = Planning(reporter, peek=None) if planning else None
        producer = Producer(
            session, recorder, options, {}, queue, on_fatal=got.fatal.append, steps=got.planning
        )
        await producer.produce([GroupId(g) for g in groups])
    while (ready := await queue.get()) is not None:
        group, target = ready
        got.targets.append(target)
        queue.done(group)
    return got


async def test_every_downloadable_job_is_queued_and_the_rest_recorded(
    emulator: EmulatorThread, fleet: Fleet, tmp_path: Path
) -> None:
    groups = list(fleet.groups)
    got = await _produce(emulator.base_url, tmp_path / "out", groups, RunOptions())
    jobs = [j for g in groups for j in fleet.groups[g]]
    queued = {(t.job.group_id, t.job.id) for t in got.targets}
    assert queued == {(j.group_id, j.id) for j in jobs if j.status in DOWNLOADABLE}
    for target in got.targets:
        assert target.final_path.parent == tmp_path / "out" / target.job.group_id
    assert got.summary.not_downloadable == sum(j.status not in DOWNLOADABLE for j in jobs) > 0
    assert got.summary.failed == 0
    assert got.fatal == []
    assert emulator.state.counters.requests_by_kind["download"] == 0, "it only lists"
    assert dict(emulator.state.counters.list_requests_by_group) == dict.fromkeys(groups, 1)


async def test_a_group_the_key_cannot_reach_fails_alone(
    emulator: EmulatorThread, fleet: Fleet, tmp_path: Path
) -> None:
    hidden, *others = fleet.groups
    fleet.not_in_group.add(hidden)
    got = await _produce(emulator.base_url, tmp_path / "out", list(fleet.groups), RunOptions())
    (failure,) = got.summary.failures
    assert (failure.group_id, failure.job_id) == (hidden, None)
    assert failure.error_code == "NOT_IN_GROUP"
    assert failure.line().startswith(f"group {hidden}: the key cannot access this group")
    assert {t.job.group_id for t in got.targets} == set(others)
    assert got.fatal == []


async def test_a_rejected_key_goes_to_on_fatal_and_nothing_is_queued(
    emulator: EmulatorThread, fleet: Fleet, tmp_path: Path
) -> None:
    got = await _produce(
        emulator.base_url,
        tmp_path / "out",
        list(fleet.groups),
        RunOptions(),
        private_key="not-the-key",
    )
    assert got.fatal
    assert all(isinstance(e, AuthError) for e in got.fatal)
    assert got.targets == []
    assert got.summary.failed == 0, "a fatal error is the run's, not a group's line"


async def test_collect_and_wait_queues_each_created_job_once_it_finishes(
    fleet: Fleet, tmp_path: Path
) -> None:
    groups = list(fleet.groups)
    body = collect_request(resource_type="replicaset", resource_name="rs0", log_types=["MONGODB"])
    options = RunOptions(collect=body, wait=True, timeout_s=30)
    with EmulatorThread(fleet, collect_duration_s=0.3) as emu:
        got = await _produce(emu.base_url, tmp_path / "out", groups, options)
        assert emu.state.counters.requests_by_kind["create"] == len(groups)
        assert emu.state.counters.requests_by_kind["job"] >= 2 * len(groups), "it polled"
    assert got.summary.created == len(groups)
    created = dict(got.summary.created_jobs)
    assert {(t.job.group_id, t.job.id) for t in got.targets} == set(created.items())
    assert all(t.job.status.value == "SUCCESS" for t in got.targets)
    assert got.log.getvalue().count("finished: SUCCESS") == len(groups)


async def test_with_planning_steps_it_lists_and_plans_but_sends_no_post(
    emulator: EmulatorThread, fleet: Fleet, tmp_path: Path
) -> None:
    groups = list(fleet.groups)
    body = collect_request(resource_type="replicaset", resource_name="rs0", log_types=["MONGODB"])
    collect = RunOptions(collect=body, wait=True, timeout_s=30)
    planned = await _produce(emulator.base_url, tmp_path / "o", groups, collect, planning=True)
    assert planned.planning is not None
    by_group = sorted(planned.planning.plan, key=lambda p: p.group_id)
    assert by_group == [GroupPlan(g, would_create=body) for g in sorted(groups)]
    assert emulator.state.counters.requests_by_kind["create"] == 0
    listed = await _produce(emulator.base_url, tmp_path / "o", groups, RunOptions(), planning=True)
    assert listed.targets == [], "nothing queued"
    assert listed.summary.not_downloadable == 0, "nothing recorded"
    assert listed.planning is not None
    assert sorted(p.group_id for p in listed.planning.plan) == sorted(groups)
