"""Archives that are valid but unusual, chosen per job (`EmulatedJob.archive_kind`).

    logs           the usual: one file per child job (archives.py)
    empty          a job whose hosts had nothing in the window: a gzip of an empty tar (only
                   the end-of-archive blocks), as Cloud Manager serves it
    empty-gzip     a 200 with a gzip that inflates to nothing, as some backends answer
    links          log rotation: mongodb.log a symbolic link to the dated file, plus a hard link
    escaping-links links that leave the job's folder (../, absolute) next to a good file
    bomb           one file of zeros, inflating BOMB_RATIO times the job's archive size: a
                   valid archive no one should extract blindly

Bytes are deterministic per job, like every emulated archive.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from typing import Final

ARCHIVE_KINDS: Final = ("logs", "empty", "empty-gzip", "links", "escaping-links", "bomb")
BOMB_RATIO: Final = 1024  # bytes inflated per archive byte asked for (deflate tops out ~1030)
_ZEROS: Final = bytes(1024 * 1024)


def render_kind(kind: str, name: str, size: int, mtime: int) -> bytes:
    """The archive of a job of this kind (not "logs": archives.py renders those)."""
    if kind == "empty":
        return gzip.compress(_tar([]), mtime=mtime)
    if kind == "empty-gzip":
        return gzip.compress(b"", mtime=mtime)
    if kind == "bomb":
        return _bomb(f"{name}/mongodb.log", size * BOMB_RATIO, mtime)
    if kind in ("links", "escaping-links"):
        return gzip.compress(_tar(_links(name, mtime, kind == "escaping-links")), mtime=mtime)
    raise ValueError(f"unknown archive kind {kind!r}; expected one of {ARCHIVE_KINDS}")


def _links(host: str, mtime: int, escaping: bool) -> list[tuple[tarfile.TarInfo, bytes]]:
    dated = f"{host}/27017/mongodb/mongodb.log.2026-12-01T00-00-00"
    text = b'{"t":{"$date":"2026-12-01T00:00:00.000+00:00"},"s":"I","msg":"rotated"}\n' * 64
    members = [
        (_entry(host, tarfile.DIRTYPE, mtime), b""),
        (_entry(dated, tarfile.REGTYPE, mtime), text),
        (_entry(f"{host}/27017/mongodb/mongodb.log", tarfile.SYMTYPE, mtime, dated), b""),
        (_entry(f"{host}/27017/mongodb/mongodb.log.1", tarfile.LNKTYPE, mtime, dated), b""),
    ]
    if escaping:
        members.append(
            (_entry(f"{host}/passwd", tarfile.SYMTYPE, mtime, "../../../etc/passwd"), b"")
        )
        members.append((_entry(f"{host}/shadow", tarfile.LNKTYPE, mtime, "/etc/shadow"), b""))
    return members


def _entry(name: str, kind: bytes, mtime: int, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mtime = mtime
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.uname = info.gname = "mongodb-mms"
    if kind == tarfile.SYMTYPE:
        info.linkname = link.rsplit("/", 1)[-1] if not link.startswith(("..", "/")) else link
    elif kind == tarfile.LNKTYPE:
        info.linkname = link  # a hard link names the member by its archive path
    return info


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return raw.getvalue()


def _bomb(name: str, inflated: int, mtime: int) -> bytes:
    """A tar holding `inflated` zero bytes in one file, compressed as it is built (no copy of
    the inflated bytes is ever held)."""
    info = _entry(name, tarfile.REGTYPE, mtime)
    info.size = inflated
    header = info.tobuf(tarfile.PAX_FORMAT)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [packer.compress(header)]
    left = inflated + (-inflated % tarfile.BLOCKSIZE) + 2 * tarfile.BLOCKSIZE
    while left > 0:
        step = min(left, len(_ZEROS))
        out.append(packer.compress(_ZEROS[:step]))
        left -= step
    out.append(packer.flush())
    return b"".join(out)
