"""Pure selection helpers: filters, dates, collect bodies, the six-month rule, budgets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bulkdl.cloud.pacing import RequestBudget
from bulkdl.domain.errors import ConfigError
from bulkdl.domain.models import GroupId, GroupInfo, Job, JobId, JobStatus
from bulkdl.domain.selection import (
    JobFilter,
    add_months,
    choose_groups,
    collect_request,
    new_expiration,
    parse_since,
    parse_statuses,
    select_groups,
)
from bulkdl.settings.load import Secret, Settings

G = GroupId("5c8100bcf2a30b12ff88258f")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _job(
    n: int, status: str = "SUCCESS", created: str = "2026-11-20T10:00:00Z", name: str = "rs0"
) -> Job:
    return Job(
        group_id=G,
        id=JobId(f"{n:024x}"),
        status=JobStatus.parse(status),
        raw_status=status,
        creation_date=created,
        resource_name=name,
    )


def test_filter_by_each_field() -> None:
    jobs = [
        _job(1),
        _job(2, "FAILURE"),
        _job(3, created="2026-11-01T00:00:00Z"),
        _job(4, name="shard-01"),
    ]
    assert [j.id[-1] for j in jobs if JobFilter().matches(j)] == ["1", "2", "3", "4"]
    assert [
        j.id[-1] for j in jobs if JobFilter(statuses=frozenset({JobStatus.FAILURE})).matches(j)
    ] == ["2"]
    assert [
        j.id[-1] for j in jobs if JobFilter(since=datetime(2026, 11, 10, tzinfo=UTC)).matches(j)
    ] == ["1", "2", "4"]
    assert [j.id[-1] for j in jobs if JobFilter(resource_name="shard-*").matches(j)] == ["4"]
    assert [j.id[-1] for j in jobs if JobFilter(job_ids=frozenset({f"{3:024x}"})).matches(j)] == [
        "3"
    ]


@pytest.mark.parametrize(
    "restricted",
    [
        JobFilter(job_ids=frozenset({f"{9:024x}"})),
        JobFilter(statuses=frozenset({JobStatus.FAILURE})),
        JobFilter(since=datetime(2027, 1, 1, tzinfo=UTC)),
        JobFilter(resource_name="*"),  # matches every name, but is a restriction to test
        JobFilter(resource_name=""),
    ],
)
def test_only_the_empty_filter_takes_a_listing_whole(restricted: JobFilter) -> None:
    jobs = [_job(1), _job(2, "EXPIRED", created="", name="")]
    assert JobFilter().selects_all
    assert all(JobFilter().matches(j) for j in jobs)
    assert not restricted.selects_all


def test_parse_statuses() -> None:
    assert parse_statuses(["success,failure", "EXPIRED"]) == {
        JobStatus.SUCCESS,
        JobStatus.FAILURE,
        JobStatus.EXPIRED,
    }
    with pytest.raises(ConfigError, match="unknown job status 'DONE'"):
        parse_statuses(["DONE"])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-25", datetime(2026, 11, 25, tzinfo=UTC)),
        ("2026-11-25T08:00Z", datetime(2026, 11, 25, 8, tzinfo=UTC)),
        ("12h", NOW - timedelta(hours=12)),
        ("7d", NOW - timedelta(days=7)),
        ("90m", NOW - timedelta(minutes=90)),
    ],
)
def test_parse_since(raw: str, expected: datetime) -> None:
    assert parse_since(raw, NOW) == expected


def test_parse_since_rejects_garbage() -> None:
    with pytest.raises(ConfigError, match="cannot read 'yesterday'"):
        parse_since("yesterday", NOW)


@pytest.mark.parametrize("spelling", ["replicaset", "REPLICASET", "replica_set", "ReplicaSet"])
def test_collect_request_accepts_any_case(spelling: str) -> None:
    body = collect_request(
        resource_type=spelling, resource_name="rs0", log_types=["mongodb", "FTDC"]
    )
    assert body == {
        "logTypes": ["MONGODB", "FTDC"],
        "redacted": True,
        "resourceName": "rs0",
        "resourceType": "REPLICASET",
        "sizeRequestedPerFileBytes": 10_000_000,
    }


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"resource_type": "shard"}, "is not cluster, replicaset or process"),
        ({"resource_name": " "}, "--resource-name must not be empty"),
        ({"log_types": []}, "name at least one"),
        ({"log_types": ["SYSLOG"]}, "unknown log type 'SYSLOG'"),
        ({"size_per_file": 0}, "positive number of bytes"),
    ],
)
def test_collect_request_validation(kw: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "resource_type": "cluster",
        "resource_name": "c0",
        "log_types": ["MONGODB"],
    }
    args.update(kw)
    with pytest.raises(ConfigError, match=message):
        collect_request(**args)  # type: ignore[arg-type]


def test_add_months_clamps() -> None:
    assert add_months(datetime(2026, 8, 31, tzinfo=UTC), 6) == datetime(2027, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2026, 1, 15, tzinfo=UTC), 6) == datetime(2026, 7, 15, tzinfo=UTC)


def test_new_expiration_six_month_rule() -> None:
    job = _job(1, created="2026-11-01T00:00:00Z")
    assert new_expiration(job, 30, NOW) == NOW + timedelta(days=30)
    with pytest.raises(ConfigError, match="more than 6 months after its creation"):
        new_expiration(job, 200, NOW)
    with pytest.raises(ConfigError, match="has expired"):
        new_expiration(_job(2, "EXPIRED"), 5, NOW)


def test_group_selection(tmp_path: Path) -> None:
    found = [
        GroupInfo(GroupId("a" * 24), "prod-eu-1"),
        GroupInfo(GroupId("b" * 24), "staging"),
        GroupInfo(GroupId("c" * 24), "prod-us-2"),
    ]
    assert [g.name for g in select_groups(found, "prod-*")] == ["prod-eu-1", "prod-us-2"]
    settings = Settings(
        base_url="https://x",
        public_key="p",
        private_key=Secret("k"),
        groups=(GroupId("c" * 24),),
        out_dir=tmp_path,
        group_name="prod-*",
    )
    assert choose_groups(settings, found) == (["c" * 24], [])
    with pytest.raises(ConfigError, match="no groups named 'qa-\\*'"):
        choose_groups(
            Settings(
                base_url="https://x",
                public_key="p",
                private_key=Secret("k"),
                groups=(),
                out_dir=tmp_path,
                group_name="qa-*",
            ),
            found,
        )


def test_request_budget_sliding_window() -> None:
    now = [0.0]
    budget = RequestBudget(3, clock=lambda: now[0])
    for _ in range(3):
        assert budget.delay("g") == 0
        budget.record("g")
        now[0] += 1
    assert budget.delay("g") == pytest.approx(57.0)  # the first send ages out at t=60
    assert budget.delay("other") == 0
    now[0] = 60.0
    assert budget.delay("g") == 0
