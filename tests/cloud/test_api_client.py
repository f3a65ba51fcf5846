"""CloudManagerClient itself, against the emulator over 127.0.0.1: paging, typed errors with
their ids, and what a download answer's Content-Range makes of the body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from bulkdl.cloud.client import CloudManagerClient
from bulkdl.domain.errors import ApiError, GroupAccessError, NetworkError, ServerError
from bulkdl.domain.models import GroupId, Job, JobId
from bulkdl.emulator import EmulatorThread, Fleet
from bulkdl.emulator.faults import ServerFault, Stall
from bulkdl.settings.load import Secret, Settings
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, make_fleet, prerender, served_archive

pytestmark = pytest.mark.anyio

MISSING_JOB = JobId("5f0000000000000000000abc")


def _client(base_url: str, tmp_path: Path, fleet: Fleet, **settings: float) -> CloudManagerClient:
    return CloudManagerClient(
        Settings(
            base_url=base_url,
            public_key=PUBLIC_KEY,
            private_key=Secret(PRIVATE_KEY),
            groups=tuple(GroupId(g) for g in fleet.groups),
            out_dir=tmp_path / "out",
            **settings,
        ),
        max_connections=2,
    )


@pytest.fixture
def big_group() -> Iterator[tuple[EmulatorThread, Fleet]]:
    """One group of 1100 jobs: three pages of the client's 500."""
    fleet = make_fleet(groups=1, jobs_per_group=1100, archive_bytes=1024)
    with EmulatorThread(fleet) as emu:
        yield emu, fleet


async def test_a_listing_follows_every_page_in_order(
    big_group: tuple[EmulatorThread, Fleet], tmp_path: Path
) -> None:
    emu, fleet = big_group
    (gid,) = fleet.groups
    async with _client(emu.base_url, tmp_path, fleet) as client:
        jobs, malformed = await client.list_jobs(GroupId(gid))
    assert [j.id for j in jobs] == [j.id for j in fleet.groups[gid]]
    assert len(jobs) == 1100
    assert malformed == []
    assert emu.state.counters.list_requests_by_group[gid] == 3, "one request per page"


async def test_an_error_body_becomes_the_typed_error_naming_its_group(
    emulator: EmulatorThread, fleet: Fleet, tmp_path: Path
) -> None:
    hidden = next(iter(fleet.groups))
    fleet.not_in_group.add(hidden)
    async with _client(emulator.base_url, tmp_path, fleet) as client:
        with pytest.raises(GroupAccessError) as caught:
            await client.list_jobs(GroupId(hidden))
    exc = caught.value
    assert (exc.status, exc.error_code) == (401, "NOT_IN_GROUP")
    assert (exc.group_id, exc.job_id) == (hidden, None)
    assert str(exc).startswith(f"group {hidden}: the key cannot access this group (HTTP 401")


async def test_an_unknown_job_is_an_api_error_naming_group_and_job(
    emulator: EmulatorThread, fleet: Fleet, tmp_path: Path
) -> None:
    gid = GroupId(next(iter(fleet.groups)))
    async with _client(emulator.base_url, tmp_path, fleet) as client:
        with pytest.raises(ApiError) as caught:
            await client.get_job(gid, MISSING_JOB)
    exc = caught.value
    assert type(exc) is ApiError
    assert exc.status == 404
    assert exc.error_code == "LOG_COLLECTION_JOB_NOT_FOUND_IN_GROUP"
    assert (exc.group_id, exc.job_id) == (gid, MISSING_JOB)
    assert str(exc).startswith(f"group {gid} job {MISSING_JOB}: HTTP 404 ")


async def test_a_5xx_is_a_server_error_and_a_listing_retried_by_nobody_here(
    emulator: EmulatorThread, fleet: Fleet, tmp_path: Path
) -> None:
    """The client raises; retrying is the session's job, so exactly one request went out."""
    gid = next(iter(fleet.groups))
    emulator.state.add_listing_faults(gid, [ServerFault(503)])
    async with _client(emulator.base_url, tmp_path, fleet) as client:
        with pytest.raises(ServerError) as caught:
            await client.list_jobs(GroupId(gid))
    assert caught.value.status == 503
    assert caught.value.group_id == gid
    assert emulator.state.counters.list_requests_by_group[gid] == 1


