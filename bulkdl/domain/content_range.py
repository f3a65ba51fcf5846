"""A 206's Content-Range, checked whole before a byte of it reaches the `.part` (pure).

A resume appends the body at the byte we asked for; a header that names another first byte,
a range that ends before it starts or past the archive's end, or a length that disagrees with
Content-Length would put bytes in the wrong place. Each is refused, naming the defect, and the
next attempt starts over from byte 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_CONTENT_RANGE: Final = re.compile(r"bytes[ \t]+(\d{1,19})-(\d{1,19})/(\d{1,19}|\*)")


class BadContentRange(ValueError):
    """Why a Content-Range cannot be trusted (the message names the defect)."""


@dataclass(frozen=True, slots=True)
class ContentRange:
    """`bytes start-end/total`: end inclusive; total None when the server sent `*`."""

    start: int
    end: int
    total: int | None

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_content_range(
    value: str | None, *, asked_from: int, content_length: int | None
) -> ContentRange:
    """The Content-Range of an answer to `Range: bytes=asked_from-`; BadContentRange otherwise."""
    if value is None:
        raise BadContentRange("no Content-Range header")
    if not (m := _CONTENT_RANGE.fullmatch(value.strip())):
        raise BadContentRange(f"malformed Content-Range {value[:80]!r}")
    start, end = int(m[1]), int(m[2])
    total = None if m[3] == "*" else int(m[3])
    if start != asked_from:
        raise BadContentRange(f"it starts at byte {start}, not at byte {asked_from} as asked")
    if end < start:
        raise BadContentRange(f"it ends (byte {end}) before it starts (byte {start})")
    if total is not None and total <= end:
        raise BadContentRange(f"its last byte {end} is past the archive's {total} bytes")
    found = ContentRange(start, end, total)
    if content_length is not None and content_length != found.length:
        raise BadContentRange(
            f"it spans {found.length} bytes but Content-Length says {content_length}"
        )
    return found
