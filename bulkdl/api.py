"""The Cloud Manager / Ops Manager public API v1.0, as bulkdl uses it.

The only module that speaks HTTP (aiohttp). One ClientSession per run, with aiohttp's
DigestAuthMiddleware (preemptive: after the first challenge every request carries the answer).
The very first request is sent alone so that concurrent requests at start-up do not each pay a
401 round trip. Every aiohttp failure leaves this module as a bulkdl error: ApiError subclasses
for error statuses, NetworkError for the connection, ProtocolError for a malformed answer.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, Self
from urllib.parse import urlsplit

import aiohttp
import anyio

from bulkdl import __version__
from bulkdl.config import Settings
from bulkdl.errors import (
    ApiError,
    AuthError,
    BulkdlError,
    ConfigError,
    GroupAccessError,
    NetworkError,
    ProtocolError,
    RateLimited,
    ResumeRejected,
    ServerError,
)
from bulkdl.models import (
    GroupId,
    GroupInfo,
    Job,
    JobId,
    Malformed,
    is_object_id,
    parse_groups,
    parse_jobs,
)
from bulkdl.pacing import RequestBudget

ITEMS_PER_PAGE: Final = 500  # the documented maximum
MAX_PAGES: Final = 10_000  # 5 million jobs: a bound, so a misbehaving server cannot loop us
CHUNK_SIZE_BYTES: Final = 1024 * 1024
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


@dataclass(frozen=True, slots=True)
class Body:
    """An archive response being streamed.

    `start` is the archive offset of the first chunk (0, or the Range start the server
    honoured); `total_length` the whole archive's size when the server said it.
    """

    start: int
    total_length: int | None
    validator: str | None  # ETag or Last-Modified, for If-Range on a later resume
    chunks: AsyncIterator[bytes]


_CONTENT_RANGE: Final = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def parse_content_range(value: str | None) -> tuple[int, int | None] | None:
    """`bytes 100-199/200` -> (100, 200); None when absent or malformed (pure)."""
    if value is None or not (m := _CONTENT_RANGE.fullmatch(value.strip())):
        return None
    total = None if m.group(3) == "*" else int(m.group(3))
    return int(m.group(1)), total


def api_error(
    status: int,
    body: bytes,
    *,
    group: str | None,
    job: str | None = None,
    retry_after: str | None = None,
    challenged: bool = False,
) -> ApiError:
    """Turn an error answer into the typed exception that says whose failure it is (pure)."""
    code, detail = _parse_error_body(body)
    where = f"group {group}" + (f" job {job}" if job else "") if group else "the API"
    said = f"HTTP {status}" + (f" {code}" if code else "") + (f": {detail}" if detail else "")
    kw: dict[str, Any] = {"status": status, "error_code": code, "group_id": group, "job_id": job}
    if status == 401 and code not in _GROUP_ACCESS_CODES:
        return AuthError(
            f"authentication failed: the API rejected the key pair ({said})",
            hint="check BULKDL_PUBLIC_KEY / BULKDL_PRIVATE_KEY and the key's API access list",
            **kw,
        )
    if (status in (401, 403) and code in _GROUP_ACCESS_CODES) or (status == 403 and job is None):
        return GroupAccessError(
            f"{where}: the key cannot access this group ({said})",
            hint="check the group id and that the API key is a member of the project",
            **kw,
        )
    if status == 404 and code in ("GROUP_NOT_FOUND", "INVALID_GROUP_ID"):
        return GroupAccessError(f"{where}: no such group ({said})", **kw)
    if status == 429:
        return RateLimited(
            f"{where}: rate limited ({said})",
            retry_after_s=_seconds(retry_after),
            status=status,
            error_code=code,
            group_id=group,
            job_id=job,
        )
    if status >= 500:
        return ServerError(f"{where}: server error ({said})", **kw)
    return ApiError(f"{where}: {said}", **kw)


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
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare for APIs; we back off on our own instead


def next_link(doc: dict[str, Any]) -> str | None:
    """The `next` href of a paginated answer, if any (pure)."""
    links = doc.get("links")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("rel") == "next":
            href = link.get("href")
            return href if isinstance(href, str) and href else None
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


class CloudManagerClient:
    """One authenticated session against one Cloud Manager / Ops Manager, for one run."""

    def __init__(
        self,
        settings: Settings,
        *,
        max_connections: int,
        budget: RequestBudget | None = None,
    ) -> None:
        self._settings = settings
        self._budget = budget  # paces API calls (not archive bodies) per group
        # API calls in flight at once (listings, polls, creations), whatever the group: taken
        # only after the group's budget allows the call, so a paced group holds no slot.
        self._calls = anyio.CapacityLimiter(settings.list_concurrency)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._prime_lock = anyio.Lock()
        self._primed = False
        self.reached = False  # True once any HTTP answer came back: the server exists
        self.requests_sent = 0

    async def __aenter__(self) -> Self:
        s = self._settings
        auth = aiohttp.DigestAuthMiddleware(s.public_key, s.private_key.reveal())
        self._session = aiohttp.ClientSession(
            middlewares=(auth,),
            # total=None: a long archive must not be killed by aiohttp's 300 s default;
            # sock_read is the stall guard instead.
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=s.connect_timeout_s, sock_read=s.stall_timeout_s
            ),
            connector=aiohttp.TCPConnector(limit=self._max_connections, ssl=_ssl_setting(s)),
            auto_decompress=False,  # bytes on disk == bytes on the wire == Content-Length
            headers={"User-Agent": f"bulkdl/{__version__}"},
            raise_for_status=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            with anyio.CancelScope(shield=True):
                await self._session.close()

    async def list_jobs(self, group: GroupId) -> tuple[list[Job], list[Malformed]]:
        """Every job of the group, following `next` links until the last page; and the
        entries skipped for a malformed id."""
        url = f"{self._settings.api_url}/groups/{group}/logCollectionJobs"
        items = await self._paged(url, group=group, what="job listing")
        return parse_jobs(group, items)

    async def list_groups(
        self, org: str | None = None
    ) -> tuple[list[GroupInfo], list[Malformed]]:
        """Every group (project) the key can see, or those of one organization; and the
        entries skipped for a malformed id."""
        url = (
            f"{self._settings.api_url}/orgs/{org}/groups"
            if org
            else f"{self._settings.api_url}/groups"
        )
        items = await self._paged(url, group=None, what="group listing")
        return parse_groups(items)

    async def get_job(self, group: GroupId, job: JobId) -> Job:
        """One job, fresh: used to poll a job until it leaves IN_PROGRESS."""
        url = f"{self._settings.api_url}/groups/{group}/logCollectionJobs/{job}"
        doc = await self._call_json("GET", url, group=group, job=job, what="job")
        return Job.from_api(group, doc)

    async def create_job(self, group: GroupId, request: dict[str, Any]) -> JobId:
        """POST a log-collection request; the API answers 201 with the new job's id."""
        url = f"{self._settings.api_url}/groups/{group}/logCollectionJobs"
        doc = await self._call_json("POST", url, group=group, body=request, what="new job")
        raw = doc.get("id")
        if not isinstance(raw, str) or not is_object_id(raw):
            raise ProtocolError(f"group {group}: the API created a job with a malformed id {raw!r}")
        return JobId(raw)

    async def extend_job(self, group: GroupId, job: JobId, expiration: str) -> None:
        """PATCH the job's expirationDate (ISO-8601, UTC)."""
        url = f"{self._settings.api_url}/groups/{group}/logCollectionJobs/{job}"
        await self._call_json(
            "PATCH",
            url,
            group=group,
            job=job,
            body={"expirationDate": expiration},
            what="job",
            empty=True,
        )

    async def retry_job(self, group: GroupId, job: JobId) -> None:
        """PUT .../retry on a FAILURE job."""
        url = f"{self._settings.api_url}/groups/{group}/logCollectionJobs/{job}/retry"
        await self._call_json("PUT", url, group=group, job=job, what="job", empty=True)

    async def _paged(self, url: str, *, group: GroupId | None, what: str) -> list[Any]:
        """All `results` of a paginated resource, following `next` links to the last page."""
        where = f"group {group}" if group else "the API"
        next_url: str | None = url
        params: dict[str, str] | None = {"itemsPerPage": str(ITEMS_PER_PAGE), "pageNum": "1"}
        followed: set[str] = set()  # next links already requested: a repeat would loop forever
        items: list[Any] = []
        while next_url is not None:
            if len(followed) >= MAX_PAGES:
                raise ProtocolError(f"{where}: the {what} has more than {MAX_PAGES} pages")
            doc = await self._call_json("GET", next_url, group=group, params=params, what=what)
            results = doc.get("results")
            if not isinstance(results, list):
                raise ProtocolError(f"{where}: the {what} has no 'results' list")
            items.extend(results)
            next_url, params = next_link(doc), None
            if next_url is not None:
                if not self._same_origin(next_url):
                    theirs = urlsplit(next_url)
                    raise ProtocolError(
                        f"{where}: the {what}'s 'next' link points at another origin "
                        f"({theirs.scheme}://{theirs.netloc}); not following it"
                    )
                if next_url in followed:
                    raise ProtocolError(f"{where}: the {what}'s 'next' link repeats {next_url}")
                followed.add(next_url)
        return items

    @asynccontextmanager
    async def open_download(
        self, job: Job, *, resume_from: int = 0, validator: str | None = None
    ) -> AsyncIterator[Body]:
        """Start streaming one archive; raises ApiError/NetworkError before the first byte.

        With resume_from > 0, asks for the rest (`Range`, plus `If-Range` when we have a
        validator). A server that ignores Range answers 200 and the body starts at 0.
        """
        url = f"{self._settings.api_url}/groups/{job.group_id}/logCollectionJobs/{job.id}/download"
        headers = {"Accept": "application/gzip", "Accept-Encoding": "identity"}
        if resume_from > 0:
            headers["Range"] = f"bytes={resume_from}-"
            if validator is not None:
                headers["If-Range"] = validator
        async with self._request(url, headers, group=job.group_id, job=job.id) as resp:
            if resp.status not in (200, 206) or (resp.status == 206 and resume_from == 0):
                raise await self._error_from(resp, group=job.group_id, job=job.id)
            start, total = 0, resp.content_length
            if resp.status == 206:
                parsed = parse_content_range(resp.headers.get("Content-Range"))
                if parsed is None or parsed[0] != resume_from:
                    # Misplaced bytes would corrupt the file: start over from byte 0.
                    raise ResumeRejected(
                        f"group {job.group_id} job {job.id}: resume answered with "
                        f"Content-Range {resp.headers.get('Content-Range')!r}",
                        group_id=job.group_id,
                        job_id=job.id,
                    )
                start, total = parsed
            yield Body(
                start=start,
                total_length=total,
                validator=resp.headers.get("ETag") or resp.headers.get("Last-Modified"),
                chunks=self._chunks(resp, job.group_id, job.id),
            )

    async def _call_json(
        self,
        method: str,
        url: str,
        *,
        group: GroupId | None,
        job: JobId | None = None,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        what: str,
        empty: bool = False,
    ) -> dict[str, Any]:
        """One JSON API call; a 2xx answer's JSON object (or {} when `empty`)."""
        where = f"group {group}" if group else "the API"
        if self._budget is not None:
            await self._budget.acquire(group or "")
        headers = {"Accept": "application/json"}
        async with (
            self._calls,
            self._request(
                url, headers, group=group, job=job, params=params, method=method, json_body=body
            ) as resp,
        ):
            if not 200 <= resp.status < 300:
                raise await self._error_from(resp, group=group, job=job)
            try:
                raw = await resp.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise _network_error(exc, url, group=group, job=job) from None
        if empty:
            return {}
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            html = b"<html" in raw[:512].lower()
            raise ProtocolError(
                f"{where}: the {what} is not JSON"
                + (" (an HTML page: a proxy or login page?)" if html else "")
            ) from None
        if not isinstance(doc, dict):
            raise ProtocolError(f"{where}: the {what} is not a JSON object")
        return doc

    @asynccontextmanager
    async def _request(
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
        assert self._session is not None, "use CloudManagerClient as an async context manager"
        holding = False
        if not self._primed:
            # The first request goes alone: it collects the digest challenge that every later
            # request then answers preemptively, instead of N concurrent 401 round trips.
            await self._prime_lock.acquire()
            holding = True
        try:
            self.requests_sent += 1
            try:
                resp = await self._session.request(
                    method, url, headers=headers, params=params, json=json_body
                )
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise _network_error(exc, url, group=group, job=job) from None
            self.reached = True
            self._primed = True
        finally:
            if holding:
                self._prime_lock.release()
        try:
            yield resp
        finally:
            resp.release()

    async def _error_from(
        self, resp: aiohttp.ClientResponse, *, group: str | None, job: str | None
    ) -> ApiError:
        try:
            body = await resp.content.read(ERROR_BODY_LIMIT)
        except (TimeoutError, aiohttp.ClientError):
            body = b""
        if not self._same_origin(str(resp.url)):
            # A redirect took us elsewhere (credentials are not sent there): its answer says
            # nothing about our key or our access to the group.
            code, detail = _parse_error_body(body)
            where = (f"group {group}" if group else "the API") + (f" job {job}" if job else "")
            return ApiError(
                f"{where}: redirected to {resp.url.origin()}, which answered HTTP {resp.status}"
                + (f" ({detail})" if detail else ""),
                status=resp.status,
                error_code=code,
                group_id=group,
                job_id=job,
            )
        return api_error(
            resp.status, body, group=group, job=job, retry_after=resp.headers.get("Retry-After")
        )

    async def _chunks(
        self, resp: aiohttp.ClientResponse, group: str, job: str
    ) -> AsyncIterator[bytes]:
        try:
            async for chunk in resp.content.iter_chunked(CHUNK_SIZE_BYTES):
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _network_error(exc, str(resp.url), group=group, job=job) from None

    def _same_origin(self, url: str) -> bool:
        mine, theirs = urlsplit(self._settings.base_url), urlsplit(url)
        return (mine.scheme, mine.netloc) == (theirs.scheme, theirs.netloc)


def _network_error(
    exc: BaseException, url: str, *, group: str | None, job: str | None
) -> NetworkError:
    where = f"group {group}" + (f" job {job}" if job else "") if group else "the API"
    host = urlsplit(url).netloc
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        what = f"TLS certificate of {host} could not be verified"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        what = f"cannot connect to {host} ({exc.strerror or exc.__class__.__name__})"
    elif isinstance(exc, asyncio.TimeoutError):
        what = f"no data from {host} within the timeout"
    elif isinstance(exc, aiohttp.ClientPayloadError):
        what = "the body was cut short"
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        what = f"{host} closed the connection"
    else:
        what = f"{exc.__class__.__name__}: {exc}"
    return NetworkError(f"{where}: {what}", group_id=group, job_id=job)


def is_fatal(exc: BulkdlError) -> bool:
    """Errors that end the whole run (exit 2) wherever they happen: a rejected key."""
    return isinstance(exc, AuthError)
