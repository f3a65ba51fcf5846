"""The Cloud Manager / Ops Manager public API v1.0, as bulkdl uses it: its endpoints.

How requests travel (session, Digest auth, TLS, proxies) and how error answers become bulkdl
errors is transport.py's; this module names the resources, follows pagination and parses
answers into models. An archive's body, and what it must prove before the sink sees it, is
download.py's.
"""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from typing import Any, Final, Self
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp
import anyio

from bulkdl.cloud.download import Body, open_download
from bulkdl.cloud.notices import warn
from bulkdl.cloud.pacing import RequestBudget
from bulkdl.cloud.page_read import read_capped
from bulkdl.cloud.transport import Transport, network_error
from bulkdl.domain.errors import (
    ApiError,
    AuthError,
    BulkdlError,
    ProtocolError,
    ProxyError,
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


class CloudManagerClient:
    """The API's log-collection and group endpoints, over one run's Transport (held, not
    inherited: how requests travel is the transport's; what they ask for is this class's)."""

    def __init__(
        self,
        settings: Settings,
        *,
        max_connections: int,
        budget: RequestBudget | None = None,
    ) -> None:
        self._settings = settings
        self._transport = Transport(settings, max_connections=max_connections)
        self._budget = budget  # paces API calls (not archive bodies) per group
        # API calls in flight at once (listings, polls, creations), whatever the group: taken
        # only after the group's budget allows the call, so a paced group holds no slot.
        self._calls = anyio.CapacityLimiter(settings.list_concurrency)
        # How collection windows are sent: the docs' form until the server refuses it once.
        self.date_form = DateForm.ISO
        self._date_form_known = False
        self._date_form_lock = anyio.Lock()

    async def __aenter__(self) -> Self:
        await self._transport.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._transport.__aexit__(*exc)

    @property
    def reached(self) -> bool:
        """Whether any HTTP answer came back: the server exists."""
        return self._transport.reached

    @property
    def requests_sent(self) -> int:
        return self._transport.requests_sent

    def open_download(
        self, job: Job, *, resume_from: int = 0, validator: str | None = None
    ) -> AbstractAsyncContextManager[Body]:
        """Start streaming one archive (download.py); raises ApiError/NetworkError before the
        first byte."""
        return open_download(
            self._transport, self._settings, job, resume_from=resume_from, validator=validator
        )

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
        totals: list[object] = []  # each page's totalCount
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
            totals.append(doc.get("totalCount"))
            href = next_link(doc)
            page_url = (
                None if href is None else follow_next(self._settings.base_url, page_url, href)
            )
            if page_url in followed:
                raise ProtocolError(
                    f"{place}: the {what}'s 'next' link repeats {page_url}", group_id=group
                )
        if isinstance(total := totals[-1], int) and total != len(items):
            warn(
                f"{place}: the {what} says totalCount {total}, its pages held {len(items)} "
                "(changed while listed?): a rerun lists it again"
            )
        return items

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
            self._transport.request(
                url, headers, group=group, job=job, params=params, method=method, json_body=body
            ) as resp,
        ):
            if not 200 <= resp.status < 300:
                raise await self._transport.error_from(resp, group=group, job=job)
            try:
                raw = await read_capped(resp, self._settings.max_page_bytes)
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise network_error(exc, url, group=group, job=job) from None
        if raw is None:
            raise ProtocolError(
                f"{place}: the {what} is larger than max_page_bytes "
                f"({self._settings.max_page_bytes} bytes); not read further",
                group_id=group,
                hint="a page of 500 jobs is well under 1 MiB: check base_url (a proxy's page?), "
                "or raise max_page_bytes if the server is right",
            )
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


def is_fatal(exc: BulkdlError) -> bool:
    """Errors that end the whole run (exit 2) wherever they happen: a rejected key, or a proxy
    that refuses us (every other request would meet the same refusal)."""
    return isinstance(exc, AuthError | ProxyError)
