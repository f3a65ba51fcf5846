"""The one request that goes alone: the first, until the server's digest challenge is in.

Every later request answers that challenge preemptively (DigestAuthMiddleware), so N requests
at start-up do not each pay a 401 round trip. Only the challenge is waited for: the moment the
401 is read the others start, while the first one's authenticated retry is still in flight
(on a 40 ms link that is one round trip off the start of every group). A server that answers
without a challenge primes the run with that answer; a first request that fails hands the turn
to the next.
"""

from __future__ import annotations

import anyio


class Primer:
    """Lets the first request go alone until `primed()`; the rest wait for that."""

    def __init__(self) -> None:
        self._primed = False
        self._priming = False
        self._event = anyio.Event()

    async def turn(self) -> bool:
        """Wait until requests may go; True when this one is the request that primes."""
        while not self._primed:
            if not self._priming:
                self._priming = True
                return True
            await self._event.wait()
        return False

    def primed(self) -> None:
        """The challenge (or an answer without one) is in: every waiting request may go."""
        if not self._primed:
            self._primed = True
            self._event.set()

    def failed(self) -> None:
        """The priming request got no answer: the next waiting request primes instead."""
        if not self._primed:
            self._priming = False
            event, self._event = self._event, anyio.Event()
            event.set()
