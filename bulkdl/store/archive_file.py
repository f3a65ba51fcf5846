"""Archive files on disk: stream into `<jobId>.tar.gz.part`, prove it complete, rename.

The only module that writes archives. A file under its final name is always complete: the body
goes to `.part` (mode 0600, in a 0700 group folder), is hashed while written, checked against
Content-Length (that it is a tar.gz at all was proven before its first byte reached here: the
receive path sniffs every body that starts at byte 0, see archive_head.py), its gzip stream
checked to its last trailer as it is written with check_gzip (archive_check.GzipCheck, in the
same worker thread as sha256; without it only an empty archive is followed to its trailer),
read back through gzip and every tar header with --verify or when the server never declared
its length, flushed and fsynced, then renamed atomically. A transient
network failure keeps the `.part` so the next attempt can resume it with a Range request; any
other failure, and cancellation, removes it under a shield so the removal itself cannot be
interrupted.

One object per archive file, `ArchiveFile`, holds all of it across attempts (fds, bytes
written, their sha256, the validator for a resume). Its blocking methods run in aiofiles'
executor through `AsyncArchiveFile`, aiofiles' wrapper for it: the loop gathers ~512 KiB of
body per `writelines` hop (write + sha256 + writeback in one call), and one `finish` hop
writes the tail, fsyncs, verifies and renames. A small body costs that single hop.

Every hop is awaited under a shield: a cancelled `await` of an executor future would not stop
the thread, and the fd must never be closed (or the `.part` removed) while a write may still run.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import aiofiles.threadpool
import anyio
from aiofiles.base import AsyncBase
from aiofiles.threadpool.utils import delegate_to_executor

from bulkdl.domain.errors import (
    CorruptArchive,
    DiskError,
    IncompleteDownload,
    NetworkError,
    TransferError,
)
from bulkdl.domain.planner import PART_SUFFIX
from bulkdl.store.archive_check import GzipCheck, Verdict, check_archive_fd
from bulkdl.store.outdir import FILE_MODE, OutDir, open_beneath

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop
    from concurrent.futures import Executor

READ_BLOCK: Final = 1024 * 1024
BATCH_BYTES: Final = 512 * 1024  # body bytes gathered on the loop per thread hop
BATCH_CHUNKS: Final = 256  # ...or this many chunks (a trickling body); below IOV_MAX (1024)
REPORT_EVERY: Final = 16  # chunks between progress reports inside a batch
WRITEBACK_EVERY: Final = 8 * 1024 * 1024  # start writeback (sync_file_range) this often
SYNC_FILE_RANGE_WRITE: Final = getattr(os, "SYNC_FILE_RANGE_WRITE", 2)  # Linux's value
# Read-write: --verify reads the file back through the same descriptor before the rename.
_NEW_PART: Final = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class Written:
    """A complete archive under its final name."""

    path: Path
    bytes: int
    sha256: str
    empty: bool = False  # a gzip of an empty tar, or of nothing: the job collected no logs


class ArchiveFile:
    """One archive being written, across all its attempts. Blocking: methods run in threads.

    The `.part` is created `O_CREAT|O_EXCL|O_NOFOLLOW` in its group folder's fd, after a stale
    one (a regular file) is removed, so no other writer's file is ever truncated and no link is
    followed. A resume keeps writing to the same open fd; before the rename the name `.part`
    must still be that inode, and the final name must not be a link.
    """

    def __init__(self, out: OutDir, group: str, name: str, *, check_gzip: bool = False) -> None:
        self.out = out
        self.check_gzip = check_gzip  # every byte through the gzip check, not just the start
        self.group = group
        self.name = name  # the final name, `<jobId>.tar.gz`
        self.path = out.path / group / name
        self.written = 0
        self.hasher: Any = hashlib.sha256()
        self.validator: str | None = None  # ETag or Last-Modified of the first answer (If-Range)
        self._dir = -1
        self._fd = -1
        self._inode: tuple[int, int] | None = None
        self._unsynced = 0
        # Fed every byte written, in order, across resumes; made at the first write and
        # dropped at the end, so only archives being written hold zlib's state (~40 KiB).
        self.check: GzipCheck | None = None
        self._bad: CorruptArchive | None = None  # the check's verdict, told at the end
        self._unchecked = False  # the check stopped early (not empty, check_gzip off)

    @property
    def is_open(self) -> bool:
        """Holds an fd or a `.part` (read on the loop only between hops, all awaited)."""
        return self._fd >= 0 or self._inode is not None

    @property
    def part_name(self) -> str:
        return self.name + PART_SUFFIX

    def writelines(self, chunks: Sequence[bytes]) -> None:
        """Hash a batch of chunks and write it with one writev, opening the `.part` first.

        One system call per batch: each call lets go of the GIL and must win it back from
        the loop thread, and that handoff, not the copying, is what a write per chunk cost.
        """
        if self._fd < 0:
            self._open()
        try:
            for chunk in chunks:
                self.hasher.update(chunk)
            self._check(chunks)
            size = _write_all(self._fd, chunks)
            self.written += size
            self._unsynced += size
            if self._unsynced >= WRITEBACK_EVERY and hasattr(os, "sync_file_range"):
                os.sync_file_range(self._fd, 0, 0, SYNC_FILE_RANGE_WRITE)
                self._unsynced = 0
        except OSError as exc:
            raise DiskError(f"{self.path}{PART_SUFFIX}: write failed ({exc.strerror})") from None

    def _check(self, chunks: Sequence[bytes]) -> None:
        """Feed the gzip check (in this worker thread, like sha256); a failure is kept for
        `finish`, which tells it with the sha256 of the whole body."""
        if self._bad is not None or self._unchecked:
            return
        if self.check is None:
            self.check = GzipCheck(self.name)
        try:
            for chunk in chunks:
                self.check.feed(chunk)
                if self._check_done:  # not empty: zlib's state is let go at once (memory)
                    self.check, self._unchecked = None, True
                    return
        except CorruptArchive as exc:
            self._bad = exc

    @property
    def _check_done(self) -> bool:
        """Without check_gzip the check stops at the first byte that is not 0: only an empty
        archive (all zeros inside) is followed to its trailer, which proves it whole."""
        return not self.check_gzip and self.check is not None and not self.check.only_zeros

    def finish(self, tail: list[bytes], verify: bool, undeclared: bool = False) -> Written:
        """The last hop: the tail of the body, fsync, the archive check, rename.

        The gzip check (every trailer's CRC32 and ISIZE) ran on the bytes as they came (all of
        them with check_gzip, else only an empty archive's); with
        `verify`, or for a body whose length the server never declared, the full check
        (gzip and every tar header) reads the file back from the disk before the rename.
        """
        self.writelines(tail)
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise DiskError(f"{self.path}: cannot complete ({exc.strerror})") from None
        try:
            if self._bad is not None:
                raise self._bad
            check, self.check = self.check or GzipCheck(self.name), None
            verdict = Verdict(empty=False) if self._unchecked else check.end()
            if verify or undeclared:
                verdict = check_archive_fd(self._fd, self.name)
        except CorruptArchive as exc:
            exc.sha256 = self.hasher.hexdigest()
            raise
        self._check_still_ours()
        self._refuse_link(self.name)
        try:
            os.replace(self.part_name, self.name, src_dir_fd=self._dir, dst_dir_fd=self._dir)
        except OSError as exc:
            raise DiskError(f"{self.path}: cannot complete ({exc.strerror})") from None
        self._inode = None  # the `.part` name is gone: nothing left to remove
        self.close()
        return Written(self.path, self.written, self.hasher.hexdigest(), verdict.empty)

    def discard(self) -> None:
        """Remove our `.part` (never a file we did not create), close, start again from 0."""
        try:
            if self._inode is not None and self._part_inode() == self._inode:
                os.unlink(self.part_name, dir_fd=self._dir)
        except OSError:
            pass  # already gone, or its folder is: nothing of ours is left to remove
        self._inode = None
        self.close()
        self.written = 0
        self.hasher = hashlib.sha256()
        self.check = None
        self._bad = None
        self._unchecked = False

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1

    def _open(self) -> None:
        # OutDir's, shared (never closed here), and checked to still be OUT/<group> on every
        # fresh start, as when each start opened the folder itself.
        self._dir = self.out.group_dir(self.group)
        self._refuse_link(self.name)
        if self._refuse_link(self.part_name):
            try:
                os.unlink(self.part_name, dir_fd=self._dir)  # a stale `.part`: a regular file
            except FileNotFoundError:
                pass
            except OSError as exc:
                where = f"{self.path}{PART_SUFFIX}"
                raise DiskError(f"{where}: cannot remove ({exc.strerror})") from None
        try:
            self._fd = os.open(self.part_name, _NEW_PART, FILE_MODE, dir_fd=self._dir)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise DiskError(
                    f"{self.path}{PART_SUFFIX}: created by another process meanwhile"
                ) from None
            raise DiskError(f"{self.path}{PART_SUFFIX}: write failed ({exc.strerror})") from None
        st = os.fstat(self._fd)
        self._inode = (st.st_dev, st.st_ino)
        self._unsynced = 0

    def _part_inode(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.part_name, dir_fd=self._dir, follow_symlinks=False)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino)

    def _check_still_ours(self) -> None:
        try:
            ours = self._part_inode() == self._inode
        except OSError as exc:
            raise DiskError(f"{self.path}{PART_SUFFIX}: cannot check ({exc.strerror})") from None
        if not ours:
            raise DiskError(f"{self.path}{PART_SUFFIX}: replaced by another process; not renamed")

    def _refuse_link(self, name: str) -> bool:
        """DiskError when `name` in the group folder is a symbolic link (or not a file);
        whether it exists (a regular file) otherwise."""
        try:
            st = os.stat(name, dir_fd=self._dir, follow_symlinks=False)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise DiskError(f"{self.out.path / self.group / name}: {exc.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            raise DiskError(
                f"{self.out.path / self.group / name}: is a symbolic link; bulkdl does not "
                "follow it (remove it)"
            )
        if not stat.S_ISREG(st.st_mode):
            raise DiskError(f"{self.out.path / self.group / name}: is not a regular file")
        return True


if TYPE_CHECKING:
    _AsyncBase = AsyncBase[bytes]  # generic in the stubs only
else:
    _AsyncBase = AsyncBase


@delegate_to_executor("writelines", "finish", "discard")
class AsyncArchiveFile(_AsyncBase):
    """aiofiles' wrapper for an ArchiveFile: each method is one hop to aiofiles' executor."""

    if TYPE_CHECKING:

        async def writelines(self, chunks: Sequence[bytes]) -> None: ...
        async def finish(
            self, tail: list[bytes], verify: bool, undeclared: bool = False
        ) -> Written: ...
        async def discard(self) -> None: ...


@aiofiles.threadpool.wrap.register(ArchiveFile)
def _wrap(
    file: ArchiveFile,
    *,
    loop: AbstractEventLoop | None = None,
    executor: Executor | None = None,
) -> AsyncArchiveFile:
    return AsyncArchiveFile(file, loop, executor)  # type: ignore[arg-type]  # not an IO, on purpose


def wrap(file: ArchiveFile) -> AsyncArchiveFile:
    """The aiofiles face of `file` (typed: aiofiles' own `wrap` returns Any)."""
    wrapped: AsyncArchiveFile = aiofiles.threadpool.wrap(file)
    return wrapped


async def discard(file: ArchiveFile) -> None:
    """Remove `file`'s `.part` and close it; shielded, so cancellation cannot leave it behind.

    No hop when nothing is open (after a rename, or before the first byte).
    """
    if file.is_open:
        with anyio.CancelScope(shield=True):
            await wrap(file).discard()


async def receive(
    chunks: AsyncIterator[bytes],
    *,
    file: ArchiveFile,
    start: int,
    total_length: int | None,
    on_bytes: Callable[[int], None],
    verify: bool = False,
) -> Written:
    """Write a body (starting at byte `start` of the archive) into `file`, verify, rename.

    `start` > 0 continues a `.part` holding exactly `file.written` == `start` bytes; `start`
    == 0 after some bytes (the server sent the whole archive again) starts a fresh `.part`.
    """
    afile = wrap(file)
    if start == 0 and file.written:
        await discard(file)
    elif start != file.written:
        raise TransferError(f"{file.name}: cannot resume at {start}")  # a bug if reached
    batch: list[bytes] = []  # gathered on the loop, written by the next hop
    try:
        await _stream(chunks, file, afile, batch, on_bytes)
        _check_length(file, file.written + sum(map(len, batch)), total_length)
        # Shielded: once the rename may happen, the caller must learn whether it did, so that
        # a finished archive always gets its manifest line even if Ctrl-C lands right now.
        with anyio.CancelScope(shield=True):
            written = await afile.finish(batch, verify, total_length is None)
    except (NetworkError, IncompleteDownload):
        # Keep what arrived in the .part: the next attempt may resume it with a Range request.
        with anyio.CancelScope(shield=True):
            try:
                if batch:
                    await afile.writelines(batch)
            except DiskError:
                await discard(file)
        raise
    except BaseException:
        await discard(file)
        raise
    return written


async def _stream(
    chunks: AsyncIterator[bytes],
    file: ArchiveFile,
    afile: AsyncArchiveFile,
    batch: list[bytes],
    on_bytes: Callable[[int], None],
) -> None:
    """Gather the body into `batch`, one `writelines` hop per ~512 KiB.

    Per chunk only an append and two counters: progress is told every REPORT_EVERY chunks
    (so a trickling body still shows it moves) and at each hop. A batch of many tiny chunks is
    written early, so its list stays small.
    """
    batched = reported = 0
    async for chunk in chunks:
        batch.append(chunk)
        batched += len(chunk)
        if batched >= BATCH_BYTES or len(batch) >= BATCH_CHUNKS:
            on_bytes(batched - reported)
            await _write(file, afile, batch)
            batched = reported = 0
        elif len(batch) % REPORT_EVERY == 0:
            on_bytes(batched - reported)
            reported = batched
    if batched > reported:
        on_bytes(batched - reported)


async def _write(file: ArchiveFile, afile: AsyncArchiveFile, batch: list[bytes]) -> None:
    """One hop: `batch` written and hashed, then emptied (its bytes freed)."""
    with anyio.CancelScope(shield=True):  # the thread cannot be stopped: wait for it
        await afile.writelines(batch)
    batch.clear()


def _write_all(fd: int, chunks: Sequence[bytes]) -> int:
    """Write every chunk, in order, with as few `writev` calls as the kernel allows (blocking).

    A short write (a signal, a nearly full disk) continues from the byte it stopped at.
    """
    total = sum(map(len, chunks))
    done = os.writev(fd, chunks) if chunks else 0
    if done < total:
        rest = memoryview(b"".join(chunks))[done:]  # rare: the copy does not matter here
        while rest:
            rest = rest[os.write(fd, rest) :]
    return total


def _check_length(file: ArchiveFile, received: int, total_length: int | None) -> None:
    if total_length is not None and received != total_length:
        raise IncompleteDownload(
            f"{file.name}: body ended after {received} of {total_length} bytes",
            received=received,
            expected=total_length,
        )
    if received == 0:
        raise TransferError(f"{file.name}: the server sent an empty body")


def hash_matches(fd: int, size: int, sha256: str) -> bool:
    """True when the open file `fd` holds exactly `size` bytes hashing to `sha256` (blocking)."""
    if os.fstat(fd).st_size != size:
        return False
    digest = hashlib.sha256()
    with os.fdopen(os.dup(fd), "rb") as f:
        while block := f.read(READ_BLOCK):
            digest.update(block)
    return digest.hexdigest() == sha256


def file_matches(out: OutDir, group: str, name: str, size: int, sha256: str) -> bool:
    """True when OUT/group/name (reached through no link) holds what a run recorded."""
    try:
        fd = open_beneath(out.fd, (group, name))
    except OSError:
        return False
    try:
        return hash_matches(fd, size, sha256)
    except OSError:
        return False
    finally:
        os.close(fd)


async def already_complete(out: OutDir, group: str, name: str, size: int, sha256: str) -> bool:
    """True when the archive holds exactly what an earlier run recorded (hashed off the loop)."""
    return await anyio.to_thread.run_sync(file_matches, out, group, name, size, sha256)
