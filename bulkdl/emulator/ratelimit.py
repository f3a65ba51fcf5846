"""Cloud Manager's documented rate limit: N requests per group per minute, a fixed window.

The window opens at a group's first request and resets `window_s` later, so a test knows
exactly which request is refused (a window aligned to the wall clock could roll over mid-test).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class FixedWindow:
    """Admits `limit` requests per key per window; refused requests count toward it too."""

    def __init__(
        self, limit: int, window_s: float = 60.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1:
            raise ValueError(f"a rate limit must be >= 1 request, got {limit}")
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (window start, requests)

    def admit(self, key: str) -> bool:
        """Count one request for `key`; False once the window's limit is exceeded."""
        now = self._clock()
        with self._lock:
            start, count = self._windows.get(key, (now, 0))
            if now - start >= self.window_s:
                start, count = now, 0
            self._windows[key] = (start, count + 1)
            return count < self.limit

    @property
    def minutes(self) -> str:
        """The window in minutes, as the 429 message states it ("1", or "0.5" in tests)."""
        return f"{self.window_s / 60:g}"
