"""Archive files on disk: stream into `<jobId>.tar.gz.part`, prove it complete, rename.

The only module that writes archives. A file under its final name is always complete: the body
goes to `.part` (mode 0600, in a 0700 group folder), is hashed while written, checked for the
gzip magic and against Content-Length, optionally read through gzip+tar to its end (--verify),
flushed and fsynced, then renamed atomically. A transient network failure keeps the `.part`
so the next attempt can resume it with a Range request; any other failure, and cancellation,
removes it under a shield so the removal itself cannot be interrupted.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import anyio

from bulkdl.errors import (
    CorruptArchive,
    DiskError,
    IncompleteDownload,
    NetworkError,
    TransferError,
)

GZIP_MAGIC: Final = b"\x1f\x8b"
DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600
READ_BLOCK: Final = 1024 * 1024
BATCH_BYTES: Final = 512 * 1024  # body bytes gathered on the loop per thread hop
WRITEBACK_EVERY: Final = 8 * 1024 * 1024  # start writeback (sync_file_range) this often
SYNC_FILE_RANGE_WRITE: Final = getattr(os, "SYNC_FILE_RANGE_WRITE", 2)  # Linux's value


@dataclass(frozen=True, slots=True)
class Written:
    """A complete archive under its final name."""

    path: Path
    bytes: int
    sha256: str


@dataclass(slots=True)
class PartProgress:
    """What the `.part` file holds across attempts, so a resumed body continues its hash."""

    written: int = 0
    hasher: Any = field(default_factory=hashlib.sha256)
    validator: str | None = None  # ETag or Last-Modified of the first answer, for If-Range

    def reset(self) -> None:
        self.written = 0
        self.hasher = hashlib.sha256()


def make_private_dir(path: Path) -> None:
    """Create a folder readable only by us (archives hold sensitive logs); blocking."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def check_archive(path: Path) -> None:
    """Read gzip and tar to the very end (CRC and length checked); raise CorruptArchive. Blocking.

    Nothing is extracted: member data is read and dropped.
    """
    try:
        with tarfile.open(path, mode="r|gz") as tar:
            for member in tar:
                data = tar.extractfile(member)
                if data is not None:
                    while data.read(READ_BLOCK):
                        pass
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise CorruptArchive(f"{path.name}: not a readable tar.gz ({exc})") from None


async def remove_part(part_path: Path) -> None:
    """Remove a `.part` file; shielded, so cancellation cannot leave it behind."""
    with anyio.CancelScope(shield=True):
        await anyio.Path(part_path).unlink(missing_ok=True)


