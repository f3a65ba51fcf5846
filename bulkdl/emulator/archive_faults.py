"""Download faults that break an archive's integrity or its framing, not its transport.

    close-delimited[:BYTES]  no Content-Length, no chunking: the body ends when the server
                             closes the connection (HTTP/1.0 style), after BYTES when given
    bad-crc                  the gzip trailer's CRC32 is wrong (every other byte is right)
    no-trailer               the 8-byte gzip trailer (CRC32, ISIZE) is missing
    lying-range:HOW          a resume's 206 names a Content-Range that does not hold: `start`
                             (another first byte), `backwards` (end < start), `past-end`
                             (total <= end), `length` (disagrees with Content-Length)

The dataclasses are fault kinds like those of faults.py; the functions spoil the bytes or the
header the handler would send.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

LIES: Final = ("start", "backwards", "past-end", "length")
_TRAILER: Final = 8


@dataclass(frozen=True, slots=True)
class CloseDelimited:
    """Download only: the body framed by closing the connection; cut after `cut_at` bytes when
    set (never the whole archive then)."""

    cut_at: int | None = None

    def __post_init__(self) -> None:
        if self.cut_at is not None and self.cut_at < 0:
            raise ValueError(f"cut_at must be >= 0, got {self.cut_at}")


@dataclass(frozen=True, slots=True)
class BadCrc:
    """Download only: the archive with its gzip CRC32 flipped."""


@dataclass(frozen=True, slots=True)
class NoTrailer:
    """Download only: the archive without its gzip trailer (Content-Length says so)."""


@dataclass(frozen=True, slots=True)
class LyingRange:
    """Download only: a 206 whose Content-Range lies in the way `how` names (see LIES); a
    request without Range is answered normally (and spends the fault)."""

    how: str

    def __post_init__(self) -> None:
        if self.how not in LIES:
            raise ValueError(f"lying-range needs one of {', '.join(LIES)}, got {self.how!r}")


def spoil(archive: bytes, fault: BadCrc | NoTrailer) -> bytes:
    """The archive's bytes as the fault serves them."""
    if isinstance(fault, NoTrailer):
        return archive[:-_TRAILER]
    crc, size = struct.unpack("<II", archive[-_TRAILER:])
    return archive[:-_TRAILER] + struct.pack("<II", crc ^ 0xFFFFFFFF, size)


def content_range(fault: LyingRange | None, first: int, last: int, total: int) -> str:
    """The Content-Range header for bytes first..last of `total` (a lie under the fault)."""
    if fault is None:
        return f"bytes {first}-{last}/{total}"
    if fault.how == "start":
        return f"bytes {first + 1}-{last}/{total}"
    if fault.how == "backwards":
        return f"bytes {first}-{max(0, first - 1)}/{total}"
    if fault.how == "past-end":
        return f"bytes {first}-{last}/{last}"
    return f"bytes {first}-{last - 1}/{total}"  # "length": one byte short of Content-Length
