"""Sending a body: whole, or broken the way networks break it (cut, stalled, chunks unfinished).

`ResetAfter`, `Stall`, `TruncatedChunked` and `Trickle` change how bytes leave, not what they
are, so they live with the streaming loop and apply alike to archives and listing pages;
`LongerBody` and `ChangedArchive` (archives only) break the framing the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from aiohttp import web

from bulkdl.emulator.archive_faults import CloseDelimited
from bulkdl.emulator.faults import (
    ChangedArchive,
    FaultKind,
    LongerBody,
    ResetAfter,
    Stall,
    Trickle,
    TruncatedChunked,
)
from bulkdl.emulator.state import EmulatorState

BODY_FAULTS: Final = (
    *(ResetAfter, Stall, TruncatedChunked, Trickle, LongerBody, ChangedArchive, CloseDelimited),
)
_STALL_POLL_S: Final = 0.01  # how often a stall checks that the client is still there


@contextmanager
def tracked(state: EmulatorState) -> Iterator[None]:
    """Register the current handler as sending a body, so shutdown can cut it short."""
    task = asyncio.current_task()
    if task is not None:
        state.streams.add(task)
    try:
        yield
    finally:
        state.streams.discard(task)


async def send_body(
    request: web.Request,
    response: web.StreamResponse,
    state: EmulatorState,
    body: memoryview,
    fault: FaultKind | None,
) -> bool:
    """Prepare `response` and send `body`; False if a fault cut it short on purpose.

    Raises ConnectionResetError if the client goes away first.
    """
    if isinstance(fault, TruncatedChunked):
        response.enable_chunked_encoding()  # no Content-Length: only the last chunk ends it
    elif isinstance(fault, CloseDelimited):
        response.force_close()  # no Content-Length, no chunks: the close ends the body
    else:
        response.content_length = len(body)
    if isinstance(fault, BODY_FAULTS):
        state.fault_served(fault)
    await response.prepare(request)
    if isinstance(fault, ResetAfter | ChangedArchive):
        cut = fault.n_bytes if isinstance(fault, ResetAfter) else fault.after_bytes
        await stream(state, response, body[: min(cut, max(0, len(body) - 1))])
        _hang_up(request)
        return False
    if isinstance(fault, TruncatedChunked):
        await stream(state, response, body[: fault.after_bytes])
        _hang_up(request)
        return False
    if isinstance(fault, CloseDelimited):
        cut = len(body) if fault.cut_at is None else min(fault.cut_at, max(0, len(body) - 1))
        await stream(state, response, body[:cut])
        _hang_up(request)
        return fault.cut_at is None
    if isinstance(fault, Stall):
        await stream(state, response, body[: fault.after_bytes])
        await _silence(request, fault.seconds)
        body = body[fault.after_bytes :]
    if isinstance(fault, LongerBody):
        await _overlong(request, state, response, body, fault.extra_bytes)
        return True
    if isinstance(fault, Trickle):
        await _trickle(state, response, body, fault)
    else:
        await stream(state, response, body)
    await response.write_eof()
    return True


class CloseFramed(web.StreamResponse):
    """A response framed by closing the connection (no Content-Length, no chunking), as an
    HTTP/1.0 server sends it; aiohttp turns length checks off this way for WebSockets."""

    _length_check = False


async def stream(state: EmulatorState, response: web.StreamResponse, body: memoryview) -> None:
    """Write `body` in `chunk_size` pieces, pausing `chunk_delay_s` after each but the last."""
    size = state.chunk_size
    for offset in range(0, len(body), size):
        chunk = body[offset : offset + size]
        await response.write(chunk)
        state.counters.bytes_sent += len(chunk)
        if state.chunk_delay_s > 0 and offset + size < len(body):
            await asyncio.sleep(state.chunk_delay_s)


async def _overlong(
    request: web.Request,
    state: EmulatorState,
    response: web.StreamResponse,
    body: memoryview,
    extra_bytes: int,
) -> None:
    """All of `body` but its last byte as usual, then that byte and `extra_bytes` zeros in one
    write straight onto the connection (past aiohttp's Content-Length accounting), then FIN."""
    await stream(state, response, body[:-1])
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("the client left")
    transport.write(bytes(body[-1:]) + bytes(extra_bytes))
    state.counters.bytes_sent += 1 + extra_bytes
    _hang_up(request)


async def _trickle(
    state: EmulatorState, response: web.StreamResponse, body: memoryview, fault: Trickle
) -> None:
    """`body` one small piece at a time, `every_s` apart (until the client leaves)."""
    for offset in range(0, len(body), fault.chunk_bytes):
        chunk = body[offset : offset + fault.chunk_bytes]
        await response.write(chunk)
        state.counters.bytes_sent += len(chunk)
        await asyncio.sleep(fault.every_s)


def _hang_up(request: web.Request) -> None:
    """Close the connection mid-response; what was written is still flushed, then FIN.

    A FIN rather than an RST, so the client reliably receives exactly the bytes sent first.
    """
    transport = request.transport
    if transport is not None:
        transport.close()


async def _silence(request: web.Request, seconds: float) -> None:
    """Send nothing for `seconds`; give up early if the client hangs up meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client left during a stall")
        await asyncio.sleep(min(left, _STALL_POLL_S))
