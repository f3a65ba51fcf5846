"""The two clocks on a body in flight, the stall timeout and the minimum rate, on one timer.

aiohttp's own stall guard (`sock_read`) re-arms a loop timer on every chunk the socket
delivers: a cancelled and a new TimerHandle per ~150 KiB, ~10% of the loop's time on a 1 GB
pull. Once an archive's headers are in, BodyWatch takes over: it reads the count of body bytes
aiohttp keeps, a few times per stall timeout, and puts the error into the body's stream when
the body fell silent (or too slow), so the reader's next read raises it. Before the headers,
`sock_read` still guards the wait for the answer.
"""

from __future__ import annotations

import asyncio
from typing import Final

import aiohttp

from bulkdl.cloud.aiohttp_adapter import ResponseHandler, reading, stop_read_timer
from bulkdl.domain.errors import TooSlow
from bulkdl.domain.rate_floor import RateFloor
from bulkdl.settings.load import Settings

CHECKS_PER_STALL: Final = 4  # a silent body is cut within 1.25x the stall timeout
MAX_PERIOD_S: Final = 1.0  # ...and checked at least this often (the minimum rate's windows)


class BodyWatch:
    """Judges one body from a loop timer; `stop()` when the body is done with."""

    def __init__(
        self,
        protocol: ResponseHandler,
        content: aiohttp.StreamReader,
        settings: Settings,
        *,
        where: str,
        group: str,
        job: str,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._protocol = protocol
        self._content = content
        self._settings = settings
        self._where, self._group, self._job = where, group, job
        now = self._loop.time()
        self._floor = RateFloor(settings.min_rate_bytes_s, settings.min_rate_window_s, now)
        self._seen, self._moved_at = content.total_bytes, now
        self._period = min(settings.stall_timeout_s / CHECKS_PER_STALL, MAX_PERIOD_S)
        stop_read_timer(protocol)  # from the next chunk on, no loop timer per chunk
        self._timer = self._loop.call_later(self._period, self._check)

    def _check(self) -> None:
        if self._content.is_eof():
            return  # the whole body is in: nothing left to wait for
        now, received = self._loop.time(), self._content.total_bytes
        if received != self._seen or not self._reading():
            # Bytes came, or aiohttp paused the socket because the disk is behind: not silence.
            self._seen, self._moved_at = received, now
        elif now - self._moved_at >= self._settings.stall_timeout_s:
            # What aiohttp's sock_read raises: the same one-line "no data ... within the
            # timeout", the same retry.
            self._content.set_exception(aiohttp.ServerTimeoutError("Timeout on reading data"))
            return
        rate = self._floor.too_slow(received, now)
        if rate is not None:
            s = self._settings
            self._content.set_exception(
                TooSlow(
                    f"{self._where}: the body came at {rate:.0f} B/s, below min_rate_bytes_s = "
                    f"{s.min_rate_bytes_s:g} over {s.min_rate_window_s:g} s",
                    group_id=self._group,
                    job_id=self._job,
                )
            )
            return
        self._timer = self._loop.call_later(self._period, self._check)

    def _reading(self) -> bool:
        return reading(self._protocol)

    def stop(self) -> None:
        self._timer.cancel()
