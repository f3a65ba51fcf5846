"""Archive files on disk: stream into `<jobId>.tar.gz.part`, prove it complete, rename.

The only module that writes archives. A file under its final name is always complete: the body
goes to `.part` (mode 0600, in a 0700 group folder), is hashed while written, checked against
Content-Length, flushed and fsynced, then renamed atomically. Any failure or cancellation
removes the `.part` under a shield so it cannot be interrupted half-way.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import aiofiles
import anyio

from bulkdl.errors import DiskError, IncompleteDownload, TransferError

GZIP_MAGIC: Final = b"\x1f\x8b"
DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600
HASH_BLOCK: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Written:
    """A complete archive under its final name."""

    path: Path
    bytes: int
    sha256: str


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, FILE_MODE)


def make_private_dir(path: Path) -> None:
    """Create a folder readable only by us (archives hold sensitive logs); blocking."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


async def receive(
    chunks: AsyncIterator[bytes],
    *,
    final_path: Path,
    part_path: Path,
    content_length: int | None,
    on_bytes: Callable[[int], None],
) -> Written:
    """Write a body to `part_path`, verify it and rename it to `final_path`."""
    try:
        await anyio.to_thread.run_sync(make_private_dir, final_path.parent)
    except OSError as exc:
        raise DiskError(f"{final_path.parent}: cannot create folder ({exc.strerror})") from None
    digest = hashlib.sha256()
    written = 0
    try:
        try:
            f = await aiofiles.open(part_path, "wb", opener=_private_opener)
        except OSError as exc:
            raise DiskError(f"{part_path}: cannot create ({exc.strerror})") from None
        try:
            async for chunk in chunks:
                if written == 0 and not chunk.startswith(GZIP_MAGIC[: len(chunk)]):
                    raise TransferError(
                        f"{final_path.name}: the server sent something that is not a gzip "
                        f"archive (starts with {chunk[:16]!r})"
                    )
                try:
                    await f.write(chunk)
                except OSError as exc:
                    raise DiskError(f"{part_path}: write failed ({exc.strerror})") from None
                digest.update(chunk)
                written += len(chunk)
                on_bytes(len(chunk))
            if content_length is not None and written != content_length:
                raise IncompleteDownload(
                    f"{final_path.name}: body ended after {written} of {content_length} bytes",
                    received=written,
                    expected=content_length,
                )
            if written == 0:
                raise TransferError(f"{final_path.name}: the server sent an empty body")
            try:
                await f.flush()
                await anyio.to_thread.run_sync(os.fsync, f.fileno())
            except OSError as exc:
                raise DiskError(f"{part_path}: flush failed ({exc.strerror})") from None
        finally:
            with anyio.CancelScope(shield=True):
                await f.close()
        try:
            await anyio.to_thread.run_sync(os.replace, part_path, final_path)
        except OSError as exc:
            raise DiskError(f"{final_path}: rename failed ({exc.strerror})") from None
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.Path(part_path).unlink(missing_ok=True)
        raise
    return Written(final_path, written, digest.hexdigest())


def _file_matches(path: Path, size: int, sha256: str) -> bool:
    try:
        if path.stat().st_size != size:
            return False
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(HASH_BLOCK):
                digest.update(block)
    except OSError:
        return False
    return digest.hexdigest() == sha256


async def already_complete(path: Path, size: int, sha256: str) -> bool:
    """True when `path` holds exactly the bytes an earlier run recorded (hashed off the loop)."""
    return await anyio.to_thread.run_sync(_file_matches, path, size, sha256)
