"""What a running emulator holds and what it has seen: the fleet, nonces, archives, counters.

Tests assert on `Counters` (how many challenges, how many downloads of a job, how many
downloads overlapped), so every field is a plain number or a `collections.Counter`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bulkdl.emulator.archives import ArchiveCache
from bulkdl.emulator.digest import NonceStore
from bulkdl.emulator.fleet import Fleet


@dataclass
class Counters:
    """Traffic seen since start (or the last `reset()`).

    `requests` counts everything on the wire; `challenges` the 401s that carried a digest
    challenge (`stale_nonces` of them for an expired nonce). The `*_by_*` counters and
    `requests_by_kind` ("list", "job", "download", "unknown") count authenticated requests
    only. `in_flight*` are archive bodies streaming right now, `max_in_flight*` the peak.
    """

    requests: int = 0
    challenges: int = 0
    stale_nonces: int = 0
    requests_by_kind: Counter[str] = field(default_factory=Counter)
    responses_by_status: Counter[int] = field(default_factory=Counter)
    list_requests_by_group: Counter[str] = field(default_factory=Counter)
    downloads_by_job: Counter[str] = field(default_factory=Counter)
    downloads_started: int = 0
    downloads_completed: int = 0
    bytes_sent: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    in_flight_by_group: Counter[str] = field(default_factory=Counter)
    max_in_flight_by_group: Counter[str] = field(default_factory=Counter)

    def download_started(self, group_id: str) -> None:
        """An archive body begins streaming."""
        self.downloads_started += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.in_flight_by_group[group_id] += 1
        self.max_in_flight_by_group[group_id] = max(
            self.max_in_flight_by_group[group_id], self.in_flight_by_group[group_id]
        )

    def download_ended(self, group_id: str, *, completed: bool) -> None:
        """An archive body ends: sent in full, or cut short (client gone, server stopping)."""
        self.in_flight -= 1
        self.in_flight_by_group[group_id] -= 1
        if self.in_flight_by_group[group_id] == 0:
            del self.in_flight_by_group[group_id]  # so an idle server compares equal to {}
        if completed:
            self.downloads_completed += 1


@dataclass
class EmulatorState:
    """Shared by every handler of one app; reachable through `emulator_state(app)`."""

    fleet: Fleet
    nonces: NonceStore
    chunk_size: int = 64 * 1024
    chunk_delay_s: float = 0.0
    archives: ArchiveCache = field(default_factory=ArchiveCache)
    counters: Counters = field(default_factory=Counters)
    streams: set[asyncio.Task[Any]] = field(default_factory=set)  # handlers sending a body

    def reset(self) -> None:
        """Zero the counters between phases of a test; streams still running stay counted."""
        fresh = Counters(
            in_flight=self.counters.in_flight,
            max_in_flight=self.counters.in_flight,
            in_flight_by_group=+self.counters.in_flight_by_group,
        )
        fresh.max_in_flight_by_group = Counter(fresh.in_flight_by_group)
        self.counters = fresh
