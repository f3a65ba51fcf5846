"""A tar stream read once, front to back: (member name, its bytes in blocks), nothing on disk.

Why not `tarfile`: in stream mode it copies every block through its own 10 KiB record buffer
and hides how far it got; here member data comes out as the inflater's own blocks, and a short
or garbled stream is a CorruptData naming what broke. Handles ustar names with prefixes, PAX
`path` records and GNU long names, which is what GNU tar and Python's tarfile write.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

from bulkdl.search.inflate import CorruptData

_HEADER: Final = 512
_REGULAR: Final = frozenset({b"0", b"\0", b"7"})


class ByteSource:
    """Exact-size reads and pass-through streams over an iterator of byte blocks.

    Keeps an offset into the current block instead of slicing off what was read: a 512-byte
    header taken from a 2 MiB block must not copy the other 2 MiB.
    """

    def __init__(self, blocks: Iterable[bytes]) -> None:
        self._blocks = iter(blocks)
        self._head = b""
        self._pos = 0  # the unread rest of the current block starts here

    def _fill(self) -> bool:
        if self._pos >= len(self._head):
            self._head, self._pos = next(self._blocks, b""), 0
        return bool(self._head)

    def take(self, n: int) -> bytes:
        """Exactly `n` bytes, or fewer at the end of the stream."""
        parts = []
        while n > 0 and self._fill():
            part = self._head[self._pos : self._pos + n]
            self._pos += len(part)
            parts.append(part)
            n -= len(part)
        return b"".join(parts)

    def stream(self, n: int) -> Iterator[bytes]:
        """The next `n` bytes as blocks; CorruptData if the stream ends first."""
        while n > 0:
            if not self._fill():
                raise CorruptData(f"truncated: {n} bytes of a member are missing")
            head, pos = self._head, self._pos
            part = head if pos == 0 and len(head) <= n else head[pos : pos + n]
            self._pos += len(part)
            n -= len(part)
            yield part


def _octal(field: bytes) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256 for sizes over 8 GiB
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise CorruptData("not a tar archive (a header's size field is garbled)") from None


def _checked(header: bytes) -> None:
    stored = _octal(header[148:156])
    actual = sum(header[:148]) + 8 * 32 + sum(header[156:])
    if stored != actual:
        raise CorruptData("not a tar archive (a header's checksum does not match)")


def _pax_path(data: bytes) -> str | None:
    """The `path` record of a PAX extended header, if any."""
    pos = 0
    found = None
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            break
        record = data[space + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        if key == b"path":
            found = value.decode("utf-8", "surrogateescape")
        pos += max(length, 1)
    return found


def members(source: ByteSource) -> Iterator[tuple[str, int, Iterator[bytes]]]:
    """(name, size, data blocks) of every regular file; the caller reads or drains the blocks
    before asking for the next member (drain: `for _ in data: pass`)."""
    long_name: str | None = None
    while True:
        header = source.take(_HEADER)
        if not header or header == bytes(_HEADER):
            return  # end of archive (two zero blocks, or a stream cut exactly here)
        if len(header) < _HEADER:
            raise CorruptData("truncated: a tar header is cut short")
        _checked(header)
        size = _octal(header[124:136])
        kind = header[156:157]
        padded = -size % _HEADER
        if kind in (b"x", b"L"):
            data = source.take(size)
            source.take(padded)
            name = (
                _pax_path(data)
                if kind == b"x"
                else data.rstrip(b"\0").decode("utf-8", "surrogateescape")
            )
            long_name = name or long_name
            continue
        name = long_name or _ustar_name(header)
        long_name = None
        blocks = source.stream(size)
        if kind in _REGULAR:
            yield name, size, blocks
        for _ in blocks:  # whatever the caller left, and non-files (directories, links)
            pass
        source.take(padded)


def _ustar_name(header: bytes) -> str:
    name = header[:100].split(b"\0", 1)[0]
    if header[257:262] == b"ustar":
        prefix = header[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    return name.decode("utf-8", "surrogateescape")