class PartWriter:
    """The blocking half of the sink: each method is one thread hop, doing all it can.

    A hop costs a thread wake-up and a loop wake-up; per archive we pay one to open, one per
    batch of body (write *and* hash there, off the loop), and one to finish (fsync, close,
    optional verify, rename). A body small enough to arrive whole costs a single hop.
    `sync_file_range` starts writeback every few MiB so the final fsync has little left to do.
    """

    def __init__(self, part_path: Path, *, append: bool) -> None:
        make_private_dir(part_path.parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
        self.fd: int | None = os.open(part_path, flags, FILE_MODE)
        self._unsynced = 0

    def write(self, chunks: list[bytes], hasher: Any) -> None:
        """Write and hash a batch of chunks (blocking)."""
        assert self.fd is not None
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(self.fd, view) :]
            hasher.update(chunk)
            self._unsynced += len(chunk)
        if self._unsynced >= WRITEBACK_EVERY and hasattr(os, "sync_file_range"):
            os.sync_file_range(self.fd, 0, 0, SYNC_FILE_RANGE_WRITE)
            self._unsynced = 0

    def close(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    def finish(self, part_path: Path, final_path: Path, verify: bool) -> None:
        """fsync, close, optionally read through gzip+tar, rename (blocking)."""
        assert self.fd is not None
        try:
            os.fsync(self.fd)
        finally:
            self.close()
        if verify:
            check_archive(part_path)
        os.replace(part_path, final_path)


async def receive(
    chunks: AsyncIterator[bytes],
    *,
    final_path: Path,
    part_path: Path,
    start: int,
    total_length: int | None,
    progress: PartProgress,
    on_bytes: Callable[[int], None],
    verify: bool = False,
) -> Written:
    """Write a body (starting at byte `start` of the archive) to `part_path`, verify, rename.

    `start` > 0 appends to a `.part` holding exactly `progress.written` == `start` bytes.
    """
    if start == 0:
        progress.reset()
    elif start != progress.written:
        raise TransferError(f"{final_path.name}: cannot resume at {start}")  # a bug if reached
    part = _Part(part_path, append=start > 0)
    try:
        await _stream(chunks, part, final_path, total_length, progress, on_bytes)
        # Shielded: once the rename may happen, the caller must learn whether it did, so that
        # a finished archive always gets its manifest line even if Ctrl-C lands right now.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(part.complete, final_path, progress, verify)
    except (NetworkError, IncompleteDownload):
        # Keep what arrived in the .part: the next attempt may resume it with a Range request.
        with anyio.CancelScope(shield=True):
            try:
                await anyio.to_thread.run_sync(part.flush_batch, progress)
            except DiskError:
                progress.reset()
                await anyio.Path(part_path).unlink(missing_ok=True)
            finally:
                await anyio.to_thread.run_sync(part.close)
        raise
    except BaseException:
        progress.reset()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(part.close)
            await anyio.Path(part_path).unlink(missing_ok=True)
        raise
    return Written(final_path, progress.written, progress.hasher.hexdigest())


async def _stream(
    chunks: AsyncIterator[bytes],
    part: _Part,
    final_path: Path,
    total_length: int | None,
    progress: PartProgress,
    on_bytes: Callable[[int], None],
) -> None:
    """Gather the body into batches and hand each to a thread; check gzip magic and length."""
    async for chunk in chunks:
        if (
            progress.written == 0
            and not part.batch
            and not chunk.startswith(GZIP_MAGIC[: len(chunk)])
        ):
            raise TransferError(
                f"{final_path.name}: the server sent something that is not a gzip "
                f"archive (it starts with {chunk[:16]!r})"
            )
        part.batch.append(chunk)
        part.batched += len(chunk)
        on_bytes(len(chunk))
        if part.batched >= BATCH_BYTES:
            await anyio.to_thread.run_sync(part.flush_batch, progress)
    received = progress.written + part.batched
    if total_length is not None and received != total_length:
        raise IncompleteDownload(
            f"{final_path.name}: body ended after {received} of {total_length} bytes",
            received=received,
            expected=total_length,
        )
    if received == 0:
        raise TransferError(f"{final_path.name}: the server sent an empty body")


class _Part:
    """A `.part` file being written: the batch gathered on the loop, the writer in threads."""

    def __init__(self, path: Path, *, append: bool) -> None:
        self.path = path
        self.append = append
        self.batch: list[bytes] = []
        self.batched = 0
        self.writer: PartWriter | None = None

    def flush_batch(self, progress: PartProgress) -> None:
        """Write and hash the gathered batch (blocking; one thread hop)."""
        if not self.batch:
            return
        try:
            self.writer = self.writer or PartWriter(self.path, append=self.append)
            self.writer.write(self.batch, progress.hasher)
        except OSError as exc:
            raise DiskError(f"{self.path}: write failed ({exc.strerror})") from None
        progress.written += self.batched
        self.batch, self.batched = [], 0

    def complete(self, final_path: Path, progress: PartProgress, verify: bool) -> None:
        """The last hop: remaining bytes, fsync, verify, rename (a small body: all of it)."""
        self.flush_batch(progress)
        assert self.writer is not None
        try:
            self.writer.finish(self.path, final_path, verify)
        except OSError as exc:
            raise DiskError(f"{final_path}: cannot complete ({exc.strerror})") from None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def file_matches(path: Path, size: int, sha256: str) -> bool:
    try:
        if path.stat().st_size != size:
            return False
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(READ_BLOCK):
                digest.update(block)
    except OSError:
        return False
    return digest.hexdigest() == sha256


async def already_complete(path: Path, size: int, sha256: str) -> bool:
    """True when `path` holds exactly the bytes an earlier run recorded (hashed off the loop)."""
    return await anyio.to_thread.run_sync(file_matches, path, size, sha256)
