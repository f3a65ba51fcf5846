"""How fast each group may be called: a pause after 429s, and a budget of calls a minute.

Cloud Manager rate-limits per project (about 100 requests a minute) and its 429 usually has no
Retry-After. Retrying only the request that was refused would keep hammering the group with
its other requests, so a 429 pauses *every* request to that group, for a time that grows with
consecutive 429s and resets after a success. The RequestBudget keeps each group under that
limit on its own, so a run that keeps to it rarely meets a 429 at all.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from typing import Final

import anyio

from bulkdl.domain.errors import RateLimited

RATE_LIMIT_BASE_S: Final = 2.0
RATE_LIMIT_MAX_S: Final = 60.0  # Cloud Manager's window is a minute


class GroupPacer:
    """Per-group pause after 429s; cheap when nothing was ever rate-limited."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}
        self._strikes: dict[str, int] = {}

    async def wait(self, group: str) -> None:
        """Sleep until the group's pause (if any) is over."""
        while (until := self._until.get(group)) is not None:
            remaining = until - self._clock()
            if remaining <= 0:
                self._until.pop(group, None)
                return
            await anyio.sleep(remaining)

    def rate_limited(self, group: str, exc: RateLimited, rng: random.Random | None = None) -> float:
        """Pause the group: Retry-After if given, else a growing, jittered pause. Returns it."""
        strikes = self._strikes.get(group, 0) + 1
        self._strikes[group] = strikes
        if exc.retry_after_s is not None:
            pause = exc.retry_after_s
        else:
            cap = min(RATE_LIMIT_MAX_S, RATE_LIMIT_BASE_S * 2 ** (strikes - 1))
            pause = (rng or random).uniform(cap / 2, cap)
        self._until[group] = max(self._until.get(group, 0.0), self._clock() + pause)
        return pause

    def succeeded(self, group: str) -> None:
        self._strikes.pop(group, None)


class RequestBudget:
    """At most `per_minute` API calls per group in any `window_s` (60 s: a sliding minute).

    Stricter than Cloud Manager's fixed one-minute window, so a run that keeps to it never
    trips the server's limit on its own. Calls beyond the budget wait for the oldest to age out.
    """

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        window_s: float = 60.0,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self._limit = per_minute
        self._window_s = window_s
        self._clock = clock
        self._sent: dict[str, deque[float]] = {}

    def delay(self, group: str) -> float:
        """Seconds until the group may send again (0: now). Pure given the clock."""
        sent = self._sent.setdefault(group, deque())
        now = self._clock()
        while sent and sent[0] <= now - self._window_s:
            sent.popleft()
        return 0.0 if len(sent) < self._limit else sent[0] + self._window_s - now

    async def acquire(self, group: str) -> None:
        """Wait for room in the group's window, then take one slot."""
        while (wait := self.delay(group)) > 0:  # noqa: ASYNC110 -- waiting on time, not an event
            await anyio.sleep(wait)
        self.record(group)

    def record(self, group: str) -> None:
        """Count one call of the group as sent now."""
        self._sent.setdefault(group, deque()).append(self._clock())
