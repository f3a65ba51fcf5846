"""The Cloud Manager / Ops Manager public API v1.0, as bulkdl uses it: its endpoints.

How requests travel (session, Digest auth, TLS, proxies) and how error answers become bulkdl
errors is transport.py's; this module names the resources, follows pagination, parses answers
into models, and streams archive bodies. What a body must prove before the sink sees it
(sniff.py, bodywatch.py): a non-HTML, non-JSON Content-Type, a tar header at its start, a pace
above the minimum rate, and no bytes past its Content-Length.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp
import anyio
from aiohttp.http_exceptions import HttpProcessingError

from bulkdl.cloud.body_watch import BodyWatch
from bulkdl.cloud.pacing import RequestBudget
from bulkdl.cloud.transport import Transport, network_error
from bulkdl.domain.archive_head import NotArchive, TarGzSniffer, refused_content_type
from bulkdl.domain.content_range import BadContentRange, parse_content_range
from bulkdl.domain.errors import (
    ApiError,
    AuthError,
    BulkdlError,
    Misframed,
    NotAnArchive,
    ProtocolError,
    ProxyError,
    ResumeRejected,
    where,
)
from bulkdl.domain.models import (
    RANGE_FIELDS,
    CollectionRange,
    DateForm,
    GroupId,
    GroupInfo,
    Job,
    JobId,
    Malformed,
    is_object_id,
    parse_groups,
    parse_jobs,
)
from bulkdl.settings.load import Settings

ITEMS_PER_PAGE: Final = 500  # the documented maximum
MAX_PAGES: Final = 10_000  # 5 million jobs: a bound, so a misbehaving server cannot loop us


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


def is_range_format_error(exc: ApiError) -> bool:
    """A 400 saying the server cannot read logCollectionFromDate/ToDate in the form we sent
    (pure): a wrongly typed attribute that names one of them, or JSON it could not map."""
    if exc.status != 400:
        return False
    if exc.error_code == "INVALID_JSON":
        return True
    named = any(field in exc.message for field in RANGE_FIELDS)
    return exc.error_code == "INVALID_JSON_ATTRIBUTE" and named


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


def follow_next(base_url: str, page_url: str, href: str) -> str:
    """The URL to request for a page's `next` href (pure).

    A relative href resolves against the page's URL (RFC 3986). An absolute one on another
    origin (an Ops Manager whose configured central URL is not the one we reach it by) is
    followed by its path and query on base_url's origin: credentials never leave that origin.
    """
    target = urlsplit(urljoin(page_url, href))
    mine = urlsplit(base_url)
    if (target.scheme, target.netloc) == (mine.scheme, mine.netloc):
        return target.geturl()
    return f"{mine.scheme}://{mine.netloc}{target.path}" + (
        f"?{target.query}" if target.query else ""
    )


class CloudManagerClient(Transport):
    """The API's log-collection and group endpoints, over one run's Transport."""

    def __init__(
        self,
        settings: Settings,
        *,
        max_connections: int,
        budget: RequestBudget | None = None,
    ) -> None:
        super().__init__(settings, max_connections=max_connections)
        self._budget = budget  # paces API calls (not archive bodies) per group
        # API calls in flight at once (listings, polls, creations), whatever the group: taken
        # only after the group's budget allows the call, so a paced group holds no slot.
        self._calls = anyio.CapacityLimiter(settings.list_concurrency)
        # How collection windows are sent: the docs' form until the server refuses it once.
        self.date_form = DateForm.ISO
        self._date_form_known = False
        self._date_form_lock = anyio.Lock()

    async def list_jobs(
        self, group: GroupId, *, verbose: bool = False
    ) -> tuple[list[Job], list[Malformed]]:
        """Every job of the group, following `next` links until the last page, and the entries
        skipped for a malformed id; with `verbose`, each job's childJobs (one per host part)."""
        url = f"{self._settings.api_url}/groups/{group}/logCollectionJobs"
        if verbose:
            url += "?verbose=true"  # kept on every page: the API echoes it in `next` links
        items = await self._paged(url, group=group, what="job listing")
        return parse_jobs(group, items)

    async def list_groups(self, org: str | None = None) -> tuple[list[GroupInfo], list[Malformed]]:
        """Every group (project) the key can see, or those of one organization; and the
        entries skipped for a malformed id."""
        url = (
            f"{self._settings.api_url}/orgs/{org}/groups"
            if org
            else f"{self._settings.api_url}/groups"
        )
        items = await self._paged(url, group=None, what="group listing")
        return parse_groups(items)

    async def get_job(self, group: GroupId, job: JobId, *, verbose: bool = False) -> Job:
        """One job, fresh: used to poll a job until it leaves IN_PROGRESS; with `verbose`,
        its childJobs."""
        url = f"{self._settings.api_url}/groups/{group}/logCollectionJobs/{job}"
        if verbose:
            url += "?verbose=true"
        doc = await self._call_json("GET", url, group=group, job=job, what="job")
        return Job.from_api(group, doc)

    async def create_job(self, group: GroupId, request: dict[str, Any]) -> JobId:
        """POST a log-collection request; the API answers 201 with the new job's id."""
        url = f"{self._settings.api_url}/groups/{group}/logCollectionJobs"
        doc = await self._call_json("POST", url, group=group, body=request, what="new job")
        raw = doc.get("id")
        if not isinstance(raw, str) or not is_object_id(raw):
            raise ProtocolError(
                f"{where(group)}: the API created a job with a malformed id {raw!r}",
                group_id=group,
            )
        return JobId(raw)

    async def create_job_in_range(
        self, group: GroupId, request: dict[str, Any], window: CollectionRange
    ) -> JobId:
        """POST a request limited to `window`, its dates in `date_form`.

        The docs say ISO 8601; Go and mongocli send epoch milliseconds. Until one POST has
        settled which form this server reads, POSTs go one at a time: a 400 about the dates'
        format makes us resend once in the other form, kept for the rest of the run.
        """

        def body() -> dict[str, Any]:
            return {**request, **window.to_api(self.date_form)}

        if self._date_form_known:
            return await self.create_job(group, body())
        async with self._date_form_lock:
            if self._date_form_known:  # settled by another group's POST while we waited
                return await self.create_job(group, body())
            try:
                created = await self.create_job(group, body())
            except ApiError as exc:
                if not is_range_format_error(exc):
                    raise
                self.date_form = self.date_form.other()
                self._date_form_known = True  # both tried: never flip back and forth
                return await self.create_job(group, body())
            self._date_form_known = True
            return created

    async def delete_job(self, group: GroupId, job: JobId) -> None:
        """DELETE a job in any state (200, no body)."""
        url = f"{self._settings.api_url}/groups/{group}/logCollectionJobs/{job}"
        await self._call_json("DELETE", url, group=group, job=job, what="job", empty=True)

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
        place = where(group)
        query = urlencode({"itemsPerPage": str(ITEMS_PER_PAGE), "pageNum": "1"})
        page_url: str | None = f"{url}{'&' if '?' in url else '?'}{query}"
        followed: set[str] = set()  # pages already requested: a repeat would loop forever
        items: list[Any] = []
        while page_url is not None:
            if len(followed) >= MAX_PAGES:
                raise ProtocolError(
                    f"{place}: the {what} has more than {MAX_PAGES} pages", group_id=group
                )
            followed.add(page_url)
            doc = await self._call_json("GET", page_url, group=group, what=what)
            results = doc.get("results")
            if not isinstance(results, list):
                raise ProtocolError(f"{place}: the {what} has no 'results' list", group_id=group)
            items.extend(results)
            href = next_link(doc)
            page_url = (
                None if href is None else follow_next(self._settings.base_url, page_url, href)
            )
            if page_url in followed:
                raise ProtocolError(
                    f"{place}: the {what}'s 'next' link repeats {page_url}", group_id=group
                )
        return items

    @asynccontextmanager
    async def open_download(
        self, job: Job, *, resume_from: int = 0, validator: str | None = None
    ) -> AsyncIterator[Body]:
        """Start streaming one archive; raises ApiError/NetworkError before the first byte.

        With resume_from > 0 and a validator from the earlier answer, asks for the rest (`Range`
        with `If-Range`): a changed archive then comes whole. Without a validator nothing could
        tell a changed archive from the same one, so the body starts over at byte 0. A server
        that ignores Range answers 200 and the body starts at 0 too.
        """
        url = f"{self._settings.api_url}/groups/{job.group_id}/logCollectionJobs/{job.id}/download"
        headers = {"Accept": "application/gzip", "Accept-Encoding": "identity"}
        if resume_from > 0 and validator is not None:
            headers["Range"] = f"bytes={resume_from}-"
            headers["If-Range"] = validator
        place = where(job.group_id, job.id)
        async with self._request(url, headers, group=job.group_id, job=job.id) as resp:
            if resp.status not in (200, 206) or (resp.status == 206 and "Range" not in headers):
                raise await self._error_from(resp, group=job.group_id, job=job.id)
            content_type = resp.headers.get("Content-Type", "")
            if (instead := refused_content_type(content_type)) is not None:
                shown = "".join(c for c in content_type[:80] if c.isprintable())  # server text
                raise NotAnArchive(
                    f"{place}: the server answered {instead} ({shown}), not a gzip "
                    "archive (a proxy or login page?)",
                    group_id=job.group_id,
                    job_id=job.id,
                )
            start, total = 0, resp.content_length
            if resp.status == 206:
                header = resp.headers.get("Content-Range")
                try:
                    got = parse_content_range(
                        header, asked_from=resume_from, content_length=resp.content_length
                    )
                except BadContentRange as exc:
                    # Misplaced bytes would corrupt the file: start over from byte 0.
                    raise ResumeRejected(
                        f"{place}: resume answered with Content-Range {header!r}: {exc}",
                        group_id=job.group_id,
                        job_id=job.id,
                    ) from None
                start, total = got.start, got.total if got.total is not None else got.end + 1
            yield Body(
                start=start,
                total_length=total,
                validator=resp.headers.get("ETag") or resp.headers.get("Last-Modified"),
                chunks=self._chunks(resp, job.group_id, job.id, sniff=start == 0),
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
        place = where(group)
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
                raise network_error(exc, url, group=group, job=job) from None
        if empty:
            return {}
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            html = b"<html" in raw[:512].lower()
            raise ProtocolError(
                f"{place}: the {what} is not JSON"
                + (" (an HTML page: a proxy or login page?)" if html else ""),
                group_id=group,
            ) from None
        if not isinstance(doc, dict):
            raise ProtocolError(f"{place}: the {what} is not a JSON object", group_id=group)
        return doc

    async def _chunks(
        self, resp: aiohttp.ClientResponse, group: str, job: str, *, sniff: bool
    ) -> AsyncIterator[bytes]:
        """The body as it arrives, failed (retryably) when too slow or longer than it said.

        One generator for the whole receive path: every layer would cost a resume per chunk.
        Chunks are aiohttp's buffers as they came off the socket, never joined; the minimum
        rate and the stall timeout are judged by a timer (bodywatch.py), so a chunk costs nothing
        here but its yield.
        With `sniff` (a body from byte 0), the first chunks are held until they prove a tar.gz.
        """
        conn = resp.connection
        protocol = conn.protocol if conn is not None else None  # held: released at body's end
        if protocol is not None:
            # Never pooled again: bytes a server sends past Content-Length would otherwise be
            # read as the start of the next answer on this connection, whoever's it is.
            protocol.force_close()
        place = where(group, job)
        watch = (
            None
            if protocol is None  # the whole body is in already
            else BodyWatch(
                protocol, resp.content, self._settings, where=place, group=group, job=job
            )
        )
        sniffer = TarGzSniffer() if sniff else None
        held: list[bytes] = []
        try:
            async for chunk, _ in resp.content.iter_chunks():
                if not chunk:  # the end of an HTTP chunk (chunked transfer encoding)
                    continue
                if sniffer is None:
                    yield chunk
                    continue
                sniffer.feed(chunk)
                held.append(chunk)
                if sniffer.done:
                    sniffer = None
                    for early in held:
                        yield early
                    held = []
            if sniffer is not None:
                sniffer.end()
        except NotArchive as exc:
            raise NotAnArchive(
                f"{place}: the server sent something that is {exc}", group_id=group, job_id=job
            ) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise network_error(exc, str(resp.url), group=group, job=job) from None
        finally:
            if watch is not None:
                watch.stop()
        for early in held:  # an empty body: the sink names it
            yield early
        if protocol is not None and isinstance(protocol.exception(), HttpProcessingError):
            # aiohttp stops at Content-Length and parses what follows as the next response:
            # a parse error there means the server sent more than it said (when those bytes
            # came with the body's end; later ones only die with the connection). Which length
            # was the archive's is unknowable, so this attempt fails. A server that closes the
            # connection after a whole body (ServerDisconnectedError here) sent nothing extra.
            raise Misframed(
                f"{place}: the server sent more than its Content-Length "
                f"({resp.content_length} bytes) on this connection",
                group_id=group,
                job_id=job,
            )


def is_fatal(exc: BulkdlError) -> bool:
    """Errors that end the whole run (exit 2) wherever they happen: a rejected key, or a proxy
    that refuses us (every other request would meet the same refusal)."""
    return isinstance(exc, AuthError | ProxyError)
