"""Every touch of aiohttp's internals, in one module, with its own tests.

aiohttp's public API does not say which connection a body came on, whether bytes followed
it, or let a pool refuse a connection that received bytes while it sat idle; nor does its
DigestAuthMiddleware find a Digest challenge listed after another scheme. What bulkdl needs of
those lives here, so an aiohttp upgrade is checked in one place (tests/cloud/
test_aiohttp_adapter.py, which CI also runs against aiohttp's newest release).

The keep-alive rule: a connection goes back to the pool only when its last body was framed
exactly (Content-Length met, nothing after it, the parser clean), and a pooled connection is
never reused if anything arrived on it while idle. Bytes past a body's end can then never be
read as the next answer on that connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "DigestAuth",
    "GuardedConnector",
    "ResponseHandler",
    "body_protocol",
    "bytes_after_body",
    "framed_exactly",
    "keep_or_close",
    "reading",
    "stop_read_timer",
]


def body_protocol(resp: aiohttp.ClientResponse) -> ResponseHandler | None:
    """The protocol the body arrives on; None once the whole body is in and released."""
    conn = resp.connection
    return conn.protocol if conn is not None else None


def bytes_after_body(protocol: ResponseHandler | None) -> bool:
    """After a body's end, whether the connection carried more: a parse error on what followed
    it, or a whole further answer queued (aiohttp parses past Content-Length as the next
    response; bytes that come later only show in the pool, see GuardedConnector)."""
    if protocol is None:
        return False
    return isinstance(protocol.exception(), HttpProcessingError) or len(protocol) > 0


def framed_exactly(resp: aiohttp.ClientResponse, protocol: ResponseHandler | None) -> bool:
    """The body met its Content-Length, nothing followed it, the parser is clean."""
    if protocol is None or resp.content_length is None:
        return False
    content = resp.content
    return (
        content.is_eof()
        and content.total_bytes == resp.content_length
        and protocol.exception() is None
        and not protocol.should_close
    )


def keep_or_close(resp: aiohttp.ClientResponse, protocol: ResponseHandler | None) -> bool:
    """Decide the body's connection at its end: True when it may go back to the pool; else it
    is marked to close on release."""
    if framed_exactly(resp, protocol):
        return True
    if protocol is not None:
        protocol.force_close()
    return False


def stop_read_timer(protocol: ResponseHandler) -> None:
    """From the next chunk on, aiohttp arms no sock_read timer per chunk (body_watch.py
    watches the body instead)."""
    protocol.read_timeout = None


def reading(protocol: ResponseHandler) -> bool:
    """False while aiohttp has paused the socket (the reader is behind): not a stall."""
    transport = protocol.transport
    return transport is None or transport.is_reading()


class GuardedConnector(aiohttp.TCPConnector):
    """aiohttp's connector, refusing a pooled connection that received anything while idle.

    aiohttp reuses any pooled connection that is still open; bytes a server sent after a body
    (a late tail, a whole stray answer) would then be parsed as the next request's answer.
    Here such a connection is closed instead, and the request takes another or a new one.
    """

    async def _get(self, key: Any, traces: list[Any]) -> Any:
        conns = self._conns.get(key)
        if conns:
            for entry in list(conns):
                proto = entry[0]
                if proto.should_close or len(proto) > 0:
                    conns.remove(entry)
                    proto.close()
            if not conns:
                del self._conns[key]
        return await super()._get(key, traces)


class _Challenge:
    """Just what DigestAuthMiddleware reads of a 401: status, url and the one challenge."""

    def __init__(self, response: aiohttp.ClientResponse, challenge: str) -> None:
        self.status = response.status
        self.url = response.url
        self.headers = CIMultiDictProxy(CIMultiDict({"WWW-Authenticate": challenge}))


class DigestAuth(aiohttp.DigestAuthMiddleware):
    """aiohttp's DigestAuthMiddleware, answering a Digest challenge wherever it is listed.

    aiohttp 3.14 reads only the first WWW-Authenticate header and gives up unless it starts
    with `Digest`, so `Basic realm=..., Digest ...` (or a Basic header first) ended as "rejected
    key pair". We hand it the Digest challenge alone; everything else is aiohttp's own code.
    No public hook does this: a middleware cannot change the headers of the answer the digest
    middleware reads (ClientResponse.headers is read-only), so `_authenticate` is overridden.
    """

    def __init__(
        self,
        login: str,
        password: str,
        pick: Callable[[list[str]], str | None],
        *,
        on_challenge: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(login, password)
        self._pick = pick  # WWW-Authenticate values -> the Digest challenge, or None (pure)
        self._on_challenge = on_challenge  # the challenge is in: others may go preemptively

    def _authenticate(self, response: aiohttp.ClientResponse) -> bool:
        values = response.headers.getall("WWW-Authenticate", [])
        challenge = self._pick(values)
        if challenge is None or values[:1] == [challenge]:
            retry = super()._authenticate(response)
        else:
            retry = super()._authenticate(
                cast(aiohttp.ClientResponse, _Challenge(response, challenge))
            )
        if retry:
            self._on_challenge()
        return retry
