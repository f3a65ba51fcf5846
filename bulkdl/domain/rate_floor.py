"""A minimum transfer rate, as curl's --speed-limit/--speed-time: pure arithmetic, no clock.

A body that trickles a few bytes a second never trips the stall (read) timeout, which only
notices silence, and would never end. RateFloor notices: once a whole window has passed, the
bytes received in it must average at least `bytes_s`, else the body is too slow.
"""

from __future__ import annotations


class RateFloor:
    """Judges a body's progress window by window; `bytes_s` <= 0 disables it."""

    def __init__(self, bytes_s: float, window_s: float, now: float) -> None:
        self.bytes_s = bytes_s
        self.window_s = window_s
        self._since = now
        self._mark = 0  # bytes received when the current window started

    def too_slow(self, received: int, now: float) -> float | None:
        """The average rate (bytes/s) of a whole window that fell short, else None.

        `received` counts the body's bytes so far; a window that met the floor starts the next.
        """
        elapsed = now - self._since
        if self.bytes_s <= 0 or elapsed < self.window_s:
            return None
        rate = (received - self._mark) / elapsed
        if rate < self.bytes_s:
            return rate
        self._since, self._mark = now, received
        return None


HEADER_BYTES_BOUND = 16 * 1024  # aiohttp caps a header line at 8 KiB; real heads are ~1 KiB


def header_deadline(
    header_timeout_s: float, min_rate_bytes_s: float, min_rate_window_s: float
) -> tuple[float, str]:
    """How long the status line and headers may take, and the setting that set it.

    The minimum rate covers the header phase too: headers (well under 16 KiB) that take a
    whole min_rate_window_s are slower than any floor of min_rate_bytes_s that such a window
    allows, so the window bounds them when it is the shorter (and the floor is on)."""
    floor_on = min_rate_bytes_s > 0 and min_rate_bytes_s * min_rate_window_s >= HEADER_BYTES_BOUND
    if floor_on and min_rate_window_s < header_timeout_s:
        return min_rate_window_s, "min_rate_window_s at min_rate_bytes_s"
    return header_timeout_s, "header_timeout_s"
