"""--timeline: every member's matches in one time order (a k-way merge, no global sort).

Each log file is already in time order, so a heap of one cursor per member is enough: memory
is one entry per member on top of the matches themselves. A line without a time keeps its
place after the line before it in its own file.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import TypeVar

from bulkdl.search.scan import Hit

T = TypeVar("T")


def _keyed(source: T, hits: Iterable[Hit], order: int) -> Iterator[tuple[int, int, int, T, Hit]]:
    last = -(2**62)
    for hit in hits:
        if hit.t_ms is not None:
            last = hit.t_ms
        yield last, order, hit.lineno, source, hit


def timeline(streams: Iterable[tuple[T, Iterable[Hit]]]) -> Iterator[tuple[T, Hit]]:
    """(source, hit) from every stream, by time; ties keep the streams' order."""
    keyed = [_keyed(src, hits, i) for i, (src, hits) in enumerate(streams)]
    for _, _, _, src, hit in heapq.merge(*keyed, key=lambda k: (k[0], k[1], k[2])):
        yield src, hit
