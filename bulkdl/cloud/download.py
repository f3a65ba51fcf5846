"""One archive's body: its request, what it must prove before the sink sees it, and what
becomes of its connection.

What a body must prove: a non-HTML, non-JSON Content-Type, a tar header at its start, a pace
above the minimum rate (body_watch.py), and no bytes past its Content-Length. Its connection
goes back to the pool only when the body was framed exactly (aiohttp_adapter.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from bulkdl.cloud.aiohttp_adapter import (
    ResponseHandler,
    body_protocol,
    bytes_after_body,
    keep_or_close,
)
from bulkdl.cloud.body_watch import BodyWatch
from bulkdl.cloud.transport import Transport, network_error
from bulkdl.domain.archive_head import NotArchive, TarGzSniffer, refused_content_type
from bulkdl.domain.content_range import BadContentRange, parse_content_range
from bulkdl.domain.errors import Misframed, NotAnArchive, ResumeRejected, where
from bulkdl.domain.models import Job
from bulkdl.domain.printable import shown
from bulkdl.settings.load import Settings


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


@asynccontextmanager
async def open_download(
    transport: Transport,
    settings: Settings,
    job: Job,
    *,
    resume_from: int = 0,
    validator: str | None = None,
) -> AsyncIterator[Body]:
    """Start streaming one archive; raises ApiError/NetworkError before the first byte.

    With resume_from > 0 and a validator from the earlier answer, asks for the rest (`Range`
    with `If-Range`): a changed archive then comes whole. Without a validator nothing could
    tell a changed archive from the same one, so the body starts over at byte 0. A server
    that ignores Range answers 200 and the body starts at 0 too.
    """
    url = f"{settings.api_url}/groups/{job.group_id}/logCollectionJobs/{job.id}/download"
    headers = {"Accept": "application/gzip", "Accept-Encoding": "identity"}
    if resume_from > 0 and validator is not None:
        headers["Range"] = f"bytes={resume_from}-"
        headers["If-Range"] = validator
    place = where(job.group_id, job.id)
    async with transport.request(url, headers, group=job.group_id, job=job.id) as resp:
        if resp.status not in (200, 206) or (resp.status == 206 and "Range" not in headers):
            raise await transport.error_from(resp, group=job.group_id, job=job.id)
        content_type = resp.headers.get("Content-Type", "")
        if (instead := refused_content_type(content_type)) is not None:
            raise NotAnArchive(
                f"{place}: the server answered {instead} ({shown(content_type[:80])}), not a gzip "
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
            chunks=_chunks(resp, settings, job.group_id, job.id, sniff=start == 0),
        )


async def _chunks(
    resp: aiohttp.ClientResponse, settings: Settings, group: str, job: str, *, sniff: bool
) -> AsyncIterator[bytes]:
    """The body as it arrives, failed (retryably) when too slow or longer than it said.

    One generator for the whole receive path: every layer would cost a resume per chunk.
    Chunks are aiohttp's buffers as they came off the socket, never joined; the minimum
    rate and the stall timeout are judged by a timer (bodywatch.py), so a chunk costs nothing
    here but its yield.
    With `sniff` (a body from byte 0), the first chunks are held until they prove a tar.gz.
    """
    protocol = body_protocol(resp)  # held: aiohttp releases the connection at the body's end
    place = where(group, job)
    watch = (
        None
        if protocol is None  # the whole body is in already
        else BodyWatch(protocol, resp.content, settings, where=place, group=group, job=job)
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
    _end_of_body(resp, protocol, place, group, job)


def _end_of_body(
    resp: aiohttp.ClientResponse,
    protocol: ResponseHandler | None,
    place: str,
    group: str,
    job: str,
) -> None:
    """The pool decision at a body's end; Misframed when bytes followed it."""
    if bytes_after_body(protocol):
        # aiohttp stops at Content-Length and parses what follows as the next response:
        # a parse error or a whole answer there means the server sent more than it said
        # (when those bytes came with the body's end; later ones are refused by the pool).
        # Which length was the archive's is unknowable, so this attempt fails. A server
        # that closes the connection after a whole body sent nothing extra.
        keep_or_close(resp, protocol)
        raise Misframed(
            f"{place}: the server sent more than its Content-Length "
            f"({resp.content_length} bytes) on this connection",
            group_id=group,
            job_id=job,
        )
    # Kept for the next request only when framed exactly; else closed on release.
    keep_or_close(resp, protocol)
