"""How a request reaches Cloud Manager and how its answer becomes a bulkdl error.

One aiohttp ClientSession per run, with Digest auth (aiohttp's DigestAuthMiddleware, preemptive
after the first challenge; the very first request goes alone so that concurrent requests at
start-up do not each pay a 401 round trip), TLS as configured, and the proxy resolved per
request (not aiohttp's trust_env, which would also read ~/.netrc and could send Basic
credentials to the server). Every aiohttp failure leaves this module as a bulkdl error: ApiError
subclasses for error statuses (`api_error`), ProxyError, NetworkError for the connection.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import ssl
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Final, Self
from urllib.parse import urlsplit

import aiohttp
import anyio

from bulkdl import __version__
from bulkdl.cloud.aiohttp_adapter import DigestAuth, GuardedConnector
from bulkdl.cloud.priming import Primer
from bulkdl.cloud.proxies import env_proxies, proxy_for, redact
from bulkdl.cloud.redirects import NoDowngrade, redirect_loop
from bulkdl.domain.errors import (
    ApiError,
    AuthError,
    ConfigError,
    GroupAccessError,
    NetworkError,
    ProxyError,
    RateLimited,
    ServerError,
    where,
)
from bulkdl.domain.models import GroupId, JobId
from bulkdl.domain.rate_floor import header_deadline
from bulkdl.domain.retry_after import parse_retry_after
from bulkdl.settings.load import Settings, check_proxy

READ_BUFSIZE: Final = 256 * 1024
ERROR_BODY_LIMIT: Final = 64 * 1024  # how much of an error body we read to find its errorCode

_GROUP_ACCESS_CODES: Final = frozenset(
    {
        "NOT_IN_GROUP",
        "GROUP_NOT_FOUND",
        "INVALID_GROUP_ID",
        "IP_ADDRESS_NOT_ON_WHITELIST",
        "ORG_REQUIRES_WHITELIST",
        "RESOURCE_REQUIRES_WHITELIST",
        "USER_UNAUTHORIZED",
    }
)

_DIGEST_CHALLENGE: Final = re.compile(r"(?:^|,)\s*(digest\s+.*)", re.IGNORECASE | re.DOTALL)


def api_error(
    status: int,
    body: bytes,
    *,
    group: str | None,
    job: str | None = None,
    retry_after: str | None = None,
    challenged: bool = True,
) -> ApiError:
    """Turn an error answer into the typed exception that says whose failure it is (pure).

    `challenged`: the answer carried a Digest challenge. Only a 401 that still challenges after
    our answer rejects the key pair; one without a challenge (a gateway, one resource) fails
    only what it answered.
    """
    code, detail = _parse_error_body(body)
    place = where(group, job)
    said = f"HTTP {status}" + (f" {code}" if code else "") + (f": {detail}" if detail else "")
    kw: dict[str, Any] = {"status": status, "error_code": code, "group_id": group, "job_id": job}
    if status == 401 and code not in _GROUP_ACCESS_CODES and not challenged:
        return ApiError(
            f"{place}: {said}, without a digest challenge (not a verdict on the key pair)",
            hint="a gateway or proxy in front of the API may have refused this one request",
            **kw,
        )
    if status == 401 and code not in _GROUP_ACCESS_CODES:
        return AuthError(
            f"authentication failed: the API rejected the key pair ({said})",
            hint="check BULKDL_PUBLIC_KEY / BULKDL_PRIVATE_KEY and the key's API access list",
            **kw,
        )
    if (status in (401, 403) and code in _GROUP_ACCESS_CODES) or (status == 403 and job is None):
        return GroupAccessError(
            f"{place}: the key cannot access this group ({said})",
            hint="check the group id and that the API key is a member of the project",
            **kw,
        )
    if status == 404 and code in ("GROUP_NOT_FOUND", "INVALID_GROUP_ID"):
        return GroupAccessError(f"{place}: no such group ({said})", **kw)
    if status == 429:
        return RateLimited(
            f"{place}: rate limited ({said})",
            retry_after_s=_seconds(retry_after),
            status=status,
            error_code=code,
            group_id=group,
            job_id=job,
        )
    if status >= 500:
        return ServerError(f"{place}: server error ({said})", **kw)
    return ApiError(f"{place}: {said}", **kw)


def _parse_error_body(body: bytes) -> tuple[str | None, str | None]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = body[:200].decode("utf-8", "replace").strip()
        if text.lower().startswith(("<!doctype", "<html")):
            return None, "an HTML page instead of an API answer"
        return None, " ".join(text.split())[:120] or None
    if not isinstance(doc, dict):
        return None, None
    code = doc.get("errorCode")
    detail = doc.get("detail")
    return (code if isinstance(code, str) else None, detail if isinstance(detail, str) else None)


def _seconds(value: str | None) -> float | None:
    """Retry-After in either form (seconds or an HTTP-date), from now."""
    return parse_retry_after(value, datetime.now(UTC))


def digest_challenge(values: Iterable[str]) -> str | None:
    """The Digest challenge among WWW-Authenticate values, from its scheme on (pure).

    A server may offer several (one header each, or comma-joined), `Basic` before `Digest`.
    """
    for value in values:
        if match := _DIGEST_CHALLENGE.search(value):
            return match.group(1)
    return None


def _ssl_setting(settings: Settings) -> ssl.SSLContext | bool:
    if settings.insecure:
        return False
    if settings.ca_file is not None:
        try:
            return ssl.create_default_context(cafile=str(settings.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"ca_file {settings.ca_file}: cannot load it ({exc})") from None
    return True


class Transport:
    """One authenticated HTTP session against one Cloud Manager / Ops Manager, for one run."""

    def __init__(self, settings: Settings, *, max_connections: int) -> None:
        self._settings = settings
        self._max_connections = max_connections
        self._proxies = env_proxies(os.environ)  # read once, as the run starts
        if (scheme := urlsplit(settings.base_url).scheme) in self._proxies:
            check_proxy(self._proxies[scheme], f"{scheme.upper()}_PROXY")
        self._session: aiohttp.ClientSession | None = None
        self._primer = Primer()
        self.reached = False  # True once any HTTP answer came back: the server exists
        self.requests_sent = 0

    async def __aenter__(self) -> Self:
        s = self._settings
        auth = DigestAuth(
            s.public_key, s.private_key.reveal(), digest_challenge, on_challenge=self._primer.primed
        )
        self._session = aiohttp.ClientSession(
            # A body's buffer pauses the socket past 2x this: aiohttp's 64 KiB default paused
            # and resumed it after nearly every 256 KiB read (measured: ~6% more CPU per GB,
            # ~9% longer on 200 x 5 MiB); 256 KiB bounds a body's buffer at ~0.75 MiB.
            read_bufsize=READ_BUFSIZE,
            middlewares=(NoDowngrade(s.base_url, allow=s.allow_http_redirect), auth),
            # total=None: a long archive must not be killed by aiohttp's 300 s default;
            # sock_read is the stall guard instead (for an archive's body, only until its
            # headers are in: bodywatch.py then watches with one timer per body).
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=s.connect_timeout_s, sock_read=s.stall_timeout_s
            ),
            # Keep-alive: a connection that received bytes while idle is never reused.
            connector=GuardedConnector(limit=self._max_connections, ssl=_ssl_setting(s)),
            auto_decompress=False,  # bytes on disk == bytes on the wire == Content-Length
            headers={"User-Agent": f"bulkdl/{__version__}"},
            raise_for_status=False,
            trust_env=False,  # proxies are ours to resolve; no ~/.netrc credentials either
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            with anyio.CancelScope(shield=True):
                await self._session.close()

    @asynccontextmanager
    async def request(
        self,
        url: str,
        headers: dict[str, str],
        *,
        group: GroupId | None,
        job: JobId | None = None,
        params: dict[str, str] | None = None,
        method: str = "GET",
        json_body: dict[str, Any] | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        assert self._session is not None, "use the client as an async context manager"
        priming = await self._primer.turn()
        try:
            self.requests_sent += 1
            proxy = self._proxy_for(url)
            try:
                # The stall timeout re-arms on every byte: headers trickled a byte at a time
                # would hold the run forever without a deadline of their own.
                s = self._settings
                limit, named = header_deadline(
                    s.header_timeout_s, s.min_rate_bytes_s, s.min_rate_window_s
                )
                with anyio.move_on_after(limit) as deadline:
                    resp = await self._session.request(
                        method, url, headers=headers, params=params, json=json_body, proxy=proxy
                    )
                if deadline.cancelled_caught:
                    raise headers_too_slow(url, limit, named, group, job)
            except aiohttp.TooManyRedirects as exc:
                raise redirect_loop(exc, where(group, job)) from None
            except aiohttp.ClientHttpProxyError as exc:
                raise ProxyError(
                    f"proxy {redact(proxy or '')} refused the connection to "
                    f"{urlsplit(url).netloc} (HTTP {exc.status})",
                    hint="check --proxy / the proxy key / HTTPS_PROXY and its credentials",
                ) from None
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise network_error(exc, url, group=group, job=job, proxy=proxy) from None
        except BaseException:
            if priming:
                self._primer.failed()
            raise
        self.reached = True
        self._primer.primed()  # an answer without a challenge (or after one) primes too
        try:
            yield resp
        finally:
            resp.release()

    async def error_from(
        self, resp: aiohttp.ClientResponse, *, group: str | None, job: str | None
    ) -> ApiError | ProxyError:
        try:
            body = await resp.content.read(ERROR_BODY_LIMIT)
        except (TimeoutError, aiohttp.ClientError):
            body = b""
        if not self._same_origin(str(resp.url)):
            # A redirect took us elsewhere (credentials are not sent there): its answer says
            # nothing about our key or our access to the group.
            code, detail = _parse_error_body(body)
            return ApiError(
                f"{where(group, job)}: redirected to {resp.url.origin()}, "
                f"which answered HTTP {resp.status}" + (f" ({detail})" if detail else ""),
                status=resp.status,
                error_code=code,
                group_id=group,
                job_id=job,
            )
        proxy = self._proxy_for(str(resp.url))
        if proxy is not None and (
            resp.status == 407 or (resp.status == 403 and _parse_error_body(body)[0] is None)
        ):
            # The API's own 403s carry an errorCode; a bare 403 or any 407 here is the proxy's.
            return ProxyError(
                f"proxy {redact(proxy)} refused the request to {resp.url.origin()} "
                f"(HTTP {resp.status})",
                hint="check --proxy / the proxy key / HTTP_PROXY and its credentials",
            )
        return api_error(
            resp.status,
            body,
            group=group,
            job=job,
            retry_after=resp.headers.get("Retry-After"),
            challenged=digest_challenge(resp.headers.getall("WWW-Authenticate", [])) is not None,
        )

    def _proxy_for(self, url: str) -> str | None:
        if not self._proxies:  # no *_PROXY in the environment: nothing to parse per request
            return self._settings.proxy
        return proxy_for(url, self._settings.proxy, self._proxies)

    def _same_origin(self, url: str) -> bool:
        mine, theirs = urlsplit(self._settings.base_url), urlsplit(url)
        return (mine.scheme, mine.netloc) == (theirs.scheme, theirs.netloc)


def headers_too_slow(
    url: str, seconds: float, named: str, group: str | None, job: str | None
) -> NetworkError:
    """The header deadline passed: retried like a stall."""
    host = urlsplit(url).netloc
    return NetworkError(
        f"{where(group, job)}: {host} had not sent its status line and headers after "
        f"{seconds:g} s ({named})",
        group_id=group,
        job_id=job,
    )


def tls_reason(exc: aiohttp.ClientConnectorCertificateError) -> str:
    """Which check failed (unknown CA, name mismatch, expired), in OpenSSL's words."""
    cert_error = exc.certificate_error
    said = getattr(cert_error, "verify_message", None) or str(cert_error)
    return " ".join(str(said).split())[:160] or "unknown reason"


def network_error(
    exc: BaseException,
    url: str,
    *,
    group: str | None,
    job: str | None,
    proxy: str | None = None,
) -> NetworkError:
    host = urlsplit(url).netloc
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        what = f"cannot connect to the proxy {redact(proxy or '')} ({exc.strerror or 'refused'})"
    elif isinstance(exc, aiohttp.ClientConnectorCertificateError):
        what = f"TLS certificate of {host} could not be verified: {tls_reason(exc)}"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        what = f"cannot connect to {host} ({exc.strerror or exc.__class__.__name__})"
    elif isinstance(exc, asyncio.TimeoutError):
        what = f"no data from {host} within the timeout"
    elif isinstance(exc, aiohttp.ClientPayloadError):
        what = "the body was cut short"
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        what = f"{host} closed the connection"
    elif isinstance(exc, aiohttp.ClientResponseError):
        # aiohttp's message quotes the offending bytes; they say nothing a user can act on.
        what = f"{host} answered something that is not valid HTTP (bytes past a body's end?)"
    else:
        what = f"{exc.__class__.__name__}: {exc}"
    return NetworkError(f"{where(group, job)}: {what}", group_id=group, job_id=job)
