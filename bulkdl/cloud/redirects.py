"""Redirects a client must not follow blindly: https to plain http, and loops.

aiohttp follows redirects itself, running the session's middlewares on every hop; this
middleware sees each hop's URL before it is sent. A hop from an https base_url to `http://`
would carry the request (and what comes back: logs) unencrypted, so it is refused unless
`allow_http_redirect` is set, and then said once per origin. A loop ends in aiohttp's
TooManyRedirects; `redirect_loop` names it (not retried: asking again loops again).
"""

from __future__ import annotations

import aiohttp
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse

from bulkdl.cloud.notices import warn
from bulkdl.domain.errors import ProtocolError


class NoDowngrade:
    """A client middleware: no hop to http:// when the base_url is https (unless allowed)."""

    def __init__(self, base_url: str, *, allow: bool) -> None:
        self._https = base_url.lower().startswith("https://")
        self._allow = allow
        self._said: set[str] = set()

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        if self._https and request.url.scheme == "http":
            origin = str(request.url.origin())
            if not self._allow:
                raise ProtocolError(
                    f"redirected from https to plain {origin}: not followed (the request and "
                    "its answer would travel unencrypted)",
                    hint="if that server is meant to be reached so, set allow_http_redirect = true",
                )
            if origin not in self._said:
                self._said.add(origin)
                warn(
                    f"following a redirect from https to plain {origin} "
                    "(allow_http_redirect): unencrypted from there"
                )
        return await handler(request)


def redirect_loop(exc: aiohttp.TooManyRedirects, where: str) -> ProtocolError:
    """A redirect loop, named as such (not 'not valid HTTP'), with where it went last."""
    hops = [str(r.url) for r in exc.history]
    last = exc.history[-1].headers.get("Location", hops[-1]) if exc.history else "?"
    return ProtocolError(
        f"{where}: a redirect loop ({len(hops)} redirects, the last to {last}); not retried",
        hint="the server or a proxy in front of it redirects in a circle: check base_url",
    )