async def test_a_resumed_download_starts_at_its_content_range(
    emulator: EmulatorThread, fleet: Fleet, tmp_path: Path
) -> None:
    gid = GroupId(next(iter(fleet.groups)))
    async with _client(emulator.base_url, tmp_path, fleet) as client:
        (job, *_), _ = await client.list_jobs(gid)
        served = served_archive(fleet, gid, job.id)
        async with client.open_download(job) as whole:
            assert (whole.start, whole.total_length) == (0, len(served))
            validator = whole.validator
            assert validator is not None, "the emulator sends an ETag to resume against"
            first = b"".join([c async for c in whole.chunks])
        offset = len(served) // 3
        async with client.open_download(job, resume_from=offset, validator=validator) as rest:
            assert rest.start == offset, "206: the body starts where Content-Range says"
            assert rest.total_length == len(served), "the archive's full length, not the part's"
            tail = b"".join([c async for c in rest.chunks])
        async with client.open_download(job, resume_from=offset, validator=None) as again:
            assert again.start == 0, "no validator: no Range asked, the body starts over"
            assert b"".join([c async for c in again.chunks]) == served
    assert first == served
    assert tail == served[offset:]


def _watched_client(base_url: str, tmp_path: Path, fleet: Fleet) -> CloudManagerClient:
    """A client whose stall timeout is short: 1 s without a byte cuts a body."""
    return _client(base_url, tmp_path, fleet, stall_timeout_s=1.0, min_rate_bytes_s=0)


async def test_a_reader_slower_than_the_stall_timeout_is_not_a_stall(tmp_path: Path) -> None:
    """The body's buffer fills, aiohttp pauses the socket, and no byte comes for longer than
    the stall timeout: that is the reader (the disk) being behind, not the server falling
    silent. The body arrives whole."""
    fleet = make_fleet(groups=1, jobs_per_group=1, archive_bytes=3 * 1024 * 1024)
    (gid,) = fleet.groups
    with EmulatorThread(fleet, chunk_size=64 * 1024) as emu:
        prerender(emu, fleet)
        async with _watched_client(emu.base_url, tmp_path, fleet) as client:
            (job,), _ = await client.list_jobs(GroupId(gid))
            received = []
            async with client.open_download(job) as body:
                async for chunk in body.chunks:
                    received.append(chunk)
                    if len(received) == 2:
                        await anyio.sleep(2.5)  # a disk that stalls: the socket is paused
    assert b"".join(received) == served_archive(fleet, gid, job.id)


async def test_a_server_silent_mid_body_is_cut_by_the_stall_timeout(tmp_path: Path) -> None:
    """After the headers and some bytes, the server sends nothing for 5 s: the body fails
    with the stall's network error within about the stall timeout, not after the 5 s."""
    fleet = make_fleet(groups=1, jobs_per_group=1, archive_bytes=256 * 1024)
    (gid,) = fleet.groups
    (job_fixture,) = fleet.groups[gid]
    with EmulatorThread(fleet, chunk_size=16 * 1024) as emu:
        emu.state.add_download_faults(job_fixture.id, [Stall(after_bytes=32 * 1024, seconds=5)])
        async with _watched_client(emu.base_url, tmp_path, fleet) as client:
            (job,), _ = await client.list_jobs(GroupId(gid))
            with pytest.raises(NetworkError) as caught:
                await _drain(client, job)
            # Cut by the stall timeout while the server is still inside its 5 s silence: it
            # has sent nothing past the stall (a body waited out would have come whole).
            assert emu.state.counters.bytes_sent == 32 * 1024
    assert "no data from 127.0.0.1:" in str(caught.value)
    assert str(caught.value).endswith("within the timeout")


async def _drain(client: CloudManagerClient, job: Job) -> None:
    async with client.open_download(job) as body:
        async for _ in body.chunks:
            pass
