"""The sink on its own: `receive` into an `ArchiveFile` under a real, locked OUT in a temp folder.

No network and no fake filesystem: bodies are async iterators of real archive bytes, and the
tests look at what is left on disk (names, bytes, inodes) after a body ends, is cancelled,
breaks off or cannot be written.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import anyio
import pytest

from bulkdl.domain.errors import DiskError, NetworkError
from bulkdl.emulator.archives import make_archive
from bulkdl.store.archive_file import BATCH_BYTES, ArchiveFile, receive
from bulkdl.store.outdir import OutDir
from tests.conftest import await_for, make_fleet

GROUP = "5f" * 12
NAME = "5c" * 12 + ".tar.gz"
CHUNK = 64 * 1024


@pytest.fixture
def body() -> bytes:
    """A real archive of about 1.5 MiB: three `writelines` hops of BATCH_BYTES each."""
    fleet = make_fleet(groups=1, jobs_per_group=1, archive_bytes=3 * BATCH_BYTES)
    (job,) = next(iter(fleet.groups.values()))
    data = make_archive(job)
    assert len(data) > 2 * BATCH_BYTES
    return data


@pytest.fixture
def out(tmp_path: Path) -> Iterator[OutDir]:
    opened = OutDir.open(tmp_path / "out")
    yield opened
    opened.close()


async def _chunks(data: bytes, *, then: BaseException | None = None) -> AsyncIterator[bytes]:
    """`data` in CHUNK pieces, as aiohttp hands a body over; then raise `then`, if given."""
    for at in range(0, len(data), CHUNK):
        yield data[at : at + CHUNK]
        await anyio.sleep(0)
    if then is not None:
        raise then


def _ignore(_: int) -> None:
    """on_bytes for tests that do not count progress."""


def _names(out: OutDir) -> list[str]:
    return sorted(p.name for p in (out.path / GROUP).iterdir())


async def test_a_body_is_written_hashed_and_renamed(out: OutDir, body: bytes) -> None:
    file = ArchiveFile(out, GROUP, NAME)
    seen: list[int] = []
    written = await receive(
        _chunks(body), file=file, start=0, total_length=len(body), on_bytes=seen.append
    )
    final = out.path / GROUP / NAME
    assert written.path == final
    assert written.bytes == len(body) == sum(seen)
    assert written.sha256 == hashlib.sha256(body).hexdigest()
    assert final.read_bytes() == body
    assert _names(out) == [NAME], "the .part is renamed, not copied"
    assert final.stat().st_mode & 0o777 == 0o600
    assert not file.is_open


async def test_a_cancelled_write_leaves_no_part(out: OutDir, body: bytes) -> None:
    """Cancelled while the body is still arriving, after some of it is on disk in the .part."""
    stalled = anyio.Event()  # never set: the server went quiet after this much of the body

    async def first_half_then_silence() -> AsyncIterator[bytes]:
        async for chunk in _chunks(body[: 2 * BATCH_BYTES]):
            yield chunk
        await stalled.wait()

    part = out.path / GROUP / (NAME + ".part")
    file = ArchiveFile(out, GROUP, NAME)

    async def download() -> None:
        chunks = first_half_then_silence()
        await receive(chunks, file=file, start=0, total_length=len(body), on_bytes=_ignore)

    async with anyio.create_task_group() as tg:
        tg.start_soon(download)
        await await_for(
            lambda: part.exists() and part.stat().st_size >= BATCH_BYTES, "a batch in the .part"
        )
        tg.cancel_scope.cancel()
    assert _names(out) == [], "no .part and no final file after a cancel"
    assert not file.is_open


async def test_a_resume_appends_to_the_same_inode(out: OutDir, body: bytes) -> None:
    """A network failure keeps the .part; the next attempt continues it with the rest."""
    cut = 2 * BATCH_BYTES + CHUNK
    file = ArchiveFile(out, GROUP, NAME)
    part = out.path / GROUP / (NAME + ".part")
    with pytest.raises(NetworkError):
        await receive(
            _chunks(body[:cut], then=NetworkError("connection reset")),
            file=file,
            start=0,
            total_length=len(body),
            on_bytes=_ignore,
        )
    assert file.written == cut
    assert part.read_bytes() == body[:cut], "what arrived is kept, the last batch included"
    inode = part.stat().st_ino

    written = await receive(
        _chunks(body[cut:]),
        file=file,
        start=cut,
        total_length=len(body),  # the whole archive's, as Content-Range gives it
        on_bytes=_ignore,
    )
    final = out.path / GROUP / NAME
    assert final.stat().st_ino == inode, "the same file, continued and renamed"
    assert final.read_bytes() == body
    assert written.sha256 == hashlib.sha256(body).hexdigest(), "the hash spans both attempts"
    assert _names(out) == [NAME]


@contextmanager
def _file_size_limit(limit: int) -> Iterator[None]:
    """A full disk, as the kernel reports it to writes past `limit` bytes (EFBIG, no signal)."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


