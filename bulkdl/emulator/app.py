"""The aiohttp application: Cloud Manager's log-collection read API behind digest auth.

Order on every request, as the real API: digest auth, then the group's rate limit (if set),
then group access, then the resource. A download is resolved (job, state, archive, range) before
anything is sent, then streamed in `chunk_size` pieces with an optional pause between them so
tests can make downloads overlap.

Injected faults (`faults.py`) are taken where a listing or download is counted, one per request:
5xx/429/HTML/stale-nonce faults answer before the group or job is looked up, the others spoil the
real answer, so a job that cannot be downloaded answers its own error and spends the fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import hdrs, web

from bulkdl.emulator import errors, inject
from bulkdl.emulator.archives import corrupt_archive
from bulkdl.emulator.bodies import BODY_FAULTS, send_body, tracked
from bulkdl.emulator.digest import (
    DEFAULT_NONCE_TTL_S,
    NonceStore,
    Verdict,
    check_credentials,
    parse_authorization,
)
from bulkdl.emulator.faults import CorruptGzip, FaultKind
from bulkdl.emulator.fleet import EmulatedJob, Fleet
from bulkdl.emulator.ranges import Unsatisfiable, byte_window
from bulkdl.emulator.state import EmulatorState

API_PREFIX: Final = "/api/public/v1.0"
DEFAULT_ITEMS_PER_PAGE: Final = 100
MAX_ITEMS_PER_PAGE: Final = 500
STATE_KEY: Final = web.AppKey("bulkdl_emulator_state", EmulatorState)

_OBJECT_ID: Final = re.compile(r"[0-9a-fA-F]{24}")
_JSON_HEADERS: Final = {
    "Vary": "Accept-Encoding",
    "Strict-Transport-Security": "max-age=300",
    hdrs.CONTENT_TYPE: "application/json",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def emulator_state(app: web.Application) -> EmulatorState:
    """The state (fleet, counters, nonces) of an app made by `build_app`."""
    return app[STATE_KEY]


def build_app(
    fleet: Fleet,
    *,
    nonce_ttl_s: float = DEFAULT_NONCE_TTL_S,
    chunk_size: int = 64 * 1024,
    chunk_delay_s: float = 0.0,
) -> web.Application:
    """An app serving `fleet`; `chunk_delay_s` slows archive bodies down on purpose."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if nonce_ttl_s <= 0:
        raise ValueError(f"nonce_ttl_s must be > 0, got {nonce_ttl_s}")
    app = web.Application(middlewares=[_api_middleware])
    app[STATE_KEY] = EmulatorState(
        fleet=fleet,
        nonces=NonceStore(nonce_ttl_s),
        chunk_size=chunk_size,
        chunk_delay_s=chunk_delay_s,
    )
    jobs = f"{API_PREFIX}/groups/{{gid}}/logCollectionJobs"
    app.router.add_route("GET", jobs, list_jobs, name="list")
    app.router.add_route("GET", f"{jobs}/{{jid}}", get_job, name="job")
    app.router.add_route("GET", f"{jobs}/{{jid}}/download", download, name="download")
    app.on_shutdown.append(_cut_streams)
    return app


async def _cut_streams(app: web.Application) -> None:
    """On shutdown, cut archive bodies still streaming instead of waiting for slow ones."""
    for task in app[STATE_KEY].streams:
        task.cancel()


@web.middleware
async def _api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count, authenticate, route; turn `ApiError` into the API's error body."""
    state = request.app[STATE_KEY]
    state.counters.requests += 1
    if hdrs.AUTHORIZATION in request.headers:
        state.counters.authorization_headers += 1
    try:
        response = await _authenticated(request, handler, state)
    except errors.ApiError as err:
        response = err.to_response()
    state.counters.responses_by_status[response.status] += 1
    return response


