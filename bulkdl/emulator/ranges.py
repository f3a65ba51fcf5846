"""Single byte ranges (`Range: bytes=N-` / `bytes=N-M`), so a client can resume a download.

Pure. Anything we do not understand is ignored (the whole body is sent), as RFC 9110 allows.
"""

from __future__ import annotations

import re
from typing import Final

_SINGLE_RANGE: Final = re.compile(r"bytes=(\d+)-(\d*)")


class Unsatisfiable(ValueError):
    """The range starts at or past the end of the body: answer 416."""


def byte_window(header: str | None, length: int) -> tuple[int, int] | None:
    """The inclusive (first, last) bytes to send, or None for the whole body."""
    if header is None:
        return None
    match = _SINGLE_RANGE.fullmatch(header.strip())
    if match is None:
        return None  # suffix ranges, multiple ranges, other units: send everything
    first = int(match[1])
    last = int(match[2]) if match[2] else None
    if last is not None and last < first:
        return None  # invalid syntax per RFC 9110: ignore the header
    if first >= length:
        raise Unsatisfiable(f"range starts at {first}, body has {length} bytes")
    return first, length - 1 if last is None else min(last, length - 1)
