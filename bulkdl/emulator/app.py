"""The aiohttp application: Cloud Manager's log-collection API behind digest auth.

Order on every request, as the real API: digest auth, then the group's rate limit (if set),
then group access, then the resource. A download is resolved (job, state, archive, range) before
anything is sent, then streamed in `chunk_size` pieces with an optional pause between them so
tests can make downloads overlap.

The rate limit counts per group; the group listings, which name no group, count under the
pseudo-keys "groups" (GET /groups) and "org:<ORG-ID>" (GET /orgs/{ORG-ID}/groups). Every
request first settles the collections due by now (`lifecycle.py`), so each answer sees the
job statuses of its moment.

Injected faults (`faults.py`) are taken where a listing or download is counted, one per request:
5xx/429/HTML/stale-nonce faults answer before the group or job is looked up, the others spoil the
real answer, so a job that cannot be downloaded answers its own error and spends the fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Final, TypedDict

from aiohttp import hdrs, web
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

from bulkdl.emulator import errors, inject
from bulkdl.emulator.archive_faults import (
    BadCrc,
    CloseDelimited,
    LyingRange,
    NoTrailer,
    content_range,
    spoil,
)
from bulkdl.emulator.archives import corrupt_archive
from bulkdl.emulator.bodies import BODY_FAULTS, CloseFramed, send_body, tracked
from bulkdl.emulator.digest import (
    DEFAULT_NONCE_TTL_S,
    NonceStore,
    Verdict,
    check_credentials,
    parse_authorization,
)
from bulkdl.emulator.faults import ChangedArchive, CorruptGzip, FaultKind, FaultPlan
from bulkdl.emulator.fleet import EmulatedJob, Fleet
from bulkdl.emulator.groups import list_groups, list_org_groups
from bulkdl.emulator.lookup import find_job, group_jobs
from bulkdl.emulator.paging import paged_doc
from bulkdl.emulator.ranges import Unsatisfiable, byte_window
from bulkdl.emulator.responses import JSON_HEADERS, entity, flag, json_bytes, json_response, origin
from bulkdl.emulator.state import (
    DEFAULT_COLLECT_DURATION_S,
    CollectDuration,
    EmulatorState,
    utc_now,
)
from bulkdl.emulator.state import STATE_KEY as STATE_KEY
from bulkdl.emulator.workflow import create_job, delete_job, extend_job, retry_job

API_PREFIX: Final = "/api/public/v1.0"
GROUPS_RATE_KEY: Final = "groups"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AppOptions(TypedDict, total=False):
    """`build_app`'s keyword options, so the servers can pass them on without repeating them."""

    nonce_ttl_s: float
    chunk_size: int
    chunk_delay_s: float
    collect_duration_s: CollectDuration
    clock: Callable[[], float]
    wall_clock: Callable[[], datetime]


def emulator_state(app: web.Application) -> EmulatorState:
    """The state (fleet, counters, nonces) of an app made by `build_app`."""
    return app[STATE_KEY]


