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

import aiofiles
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


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, FILE_MODE)


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
    try:
        await anyio.to_thread.run_sync(make_private_dir, final_path.parent)
    except OSError as exc:
        raise DiskError(f"{final_path.parent}: cannot create folder ({exc.strerror})") from None
    if start == 0:
        progress.reset()
    elif start != progress.written:
        raise TransferError(f"{final_path.name}: cannot resume at {start}")  # a bug if reached
    try:
        try:
            f = await aiofiles.open(part_path, "ab" if start else "wb", opener=_private_opener)
        except OSError as exc:
            raise DiskError(f"{part_path}: cannot create ({exc.strerror})") from None
        try:
            async for chunk in chunks:
                if progress.written == 0 and not chunk.startswith(GZIP_MAGIC[: len(chunk)]):
                    raise TransferError(
                        f"{final_path.name}: the server sent something that is not a gzip "
                        f"archive (it starts with {chunk[:16]!r})"
                    )
                try:
                    await f.write(chunk)
                except OSError as exc:
                    raise DiskError(f"{part_path}: write failed ({exc.strerror})") from None
                progress.hasher.update(chunk)
                progress.written += len(chunk)
                on_bytes(len(chunk))
            if total_length is not None and progress.written != total_length:
                raise IncompleteDownload(
                    f"{final_path.name}: body ended after {progress.written} of "
                    f"{total_length} bytes",
                    received=progress.written,
                    expected=total_length,
                )
            if progress.written == 0:
                raise TransferError(f"{final_path.name}: the server sent an empty body")
            try:
                await f.flush()
                await anyio.to_thread.run_sync(os.fsync, f.fileno())
            except OSError as exc:
                raise DiskError(f"{part_path}: flush failed ({exc.strerror})") from None
        finally:
            with anyio.CancelScope(shield=True):
                await f.close()
        if verify:
            await anyio.to_thread.run_sync(check_archive, part_path)
        try:
            # Shielded: once the rename starts, the caller must learn that it happened, so
            # that the archive gets its manifest line even if Ctrl-C lands right now.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(os.replace, part_path, final_path)
        except OSError as exc:
            raise DiskError(f"{final_path}: rename failed ({exc.strerror})") from None
    except (NetworkError, IncompleteDownload):
        raise  # keep the .part: the next attempt may resume it
    except BaseException:
        progress.reset()
        await remove_part(part_path)
        raise
    return Written(final_path, progress.written, progress.hasher.hexdigest())


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