async def _authenticated(
    request: web.Request, handler: Handler, state: EmulatorState
) -> web.StreamResponse:
    verdict = check_credentials(
        parse_authorization(request.headers.get(hdrs.AUTHORIZATION)),
        method=request.method,
        uris={request.raw_path, request.path_qs},
        keys=state.fleet.keys,
        nonce_state=state.nonces.state,
    )
    if verdict is not Verdict.OK:
        raise state.challenge(stale=verdict is Verdict.STALE)
    match_info = request.match_info
    state.counters.requests_by_kind[match_info.route.name or "unknown"] += 1
    gid = match_info.get("gid")
    if gid is not None and state.rate_limit is not None and not state.rate_limit.admit(gid):
        state.counters.rate_limited += 1
        limit = state.rate_limit
        raise errors.rate_limited(request.path, limit.limit, limit.minutes)
    if (exc := match_info.http_exception) is not None:
        if exc.status == 405:
            raise errors.method_not_allowed(request.method, request.path)
        raise errors.resource_not_found(request.path)
    return await handler(request)


async def list_jobs(request: web.Request) -> web.StreamResponse:
    """GET …/logCollectionJobs: one page of the group's jobs, newest first, with links."""
    state = request.app[STATE_KEY]
    gid = request.match_info["gid"]
    state.counters.list_requests_by_group[gid] += 1
    fault = state.listing_faults.take(gid)  # this request is the group's next attempt
    if (answer := inject.answer_instead(request, state, fault)) is not None:
        return answer
    jobs = _group_jobs(request, state.fleet, gid)
    page = _positive_int(request.query, "pageNum", 1, None)
    per_page = _positive_int(
        request.query, "itemsPerPage", DEFAULT_ITEMS_PER_PAGE, MAX_ITEMS_PER_PAGE
    )
    verbose = _flag(request.query, "verbose")
    start = (page - 1) * per_page
    origin = _origin(request)
    doc: dict[str, Any] = {
        "links": page_links(request, page, per_page, len(jobs)),
        "results": [job.to_api(origin, verbose) for job in jobs[start : start + per_page]],
    }
    if request.query.get("includeCount", "true").lower() != "false":
        doc["totalCount"] = len(jobs)
    if _flag(request.query, "envelope"):
        doc["status"] = 200
    inject.break_listing(state, doc, fault)
    body = inject.break_json(state, _json_bytes(request, doc), fault)
    if not isinstance(fault, BODY_FAULTS):
        return _json_response(body)
    response = web.StreamResponse(headers=_JSON_HEADERS)
    with tracked(state), contextlib.suppress(ConnectionResetError):
        await send_body(request, response, state, memoryview(body), fault)
    return response


async def get_job(request: web.Request) -> web.Response:
    """GET …/logCollectionJobs/{jid}: one job."""
    state = request.app[STATE_KEY]
    job = _find_job(request, state.fleet)
    doc = job.to_api(_origin(request), _flag(request.query, "verbose"))
    if _flag(request.query, "envelope"):
        doc = {"content": doc, "status": 200}
    return _json_response(_json_bytes(request, doc))


async def download(request: web.Request) -> web.StreamResponse:
    """GET …/logCollectionJobs/{jid}/download: the archive, whole or from a byte offset."""
    state = request.app[STATE_KEY]
    jid = request.match_info["jid"]
    state.counters.downloads_by_job[jid] += 1
    fault = state.download_faults.take(jid)  # this request is the job's next attempt
    if (answer := inject.answer_instead(request, state, fault)) is not None:
        return answer
    job = _find_job(request, state.fleet)
    if job.status == "IN_PROGRESS":
        raise errors.cannot_download_in_progress(job.id)
    if job.status == "EXPIRED":
        raise errors.cannot_download_expired(job.id)
    archive = await asyncio.to_thread(state.archives.get, job)
    range_header = request.headers.get(hdrs.RANGE)
    if request.headers.get(hdrs.IF_RANGE, archive_etag(job, archive)) != archive_etag(job, archive):
        range_header = None  # RFC 9110 If-Range: the client's copy is stale, send it all
    try:
        window = byte_window(range_header, len(archive))
    except Unsatisfiable:
        raise errors.range_not_satisfiable(len(archive)) from None
    if isinstance(fault, CorruptGzip):
        state.fault_served(fault)
        archive = await asyncio.to_thread(corrupt_archive, archive)
    return await _send_archive(request, state, job, archive, window, fault)