async def test_a_disk_error_removes_the_part(out: OutDir, body: bytes) -> None:
    file = ArchiveFile(out, GROUP, NAME)
    with _file_size_limit(BATCH_BYTES + CHUNK), pytest.raises(DiskError) as raised:
        await receive(_chunks(body), file=file, start=0, total_length=len(body), on_bytes=_ignore)
    assert f"{NAME}.part: write failed" in str(raised.value)
    assert _names(out) == [], "a .part that cannot be completed is removed"
    assert not file.is_open


def _open_fds() -> set[str]:
    """What this process holds open (the fd that lists them is gone by the time we look)."""
    targets = set()
    for fd in os.listdir("/proc/self/fd"):
        with suppress(OSError):
            targets.add(os.readlink(f"/proc/self/fd/{fd}"))
    return targets


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
async def test_a_group_folder_is_opened_once_per_run_and_closed_with_out(
    tmp_path: Path, body: bytes
) -> None:
    """Archives of one group share their folder's fd; none is left open by an archive, and
    closing OUT closes the folder's too (a run of thousands of archives leaks nothing)."""
    out = OutDir.open(tmp_path / "out")
    before = _open_fds()
    names = [f"{n:024x}.tar.gz" for n in range(3)]
    for name in names:
        await _write_whole(out, name, body)
    held = _open_fds() - before
    assert len(held) == 1, f"one fd (the group folder) stays open for the run, not {held}"
    assert held == {str(out.path / GROUP)}
    out.close()
    assert _open_fds() <= before
    assert _names_in(tmp_path / "out" / GROUP) == sorted(names)


async def _write_whole(out: OutDir, name: str, body: bytes) -> None:
    """`body` received whole as the archive `name` of GROUP."""
    await receive(
        _chunks(body),
        file=ArchiveFile(out, GROUP, name),
        start=0,
        total_length=len(body),
        on_bytes=_ignore,
    )


def _names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("replaced_by", ["nothing", "a link"])
async def test_a_group_folder_moved_away_mid_run_is_not_written_through(
    tmp_path: Path, body: bytes, replaced_by: str
) -> None:
    """The group folder's fd is kept for the run, but OUT/<group> is checked on every archive:
    moved away, the next archive lands in a new OUT/<group>, never in the moved folder (which
    is now outside OUT); replaced by a link, the next archive fails naming it and the link's
    target gets nothing."""
    out = OutDir.open(tmp_path / "out")
    before = _open_fds()
    first, second = (f"{n:024x}.tar.gz" for n in range(2))
    await _write_whole(out, first, body)
    moved, target = tmp_path / "moved", tmp_path / "target"
    (out.path / GROUP).rename(moved)
    if replaced_by == "a link":
        target.mkdir()
        (out.path / GROUP).symlink_to(target)
        with pytest.raises(DiskError, match="symbolic link"):
            await _write_whole(out, second, body)
        assert list(target.iterdir()) == []
    else:
        await _write_whole(out, second, body)
        assert (out.path / GROUP / second).read_bytes() == body
    assert _names_in(moved) == [first], "nothing more reaches the folder moved out of OUT"
    out.close()
    assert _open_fds() <= before


async def test_an_archive_starting_over_after_its_folder_moved_lands_in_out(
    tmp_path: Path, body: bytes
) -> None:
    """A broken-off attempt keeps its .part; the folder is then moved out of OUT, and the
    server sends the archive whole again (start 0): the old .part goes, and the new one is
    written in a new OUT/<group>, not in the moved folder."""
    out = OutDir.open(tmp_path / "out")
    file = ArchiveFile(out, GROUP, NAME)
    with pytest.raises(NetworkError):
        await receive(
            _chunks(body[:CHUNK], then=NetworkError("connection reset")),
            file=file,
            start=0,
            total_length=len(body),
            on_bytes=_ignore,
        )
    moved = tmp_path / "moved"
    (out.path / GROUP).rename(moved)
    await receive(_chunks(body), file=file, start=0, total_length=len(body), on_bytes=_ignore)
    out.close()
    assert (tmp_path / "out" / GROUP / NAME).read_bytes() == body
    assert _names_in(moved) == [], "its own .part removed, nothing else written there"
