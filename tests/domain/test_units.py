"""Pure pieces: planning, scheduling, manifest parsing, error classification, config values."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from bulkdl.cloud.client import next_link
from bulkdl.cloud.transport import api_error
from bulkdl.domain.errors import AuthError, ConfigError, GroupAccessError, RateLimited, ServerError
from bulkdl.domain.models import GroupId, Job, JobId, JobStatus, group_id, job_id
from bulkdl.domain.planner import DownloadTarget, NotDownloadable, Recorded, plan_group, plan_job
from bulkdl.run.group_queue import GroupQueue
from bulkdl.settings.load import Secret, normalise_base_url
from bulkdl.store.manifest import parse_previous

G = GroupId("5c8100bcf2a30b12ff88258f")


def _job(n: int, status: str = "SUCCESS") -> Job:
    return Job(group_id=G, id=JobId(f"{n:024x}"), status=JobStatus.parse(status), raw_status=status)


@pytest.mark.parametrize(
    ("status", "downloadable"),
    [
        ("SUCCESS", True),
        ("FAILURE", True),
        ("MARKED_FOR_EXPIRY", True),
        ("IN_PROGRESS", False),
        ("EXPIRED", False),
        ("SOMETHING_NEW", False),
    ],
)
def test_plan_by_status(tmp_path: Path, status: str, downloadable: bool) -> None:
    planned = plan_job(_job(1, status), tmp_path, {})
    assert isinstance(planned, DownloadTarget) is downloadable
    if isinstance(planned, NotDownloadable):
        assert status in planned.reason


def test_plan_paths_and_previous(tmp_path: Path) -> None:
    """OUT/<groupId>/<jobId>.tar.gz with .part beside it; earlier records attached."""
    rec = Recorded("p", 10, "ab" * 32)
    planned = plan_job(_job(7), tmp_path, {(G, f"{7:024x}"): rec})
    assert isinstance(planned, DownloadTarget)
    assert planned.final_path == tmp_path / G / f"{7:024x}.tar.gz"
    assert planned.part_path == tmp_path / G / f"{7:024x}.tar.gz.part"
    assert planned.previous == rec


def test_plan_group_dedupes_a_job_listed_twice(tmp_path: Path) -> None:
    targets, unavailable = plan_group([_job(1), _job(1), _job(2, "EXPIRED")], tmp_path, {})
    assert [t.job.id for t in targets] == [f"{1:024x}"]
    assert len(unavailable) == 1


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "5C8100BCF2A30B12FF88258F",
        "../../etc/passwd0000000",
        "5c8100bcf2a30b12ff88258f0",
        "5c8100bcf2a30b12ff88258/",
    ],
)
def test_ids_must_be_24_lowercase_hex(bad: str) -> None:
    with pytest.raises(ValueError, match="24 lowercase hex"):
        group_id(bad)
    with pytest.raises(ValueError, match="24 lowercase hex"):
        job_id(bad)


def test_job_from_api_rejects_path_like_ids() -> None:
    from bulkdl.domain.errors import ProtocolError

    with pytest.raises(ProtocolError, match="malformed id"):
        Job.from_api(G, {"id": "../../../../etc/cron.d/x", "status": "SUCCESS"})


def test_group_queue_limits_and_rotates() -> None:
    """Round-robin over groups; never more than the per-group limit handed out."""
    q: GroupQueue[str] = GroupQueue(per_group_limit=2)
    for i in range(4):
        q.put("a", f"a{i}")
    q.put("b", "b0")
    taken = [q.take_ready() for _ in range(4)]
    assert [t[1] if t else None for t in taken] == ["a0", "b0", "a1", None]
    q.done("a")
    assert q.take_ready() == ("a", "a2")


async def test_group_queue_drains_and_closes() -> None:
    """Workers get every item once, then None after close()."""
    q: GroupQueue[int] = GroupQueue(per_group_limit=1)
    got: list[int] = []

    async def worker() -> None:
        while (item := await q.get()) is not None:
            got.append(item[1])
            await anyio.sleep(0)
            q.done(item[0])

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(worker)
        for i in range(20):
            q.put(f"g{i % 4}", i)
        q.close()
    assert sorted(got) == list(range(20))


def test_manifest_last_archive_line_wins_and_torn_lines_are_ignored() -> None:
    text = (
        '{"jobId":"a","outcome":"downloaded","path":"p","bytes":3,"sha256":"x"}\n'
        '{"jobId":"b","outcome":"downloaded","path":"q","bytes":4,"sha256":"y"}\n'
        '{"jobId":"b","outcome":"failed","path":"q","bytes":null,"sha256":null}\n'
        '{"jobId":"a","outcome":"replaced","path":"p","bytes":5,"sha256":"z"}\n'
        '{"jobId":"c","outcome":"downl'
    )
    # A failed attempt leaves the archive under its final name alone: b's line still holds.
    assert parse_previous(text) == {
        ("", "a"): Recorded("p", 5, "z"),
        ("", "b"): Recorded("q", 4, "y"),
    }


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            401,
            b'{"error":401,"reason":"Unauthorized","detail":"You are not authorized"}',
            AuthError,
        ),
        (
            401,
            b'{"error":401,"errorCode":"NOT_IN_GROUP","reason":"Unauthorized"}',
            GroupAccessError,
        ),
        (403, b'{"error":403,"errorCode":"IP_ADDRESS_NOT_ON_WHITELIST"}', GroupAccessError),
        (404, b'{"error":404,"errorCode":"GROUP_NOT_FOUND"}', GroupAccessError),
        (429, b'{"error":429,"errorCode":"RATE_LIMITED"}', RateLimited),
        (503, b"<html><body>Service Unavailable</body></html>", ServerError),
    ],
)
def test_api_error_classification(status: int, body: bytes, kind: type) -> None:
    err = api_error(status, body, group=G)
    assert type(err) is kind
    assert err.status == status


def test_api_error_carries_code_and_where() -> None:
    err = api_error(
        403, b'{"errorCode":"CANNOT_DOWNLOAD_EXPIRED_JOB","detail":"expired"}', group=G, job="j1"
    )
    assert err.error_code == "CANNOT_DOWNLOAD_EXPIRED_JOB"
    assert str(err).startswith(f"group {G} job j1: HTTP 403 CANNOT_DOWNLOAD_EXPIRED_JOB")


def test_retry_after_is_parsed() -> None:
    err = api_error(429, b"{}", group=G, retry_after="7")
    assert isinstance(err, RateLimited)
    assert err.retry_after_s == 7.0


def test_next_link() -> None:
    assert next_link({"links": [{"rel": "self", "href": "a"}, {"rel": "next", "href": "b"}]}) == "b"
    assert next_link({"links": [{"rel": "self", "href": "a"}]}) is None
    assert next_link({}) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://cloud.mongodb.com/", "https://cloud.mongodb.com"),
        ("https://om.example.com:8443/api/public/v1.0", "https://om.example.com:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_base_url_normalised(raw: str, expected: str) -> None:
    assert normalise_base_url(raw, "test") == expected


@pytest.mark.parametrize("raw", ["cloud.mongodb.com", "ftp://x", "https://", "https://u:p@h"])
def test_base_url_rejected(raw: str) -> None:
    with pytest.raises(ConfigError):
        normalise_base_url(raw, "test")


def test_secret_is_never_shown() -> None:
    s = Secret("hunter2")
    assert "hunter2" not in repr(s)
    assert "hunter2" not in str(s)
    assert s.reveal() == "hunter2"


def test_settings_repr_hides_the_private_key(tmp_path: Path) -> None:
    """Printing the settings (a debugger, a log line) never shows the key."""
    from bulkdl.settings.load import Settings

    settings = Settings(
        base_url="https://x",
        public_key="pub",
        private_key=Secret("k3y-v4lue"),
        groups=(G,),
        out_dir=tmp_path,
    )
    assert "k3y-v4lue" not in repr(settings)
    assert "k3y-v4lue" not in str(settings)
