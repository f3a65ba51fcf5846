"""The archive check: one implementation, one meaning, wherever an archive is judged.

A tar.gz passes when its gzip stream reads to its very end, every member's CRC32 and ISIZE
trailer matching what it inflated to (several members, and zero padding after them, as gzip
allows), and, for the full check, when every tar header reads and every member's bytes are
there. Link members are members like any other: listed, never opened as files. An archive
whose tar holds no member and inflates to nothing but zeros (or to nothing) is `empty`: what
Cloud Manager serves for a job that collected no logs.

Two ways in, same decoder:
* `GzipCheck`, pushed the bytes as they are written (in the archive file's worker thread, so
  the download path checks every gzip trailer without reading the file again);
* `check_archive_fd`, the full check of a file on disk (`--verify`, `--extract`, `bulkdl
  verify`, and a body whose length the server never declared): gzip as above, plus tarfile's
  stream reader walking every header.

Blocking; memory bounded by OUT_STEP whatever the archive inflates to.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

from bulkdl.domain.errors import CorruptArchive

IN_STEP: Final = 16 * 1024  # compressed bytes inflated per call (bounds zlib's tail copy)
OUT_STEP: Final = 64 * 1024  # most inflated bytes one call returns (a bomb stays small)
READ_BLOCK: Final = 1024 * 1024
_TAR_BLOCK: Final = 512
_ZLIB_WORDS: Final = {
    "incorrect data check": "its gzip CRC32 does not match its data",
    "incorrect length check": "its gzip length (ISIZE) does not match its data",
    "incorrect header check": "not gzip",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """A checked archive: whether it is empty, its members (full check only), and the bytes
    its regular members hold (what extracting it writes)."""

    empty: bool
    members: int | None = None
    member_bytes: int | None = None


class GzipCheck:
    """A gzip stream fed in order; raises CorruptArchive (as `name`) when it is not whole."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.inflated = 0
        self.only_zeros = True  # every inflated byte so far was 0 (an empty tar is all zeros)
        self._inflate: Any = zlib.decompressobj(31)  # 31: gzip wrapper, trailer checked by zlib
        self._fed = False
        self.gzip_members = 0  # gzip members read to their trailer
        self._between = False  # a member just ended: padding or another member may follow

    def feed(self, data: bytes) -> None:
        """Check the next compressed bytes, dropping what they inflate to."""
        for out in self.inflate(data):
            self.count(out)

    def count(self, out: bytes) -> None:
        self.inflated += len(out)
        if self.only_zeros and out.count(0) != len(out):
            self.only_zeros = False

    def inflate(self, data: bytes) -> Iterator[bytes]:
        """What `data` inflates to, at most OUT_STEP bytes at a time, trailers checked."""
        for at in range(0, len(data), IN_STEP):
            yield from self._inflate_piece(data[at : at + IN_STEP])

    def _inflate_piece(self, piece: bytes) -> Iterator[bytes]:
        self._fed = self._fed or bool(piece)
        while piece:
            if self._between:
                piece = piece.lstrip(b"\0")  # gzip allows zero padding after a member
                if not piece:
                    return
                self._inflate = zlib.decompressobj(31)
                self._between = False
            try:
                out = self._inflate.decompress(piece, OUT_STEP)
                yield out
                # Output capped: the rest waits in unconsumed_tail, or inside zlib when the
                # input ran out exactly as the output filled up.
                while not self._inflate.eof and (
                    self._inflate.unconsumed_tail or len(out) == OUT_STEP
                ):
                    out = self._inflate.decompress(self._inflate.unconsumed_tail, OUT_STEP)
                    yield out
            except zlib.error as exc:
                raise CorruptArchive(f"{self.name}: {self._explain(exc)}") from None
            if not self._inflate.eof:
                return
            self._between = True  # this member's CRC32 and ISIZE matched
            self.gzip_members += 1
            piece = self._inflate.unused_data  # (unconsumed_tail may still hold a stale copy)

    def end(self) -> Verdict:
        """The stream is over: it must have ended with a member's trailer."""
        if not self._fed:
            raise CorruptArchive(f"{self.name}: empty (not even a gzip header)")
        if not self._between:
            raise CorruptArchive(
                f"{self.name}: the gzip stream ends before its trailer (cut short?)"
            )
        return Verdict(empty=self.only_zeros)

    def _explain(self, exc: zlib.error) -> str:
        text = str(exc)
        said = next((words for key, words in _ZLIB_WORDS.items() if key in text), None)
        if said == "not gzip" and self.gzip_members:
            return "bytes after the gzip stream's end are not gzip"
        return said or f"not a valid gzip stream ({text.split(': ', 1)[-1]})"


class _Inflated:
    """A file-like of what a file inflates to, for tarfile's stream reader (pull, bounded)."""

    def __init__(self, raw: BinaryIO, check: GzipCheck) -> None:
        self._raw = raw
        self._check = check
        self._pieces: Iterator[bytes] = iter(())
        self._buf = bytearray()
        self._eof = False

    def read(self, size: int = -1) -> bytes:
        want = READ_BLOCK if size < 0 else size
        while len(self._buf) < want and not self._eof:
            out = next(self._pieces, None)
            if out is not None:
                self._check.count(out)
                self._buf += out
                continue
            data = self._raw.read(READ_BLOCK)
            if not data:
                self._eof = True
                self._check.end()
            self._pieces = self._check.inflate(data)
        taken = bytes(self._buf[:want])
        del self._buf[:want]
        return taken

    def drain(self) -> None:
        while self.read(READ_BLOCK):
            pass


def check_archive_fd(fd: int, name: str) -> Verdict:
    """The full check of the file open at `fd` (from its start, through a duplicate: `fd`'s
    offset moves, so call it after the last write). Blocking; raises CorruptArchive."""
    try:
        with os.fdopen(os.dup(fd), "rb") as raw:
            raw.seek(0)
            return check_archive(raw, name)
    except OSError as exc:
        raise CorruptArchive(f"{name}: cannot read it back ({exc.strerror})") from None


def check_archive(raw: BinaryIO, name: str) -> Verdict:
    """Gzip to its end and every tar header, from `raw`'s current position."""
    import tarfile  # here: a plain download never needs it, and starts sooner

    check = GzipCheck(name)
    inflated = _Inflated(raw, check)
    stream: _Inflated | _Replayed = inflated
    head = inflated.read(_TAR_BLOCK)
    members = member_bytes = 0
    if head.count(0) != len(head):  # not the end-of-archive block (nor nothing at all)
        stream = _Replayed(head, inflated)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:  # stream mode reads each member's bytes to reach the next
                    members += 1
                    member_bytes += member.size if member.isreg() else 0
        except (tarfile.TarError, EOFError) as exc:
            raise CorruptArchive(f"{name}: not a readable tar archive ({exc})") from None
    stream.drain()  # the rest of the gzip stream: its trailers are checked at its end
    if members == 0 and not check.only_zeros:
        raise CorruptArchive(f"{name}: its tar ends at its first block, yet data follows")
    return Verdict(empty=members == 0, members=members, member_bytes=member_bytes)


class _Replayed:
    """`head`, then the rest of `stream` (the block looked at before tarfile starts)."""

    def __init__(self, head: bytes, stream: _Inflated) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._stream.read(size)
        cut = len(self._head) if size < 0 else size
        taken, self._head = self._head[:cut], self._head[cut:]
        if len(taken) < cut:
            taken += self._stream.read(cut - len(taken))
        return taken

    def drain(self) -> None:
        self._stream.drain()
