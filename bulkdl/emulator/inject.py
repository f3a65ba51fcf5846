"""Faults that replace or spoil what a handler would answer: 5xx, 429, HTML pages, stale nonces
and broken listing pages. How bytes are sent (cut, stalled) is `bodies.py`.
"""

from __future__ import annotations

import gzip
from html import escape
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import urlsplit

from aiohttp import hdrs, web

from bulkdl.emulator import errors, faults
from bulkdl.emulator.digest import parse_authorization
from bulkdl.emulator.state import EmulatorState

HTML_CONTENT_TYPE: Final = "text/html; charset=utf-8"
# What a TLS-inspecting corporate proxy answers when its own session has lapsed.
LOGIN_PAGE: Final = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in - Corporate Web Gateway</title></head>
<body>
<h1>Authentication required</h1>
<p>Your request to cloud.mongodb.com was intercepted by the corporate web gateway.
Please sign in with your network account to continue.</p>
<form method="post" action="/gateway/login">
<label>User <input name="username"></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Sign in</button>
</form>
</body>
</html>
"""


def answer_instead(
    request: web.Request, state: EmulatorState, fault: faults.FaultKind | None
) -> web.Response | None:
    """The answer replacing the resource for this attempt's fault, or None to serve it.

    Raises `ApiError` for the faults that look like the API's own errors.
    """
    if isinstance(fault, faults.Redirect):
        state.fault_served(fault)
        location = fault.to.rstrip("/") + request.path_qs
        return web.Response(status=302, headers={hdrs.LOCATION: location})
    if isinstance(fault, faults.ServerFault):
        state.fault_served(fault)
        if not fault.html:
            raise errors.unexpected_error(fault.status, retry_after_s=fault.retry_after_s)
        response = html_response(fault.status, proxy_error_page(fault.status))
        if fault.retry_after_s is not None:
            response.headers[hdrs.RETRY_AFTER] = f"{fault.retry_after_s:g}"
        return response
    if isinstance(fault, faults.RateLimit):
        state.fault_served(fault)
        raise errors.rate_limited(
            request.path,
            fault.limit,
            str(fault.minutes),
            retry_after_s=fault.retry_after_s,
            dated=fault.dated,
        )
    if isinstance(fault, faults.HtmlPage):
        state.fault_served(fault)
        return html_response(fault.status, proxy_error_page(fault.status))
    if isinstance(fault, faults.NotGzip):
        state.fault_served(fault)
        return html_response(200, LOGIN_PAGE)
    if isinstance(fault, faults.GzippedHtml | faults.GzipNotTar):
        state.fault_served(fault)
        kind = HTML_CONTENT_TYPE if isinstance(fault, faults.GzippedHtml) else "application/gzip"
        page = gzip.compress(LOGIN_PAGE.encode(), mtime=0)
        return web.Response(status=200, body=page, headers={hdrs.CONTENT_TYPE: kind})
    if isinstance(fault, faults.NoChallenge):
        state.fault_served(fault)
        raise errors.ApiError(401, None, "You are not authorized for this resource.")
    if isinstance(fault, faults.StaleNonce):
        state.fault_served(fault)
        params = parse_authorization(request.headers.get(hdrs.AUTHORIZATION))
        if params is not None:
            state.nonces.expire(params["nonce"])  # its other requests go stale too, as in life
        raise state.challenge(stale=True)
    return None


def html_response(status: int, page: str) -> web.Response:
    """An HTML page with its Content-Length, as proxies send them."""
    return web.Response(
        status=status, body=page.encode(), headers={hdrs.CONTENT_TYPE: HTML_CONTENT_TYPE}
    )


def proxy_error_page(status: int) -> str:
    """The bare error page of a reverse proxy (nginx's layout)."""
    title = escape(f"{status} {HTTPStatus(status).phrase}")
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


def break_listing(
    state: EmulatorState, doc: dict[str, Any], fault: faults.FaultKind | None
) -> None:
    """Spoil a listing page in place: drop `results`, point `next` back at `self`, give one
    result a malformed id, or rewrite every link relative to the page (RFC 3986 relative
    reference) or onto another origin."""
    if isinstance(fault, faults.MalformedId) and fault.index < len(doc["results"]):
        state.fault_served(fault)
        doc["results"][fault.index]["id"] = fault.value
    elif isinstance(fault, faults.MissingResults):
        state.fault_served(fault)
        del doc["results"]
    elif isinstance(fault, faults.WrongTotal):
        state.fault_served(fault)
        doc["totalCount"] += fault.delta
    elif isinstance(fault, faults.RepeatingNext):
        state.fault_served(fault)
        links = [link for link in doc["links"] if link["rel"] != "next"]
        own = next(link["href"] for link in links if link["rel"] == "self")
        doc["links"] = [*links, {"href": own, "rel": "next"}]
    elif isinstance(fault, faults.RelativeNext | faults.ForeignNext):
        state.fault_served(fault)
        for link in doc["links"]:
            href = urlsplit(link["href"])
            if isinstance(fault, faults.RelativeNext):  # the last path segment and the query
                link["href"] = f"{href.path.rsplit('/', 1)[-1]}?{href.query}"
            else:
                link["href"] = f"{fault.to.rstrip('/')}{href.path}?{href.query}"


def break_json(state: EmulatorState, body: bytes, fault: faults.FaultKind | None) -> bytes:
    """For `NotJson`, the page cut in half: still labelled JSON, no longer parseable."""
    if not isinstance(fault, faults.NotJson):
        return body
    state.fault_served(fault)
    return body[: len(body) // 2]