def archive_etag(job: EmulatedJob, archive: bytes) -> str:
    """A strong validator: archives are deterministic per job, so id and length identify one."""
    return f'"{job.id}-{len(archive)}"'


async def _send_archive(
    request: web.Request,
    state: EmulatorState,
    job: EmulatedJob,
    archive: bytes,
    window: tuple[int, int] | None,
    fault: FaultKind | None,
) -> web.StreamResponse:
    first, last = window if window is not None else (0, len(archive) - 1)
    response = web.StreamResponse(status=200 if window is None else 206)
    response.headers.update(
        {
            hdrs.CONTENT_TYPE: "application/gzip",
            hdrs.CONTENT_DISPOSITION: f'attachment; filename="mongodb-logs-{job.id}.tar.gz"',
            hdrs.ACCEPT_RANGES: "bytes",
            hdrs.ETAG: archive_etag(job, archive),
        }
    )
    if window is not None:
        response.headers[hdrs.CONTENT_RANGE] = f"bytes {first}-{last}/{len(archive)}"
    state.counters.download_started(job.group_id)
    completed = False
    try:
        with tracked(state):
            body = memoryview(archive)[first : last + 1]
            completed = await send_body(request, response, state, body, fault)
    except ConnectionResetError:
        pass  # the client went away mid-body; nothing left to answer
    finally:
        state.counters.download_ended(job.group_id, completed=completed)
    return response


def _group_jobs(request: web.Request, fleet: Fleet, gid: str) -> list[EmulatedJob]:
    """The group's jobs, after the checks the API makes on the group id and the key's access."""
    if not _OBJECT_ID.fullmatch(gid):
        raise errors.invalid_group_id(gid)
    if gid in fleet.forbidden:
        raise errors.ip_not_on_whitelist(request.remote or "unknown")
    if gid in fleet.not_in_group:
        raise errors.not_in_group()
    jobs = fleet.groups.get(gid)
    if jobs is None:
        raise errors.group_not_found(gid)
    return jobs


def _find_job(request: web.Request, fleet: Fleet) -> EmulatedJob:
    gid, jid = request.match_info["gid"], request.match_info["jid"]
    jobs = _group_jobs(request, fleet, gid)
    if not _OBJECT_ID.fullmatch(jid):
        raise errors.invalid_job_id(jid)
    for job in jobs:
        if job.id == jid.lower():
            return job
    raise errors.job_not_found(jid, gid)


def page_links(request: web.Request, page: int, per_page: int, total: int) -> list[dict[str, str]]:
    """RFC 5988 links: `previous` unless on page 1, `self`, `next` unless on the last page.

    The request's other query parameters are echoed, then pageNum and itemsPerPage.
    """
    base = f"{_origin(request)}{request.rel_url.raw_path}"
    kept = [(k, v) for k, v in request.query.items() if k not in ("pageNum", "itemsPerPage")]

    def href(n: int) -> str:
        return f"{base}?{urlencode([*kept, ('pageNum', n), ('itemsPerPage', per_page)])}"

    links = []
    if page > 1:
        links.append({"href": href(page - 1), "rel": "previous"})
    links.append({"href": href(page), "rel": "self"})
    if page * per_page < total:
        links.append({"href": href(page + 1), "rel": "next"})
    return links


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _positive_int(query: Mapping[str, str], name: str, default: int, maximum: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.invalid_query_parameter(name) from None
    if value < 1 or (maximum is not None and value > maximum):
        raise errors.invalid_query_parameter(name)
    return value


def _flag(query: Mapping[str, str], name: str) -> bool:
    return query.get(name, "false").lower() == "true"


def _json_bytes(request: web.Request, doc: dict[str, Any]) -> bytes:
    """A success body: compact JSON, or Jackson-style pretty JSON with `pretty=true`."""
    if _flag(request.query, "pretty"):
        return json.dumps(doc, indent=2, separators=(",", " : ")).encode()
    return json.dumps(doc, separators=(",", ":")).encode()


def _json_response(body: bytes) -> web.Response:
    return web.Response(body=body, headers=_JSON_HEADERS)