def build_app(
    fleet: Fleet,
    *,
    nonce_ttl_s: float = DEFAULT_NONCE_TTL_S,
    chunk_size: int = 64 * 1024,
    chunk_delay_s: float = 0.0,
    collect_duration_s: CollectDuration = DEFAULT_COLLECT_DURATION_S,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], datetime] = utc_now,
) -> web.Application:
    """An app serving `fleet`; `chunk_delay_s` slows archive bodies down on purpose.

    Created and retried jobs collect for `collect_duration_s` seconds of `clock` (a number, or
    a function of the job); `wall_clock` dates created jobs and judges PATCH dates.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if nonce_ttl_s <= 0:
        raise ValueError(f"nonce_ttl_s must be > 0, got {nonce_ttl_s}")
    app = web.Application(middlewares=[_api_middleware])
    app[STATE_KEY] = EmulatorState(
        fleet=fleet,
        nonces=NonceStore(nonce_ttl_s, clock=clock),
        chunk_size=chunk_size,
        chunk_delay_s=chunk_delay_s,
        collect_duration_s=collect_duration_s,
        clock=clock,
        wall_clock=wall_clock,
    )
    jobs = f"{API_PREFIX}/groups/{{gid}}/logCollectionJobs"
    job = f"{jobs}/{{jid}}"
    # One resource per (path, method), so each route's name is its `requests_by_kind`.
    routes: list[tuple[str, str, Handler, str]] = [
        ("GET", f"{API_PREFIX}/groups", list_groups, "groups"),
        ("GET", f"{API_PREFIX}/orgs/{{oid}}/groups", list_org_groups, "org_groups"),
        ("GET", jobs, list_jobs, "list"),
        ("POST", jobs, create_job, "create"),
        ("GET", job, get_job, "job"),
        ("PATCH", job, extend_job, "patch"),
        ("DELETE", job, delete_job, "delete"),
        ("GET", f"{job}/download", download, "download"),
        ("PUT", f"{job}/retry", retry_job, "retry"),
    ]
    for method, path, handler, name in routes:
        app.router.add_route(method, path, handler, name=name)
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
        scheme = request.headers[hdrs.AUTHORIZATION].partition(" ")[0].lower()
        state.counters.authorization_schemes[scheme] += 1
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
    state.settle()
    key = rate_key(match_info)
    if key is not None and state.rate_limit is not None and not state.rate_limit.admit(key):
        state.counters.rate_limited += 1
        limit = state.rate_limit
        raise errors.rate_limited(request.path, limit.limit, limit.minutes)
    if (exc := match_info.http_exception) is not None:
        if exc.status == 405:
            raise errors.method_not_allowed(request.method, request.path)
        raise errors.resource_not_found(request.path)
    return await handler(request)


def rate_key(match_info: UrlMappingMatchInfo) -> str | None:
    """What a request counts under in `set_rate_limit`: its group, a listing's pseudo-key, or
    nothing (paths that do not exist)."""
    if (gid := match_info.get("gid")) is not None:
        return gid
    if (oid := match_info.get("oid")) is not None:
        return f"org:{oid}"
    return GROUPS_RATE_KEY if match_info.route.name == "groups" else None


def _attempt(
    counts: Counter[str], plan: FaultPlan, request: web.Request, id_name: str
) -> FaultKind | None:
    """Count this request as the next attempt on its group or job (the path's `id_name`) and
    take the fault planned for that attempt."""
    key = request.match_info[id_name]
    counts[key] += 1
    return plan.take(key)


async def list_jobs(request: web.Request) -> web.StreamResponse:
    """GET …/logCollectionJobs: one page of the group's jobs, newest first, with links."""
    state = request.app[STATE_KEY]
    fault = _attempt(state.counters.list_requests_by_group, state.listing_faults, request, "gid")
    if (answer := inject.answer_instead(request, state, fault)) is not None:
        return answer
    jobs = group_jobs(request, state.fleet, request.match_info["gid"])
    base, verbose = origin(request), flag(request.query, "verbose")
    doc = paged_doc(request, jobs, lambda job: job.to_api(base, verbose))
    inject.break_listing(state, doc, fault)
    body = inject.break_json(state, json_bytes(request, doc), fault)
    if not isinstance(fault, BODY_FAULTS):
        return json_response(body)
    response = web.StreamResponse(headers=JSON_HEADERS)
    with tracked(state), contextlib.suppress(ConnectionResetError):
        await send_body(request, response, state, memoryview(body), fault)
    return response


async def get_job(request: web.Request) -> web.Response:
    """GET …/logCollectionJobs/{jid}: one job, in its status as of now."""
    state = request.app[STATE_KEY]
    job = find_job(request, state.fleet)
    return entity(request, job.to_api(origin(request), flag(request.query, "verbose")))


async def download(request: web.Request) -> web.StreamResponse:
    """GET …/logCollectionJobs/{jid}/download: the archive, whole or from a byte offset."""
    state = request.app[STATE_KEY]
    fault = _attempt(state.counters.downloads_by_job, state.download_faults, request, "jid")
    if (answer := inject.answer_instead(request, state, fault)) is not None:
        return answer
    job = find_job(request, state.fleet)
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
    elif isinstance(fault, BadCrc | NoTrailer):
        state.fault_served(fault)
        archive = spoil(archive, fault)
    return await _send_archive(request, state, job, archive, window, fault)


def archive_etag(job: EmulatedJob, archive: bytes) -> str:
    """A strong validator: archives are deterministic per job and seed, so these identify one."""
    return f'"{job.id}-{job.seed}-{len(archive)}"'


async def _send_archive(
    request: web.Request,
    state: EmulatorState,
    job: EmulatedJob,
    archive: bytes,
    window: tuple[int, int] | None,
    fault: FaultKind | None,
) -> web.StreamResponse:
    first, last = window if window is not None else (0, len(archive) - 1)
    status = 200 if window is None else 206
    framed = CloseFramed if isinstance(fault, CloseDelimited) else web.StreamResponse
    response = framed(status=status)
    response.headers.update(
        {
            hdrs.CONTENT_TYPE: "application/gzip",
            hdrs.CONTENT_DISPOSITION: f'attachment; filename="mongodb-logs-{job.id}.tar.gz"',
            hdrs.ACCEPT_RANGES: "bytes",
        }
    )
    if not isinstance(fault, ChangedArchive):  # that fault's server has no validators
        response.headers[hdrs.ETAG] = archive_etag(job, archive)
    if window is not None:
        lie = fault if isinstance(fault, LyingRange) else None
        if lie is not None:
            state.fault_served(lie)
        response.headers[hdrs.CONTENT_RANGE] = content_range(lie, first, last, len(archive))
    state.counters.download_started(job.group_id)
    state.record("download_started", job)
    completed = False
    try:
        with tracked(state):
            body = memoryview(archive)[first : last + 1]
            completed = await send_body(request, response, state, body, fault)
    except ConnectionResetError:
        pass  # the client went away mid-body; nothing left to answer
    finally:
        state.counters.download_ended(job.group_id, completed=completed)
        state.record("download_completed" if completed else "download_cut", job)
        if isinstance(fault, ChangedArchive):
            job.seed += 1  # every later request gets another archive (its cache key follows)
    return response
