"""Parsing one listed job: what each field becomes when a server sends something odd."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bulkdl.domain.models import GroupId, JobStatus, parse_jobs

G = GroupId("5c8100bcf2a30b12ff88258f")
J = "0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("size", "expected"), [(30, 30), (0, 0), (True, None), (1.5, None), ("30", None), (None, None)]
)
def test_only_an_integer_is_a_size(size: object, expected: int | None) -> None:
    (job,), _ = parse_jobs(G, [{"id": J, "status": "SUCCESS", "uncompressedSizeTotalBytes": size}])
    assert job.uncompressed_size_bytes == expected
    assert job.uncompressed_size_bytes.__class__ is expected.__class__  # True is not kept as 1


def test_odd_fields_are_dropped_not_guessed() -> None:
    item = {
        "id": J,
        "status": 7,
        "creationDate": 1714564800,
        "resourceName": "rs0",
        "resourceType": None,
        "logTypes": ["MONGODB", 3, None, "FTDC"],
    }
    (job,), bad = parse_jobs(G, [item])
    assert bad == []
    assert (job.status, job.raw_status) == (JobStatus.UNKNOWN, "7")
    assert (job.creation_date, job.resource_name, job.resource_type) == (None, "rs0", None)
    assert job.log_types == ("MONGODB", "FTDC")
    assert (job.collection_range, job.child_jobs) == (None, None)


@pytest.mark.parametrize(
    ("start", "end", "present"),
    [
        ("2024-05-01T12:00:00Z", "2024-05-01T13:00:00Z", True),
        (1714564800000, 1714568400000, True),
        ("2024-05-01T12:00:00Z", None, False),
        (None, "2024-05-01T13:00:00Z", False),
        ("not a date", "2024-05-01T13:00:00Z", False),
    ],
)
def test_a_window_needs_both_ends(start: object, end: object, present: bool) -> None:
    item = {"id": J, "logCollectionFromDate": start, "logCollectionToDate": end}
    (job,), _ = parse_jobs(G, [item])
    if not present:
        assert job.collection_range is None
        return
    assert job.collection_range is not None
    assert job.collection_range.start == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert job.collection_range.end == datetime(2024, 5, 1, 13, tzinfo=UTC)


def test_jobs_stay_values_equal_and_hashable_by_content() -> None:
    (a,), _ = parse_jobs(G, [{"id": J, "status": "SUCCESS", "logTypes": ["FTDC"]}])
    (b,), _ = parse_jobs(G, [{"id": J, "status": "SUCCESS", "logTypes": ["FTDC"]}])
    assert a == b
    assert a is not b
    assert len({a, b}) == 1
