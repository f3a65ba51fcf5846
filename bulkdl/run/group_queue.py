"""Which download runs next: round-robin over groups, at most N in flight per group.

A fixed set of workers pulls from this queue, so thousands of jobs never mean thousands of
tasks or sockets, and one huge group cannot starve the others. Groups are added as their
listings arrive, so downloads start before the last group is listed.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

import anyio

T = TypeVar("T")


class GroupQueue(Generic[T]):
    """A queue of items keyed by group, handed out fairly within a per-group limit."""

    def __init__(self, per_group_limit: int) -> None:
        if per_group_limit < 1:
            raise ValueError("per_group_limit must be at least 1")
        self._limit = per_group_limit
        self._pending: dict[str, deque[T]] = {}
        self._in_flight: dict[str, int] = {}
        self._order: deque[str] = deque()  # rotation of groups with pending items
        self._closed = False
        self._changed = anyio.Event()

    def put(self, group: str, item: T) -> None:
        if self._closed:
            raise RuntimeError("put() after close()")
        if group not in self._pending:
            self._pending[group] = deque()
            self._order.append(group)
        self._pending[group].append(item)
        self._wake()

    def close(self) -> None:
        """No more items will be put: get() returns None once everything is handed out."""
        self._closed = True
        self._wake()

    def take_ready(self) -> tuple[str, T] | None:
        """The next item whose group has room, rotating over groups (no waiting)."""
        for _ in range(len(self._order)):
            group = self._order[0]
            self._order.rotate(-1)
            if self._in_flight.get(group, 0) < self._limit:
                queue = self._pending[group]
                item = queue.popleft()
                if not queue:
                    del self._pending[group]
                    self._order.remove(group)
                self._in_flight[group] = self._in_flight.get(group, 0) + 1
                return group, item
        return None

    async def get(self) -> tuple[str, T] | None:
        """Wait for an item a worker may start now; None when the queue is closed and drained."""
        while True:
            ready = self.take_ready()
            if ready is not None:
                return ready
            if self._closed and not self._pending:
                return None
            await self._changed.wait()

    def done(self, group: str) -> None:
        """An item of `group` finished: its slot is free again."""
        self._in_flight[group] -= 1
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()
