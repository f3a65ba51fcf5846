"""Is this body really a log archive? Cheap checks before its first byte reaches the disk.

A proxy's login page, an API error in JSON, or gzip of anything but a tar must never be kept
under an archive's name. Three checks, all on the start of a body that begins at byte 0: the
Content-Type is not HTML or JSON, the gzip magic is there, and the first 512 decompressed bytes
are a tar header ("ustar" at offset 257, as POSIX and GNU tar write it), or the zero block
that ends an empty tar, or nothing at all (a gzip of nothing): those two are an empty archive,
proven whole by the archive check (store/archive_check.py). Only those first bytes
are inflated; the rest of the body passes untouched. Pure: no I/O here.
"""

from __future__ import annotations

import zlib
from typing import Final

GZIP_MAGIC: Final = b"\x1f\x8b"
TAR_BLOCK: Final = 512
USTAR_AT: Final = 257
USTAR: Final = b"ustar"
FEED_STEP: Final = 4096  # compressed bytes inflated per step while looking for the header
_SHOWN: Final = 16  # first bytes of a body named when it is not gzip


class NotArchive(ValueError):
    """Why a body is not a tar.gz archive (the message is shown to the user)."""


def refused_content_type(value: str | None) -> str | None:
    """What a 2xx with this Content-Type is instead of an archive, or None when it may be one.

    Cloud Manager labels archives application/gzip (some servers application/octet-stream).
    """
    mime = (value or "").split(";", 1)[0].strip().lower()
    if "html" in mime:
        return "an HTML page"
    if mime == "application/json" or mime.endswith("+json"):
        return "a JSON document"
    return None


class TarGzSniffer:
    """Fed the body's first chunks until it can tell; raises NotArchive once it knows (a body
    that is not gzip once its first 16 bytes are in, to name them whatever the chunking)."""

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(31)  # 31: gzip wrapper required
        self._start = b""  # the first raw bytes, to show what came instead
        self._block = b""
        self.done = False  # a tar header was seen: the rest needs no look

    def feed(self, chunk: bytes) -> None:
        """Look at the next chunk of the body (a no-op once `done`)."""
        if self.done:
            return
        if len(self._start) < _SHOWN:
            self._start += chunk[: _SHOWN - len(self._start)]
        if not self._start.startswith(GZIP_MAGIC[: len(self._start)]):
            if len(self._start) < _SHOWN:
                return  # refused: first gather what to show, whatever the chunking (or end())
            raise self._not_gzip()
        view = memoryview(chunk)
        try:
            # A few KiB at a time, never the whole chunk: inflating stops at the tar header,
            # and zlib would copy the rest of a big chunk into unconsumed_tail for nothing.
            # Once the header's 512 bytes are out, nothing more is needed (or fed).
            for at in range(0, len(view), FEED_STEP):
                self._block += self._inflate.decompress(
                    view[at : at + FEED_STEP], TAR_BLOCK - len(self._block)
                )
                if len(self._block) >= TAR_BLOCK or self._inflate.eof:
                    break
        except zlib.error as exc:
            raise NotArchive(f"not a valid gzip stream ({exc})") from None
        if len(self._block) >= TAR_BLOCK:
            header = self._block[USTAR_AT : USTAR_AT + len(USTAR)] == USTAR
            if not header and self._block.count(0) != len(self._block):
                raise NotArchive("gzip, but not of a tar archive (no tar header at its start)")
            self.done = True  # a header, or the end-of-archive block of an empty tar
        elif self._inflate.eof and not self._block:
            self.done = True  # a gzip of nothing: an empty archive, as some backends serve
        elif self._inflate.eof:
            raise NotArchive("gzip, but too short to hold a tar archive")

    def end(self) -> None:
        """The body ended: it must have shown a tar header by now (an empty body is let through
        for the sink to name)."""
        if not self.done and self._start:
            if not self._start.startswith(GZIP_MAGIC[: len(self._start)]):
                raise self._not_gzip()
            raise NotArchive("the body ended before a whole tar header arrived")

    def _not_gzip(self) -> NotArchive:
        return NotArchive(f"not a gzip archive (it starts with {self._start!r})")
