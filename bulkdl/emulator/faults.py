"""Faults a test can inject, and the per-key queues that hand them out one request at a time.

A fleet pull meets cut bodies, 5xx, 429s, stalls, proxies' HTML pages and stale nonces; each is
a frozen dataclass here. Faults are registered per job (downloads) or per group (job listings,
creates; the group listings under "groups" and "org:<ORG-ID>") as an ordered list: the next
request for that key takes the next fault ("attempt"), and once the list is used up requests
are answered normally. `Always(fault)` at the end of a list never runs out.

An attempt is an authenticated request reaching the handler: exactly what `downloads_by_job` and
`list_requests_by_group` count (group listings and creates are counted by `requests_by_kind`),
so with faults queued before the first request the k-th counted request takes faults[k-1].
Digest challenges and `set_rate_limit` 429s are not attempts.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TypeAlias

from bulkdl.emulator.archive_faults import BadCrc as BadCrc
from bulkdl.emulator.archive_faults import CloseDelimited as CloseDelimited
from bulkdl.emulator.archive_faults import LyingRange as LyingRange
from bulkdl.emulator.archive_faults import NoTrailer as NoTrailer


def _non_negative(name: str, value: float) -> None:
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def _known_status(status: int, low: int) -> bool:
    """Whether `status` is at least `low` and has a reason phrase (error bodies need one)."""
    try:
        HTTPStatus(status)
    except ValueError:
        return False
    return low <= status <= 599


@dataclass(frozen=True, slots=True)
class ResetAfter:
    """Headers promise the whole body, `n_bytes` of it arrive, then the connection is closed.

    Always cut short: `n_bytes` past the end is clipped to one byte before it.
    """

    n_bytes: int

    def __post_init__(self) -> None:
        _non_negative("n_bytes", self.n_bytes)


@dataclass(frozen=True, slots=True)
class ServerFault:
    """A 5xx: the API's UNEXPECTED_ERROR body, or (`html`) a proxy's HTML error page."""

    status: int = 500
    html: bool = False
    retry_after_s: float | None = None  # a Retry-After header, as some 503s carry

    def __post_init__(self) -> None:
        if not _known_status(self.status, 500):
            raise ValueError(f"ServerFault needs a 5xx status, got {self.status}")
        if self.retry_after_s is not None:
            _non_negative("retry_after_s", self.retry_after_s)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """429 RATE_LIMITED; Retry-After only when `retry_after_s` is set (v1.0 documents none)."""

    retry_after_s: float | None = None
    limit: int = 100  # the "%s requests every %s minutes" of the message
    minutes: int = 1
    dated: bool = False  # Retry-After as an HTTP-date (now + retry_after_s), not seconds

    def __post_init__(self) -> None:
        if self.retry_after_s is not None:
            _non_negative("retry_after_s", self.retry_after_s)


@dataclass(frozen=True, slots=True)
class Stall:
    """`after_bytes` of the body, then silence for `seconds`, then the rest as usual."""

    after_bytes: int
    seconds: float

    def __post_init__(self) -> None:
        _non_negative("after_bytes", self.after_bytes)
        _non_negative("seconds", self.seconds)


@dataclass(frozen=True, slots=True)
class TruncatedChunked:
    """Chunked, no Content-Length: `after_bytes`, then close without the zero-length chunk."""

    after_bytes: int

    def __post_init__(self) -> None:
        _non_negative("after_bytes", self.after_bytes)


@dataclass(frozen=True, slots=True)
class NotGzip:
    """Download only: 200 text/html, a corporate proxy's login page instead of the archive."""


@dataclass(frozen=True, slots=True)
class CorruptGzip:
    """Download only: the archive's length, gzip header and first half, then a broken deflate
    stream, so only reading the archive through (gzip or tar) notices."""


@dataclass(frozen=True, slots=True)
class StaleNonce:
    """Expire the nonce this request signed with and answer 401 stale=true.

    The middleware's retry is a new request, so it takes the next attempt's fault.
    """


@dataclass(frozen=True, slots=True)
class HtmlPage:
    """An HTML page with `status` where JSON (or an archive) was expected."""

    status: int = 200

    def __post_init__(self) -> None:
        if not _known_status(self.status, 200):
            raise ValueError(f"HtmlPage needs an HTTP status 200..599, got {self.status}")


@dataclass(frozen=True, slots=True)
class NotJson:
    """Listing only: 200 application/json whose body is the page cut in half."""


@dataclass(frozen=True, slots=True)
class MissingResults:
    """Listing only: a 200 JSON page without its `results` array."""


@dataclass(frozen=True, slots=True)
class WrongTotal:
    """Listing only: `totalCount` off by `delta` from what the pages hold (jobs created or
    deleted while a client pages through, or a server that miscounts)."""

    delta: int = 3


@dataclass(frozen=True, slots=True)
class RepeatingNext:
    """Listing only: the page's `next` link is its own `self` link.

    One attempt serves one such page; `Always(RepeatingNext())` is the endless loop.
    """


@dataclass(frozen=True, slots=True)
class MalformedId:
    """Listing only (jobs or groups): the page's `index`-th result carries `value` as its id,
    any JSON value (null, a number, "../x"), as a buggy or hostile server might send."""

    value: object = "../../../tmp/not-an-id"
    index: int = 0

    def __post_init__(self) -> None:
        _non_negative("index", self.index)


@dataclass(frozen=True, slots=True)
class SlowAnswer:
    """Create only: the job is created at once, its 201 answer sent `seconds` later, as a
    loaded server commits first and answers late."""

    seconds: float

    def __post_init__(self) -> None:
        _non_negative("seconds", self.seconds)


@dataclass(frozen=True, slots=True)
class Redirect:
    """302 to the same path on another origin (`to`, e.g. http://127.0.0.1:8081), as a
    deployment fronted by blob storage might; a client must not carry credentials there."""

    to: str


@dataclass(frozen=True, slots=True)
class GzippedHtml:
    """Download only: 200 text/html, the login page gzipped, so the gzip magic looks right."""


@dataclass(frozen=True, slots=True)
class GzipNotTar:
    """Download only: 200 application/gzip, valid gzip whose content is a page, not a tar."""


@dataclass(frozen=True, slots=True)
class ChangedArchive:
    """Download only: `after_bytes` of the archive with no ETag or Last-Modified, then the
    connection is closed and the job's archive changes (new content) for every later request,
    as a server without validators that regenerates an archive would."""

    after_bytes: int

    def __post_init__(self) -> None:
        _non_negative("after_bytes", self.after_bytes)


@dataclass(frozen=True, slots=True)
class LongerBody:
    """Download only: Content-Length promises the archive, then `extra_bytes` more follow it on
    the connection (the body's last byte and the extra in one write), as a server or proxy that
    miscounts its own body does; then the connection is closed."""

    extra_bytes: int

    def __post_init__(self) -> None:
        if self.extra_bytes < 1:
            raise ValueError(f"extra_bytes must be >= 1, got {self.extra_bytes}")


@dataclass(frozen=True, slots=True)
class Trickle:
    """The body's headers at once, then one `chunk_bytes` piece every `every_s` seconds: never
    silent long enough for a read timeout, never done in any useful time."""

    chunk_bytes: int
    every_s: float

    def __post_init__(self) -> None:
        if self.chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be >= 1, got {self.chunk_bytes}")
        _non_negative("every_s", self.every_s)


@dataclass(frozen=True, slots=True)
class NoChallenge:
    """401 with the API's body but no WWW-Authenticate challenge, as a gateway in front of the
    API answers for one resource: not a verdict on the key pair."""


@dataclass(frozen=True, slots=True)
class RelativeNext:
    """Listing only: the page's links are relative (`logCollectionJobs?pageNum=2...`)."""


@dataclass(frozen=True, slots=True)
class ForeignNext:
    """Listing only: the page's links name another origin (`to`), as an Ops Manager whose
    central URL differs from the URL its users reach it by."""

    to: str


FaultKind: TypeAlias = (
    Redirect
    | WrongTotal
    | ResetAfter
    | ServerFault
    | RateLimit
    | Stall
    | TruncatedChunked
    | NotGzip
    | CorruptGzip
    | StaleNonce
    | HtmlPage
    | NotJson
    | MissingResults
    | RepeatingNext
    | GzippedHtml
    | GzipNotTar
    | ChangedArchive
    | LongerBody
    | Trickle
    | NoChallenge
    | RelativeNext
    | ForeignNext
    | MalformedId
    | SlowAnswer
    | CloseDelimited
    | BadCrc
    | NoTrailer
    | LyingRange
)


@dataclass(frozen=True, slots=True)
class Always:
    """Persistent: this fault answers every attempt from its place in the list on."""

    fault: FaultKind


Fault: TypeAlias = FaultKind | Always

_BOTH: tuple[type[FaultKind], ...] = (
    Redirect,
    ResetAfter,
    ServerFault,
    RateLimit,
    Stall,
    TruncatedChunked,
    StaleNonce,
    HtmlPage,
    Trickle,
    NoChallenge,
)
DOWNLOAD_FAULTS: tuple[type[FaultKind], ...] = (
    *_BOTH,
    NotGzip,
    CorruptGzip,
    GzippedHtml,
    GzipNotTar,
    ChangedArchive,
    LongerBody,
    *(CloseDelimited, BadCrc, NoTrailer, LyingRange),
)
LISTING_FAULTS: tuple[type[FaultKind], ...] = (
    *_BOTH,
    NotJson,
    MissingResults,
    WrongTotal,
    RepeatingNext,
    RelativeNext,
    ForeignNext,
    MalformedId,
)
CREATE_FAULTS: tuple[type[FaultKind], ...] = (ServerFault, RateLimit, HtmlPage, SlowAnswer)


def kind_name(fault: Fault) -> str:
    """The name `Counters.faults_served` counts a fault under (`Always` is transparent)."""
    inner = fault.fault if isinstance(fault, Always) else fault
    return type(inner).__name__


class FaultPlan:
    """Per-key queues of faults for one kind of request; `take` is called once per attempt.

    Locked: tests register from their thread while `EmulatorThread` serves from another.
    """

    def __init__(self, what: str, allowed: tuple[type[FaultKind], ...]) -> None:
        self._what = what
        self._allowed = allowed
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Fault]] = {}

    def add(self, key: str, faults: Sequence[Fault]) -> None:
        """Queue `faults` behind any still pending for `key`.

        TypeError for a kind this plan cannot serve (NotGzip on a listing); ValueError if an
        `Always` would not be last, as the faults after it could never be reached.
        """
        for fault in faults:
            inner = fault.fault if isinstance(fault, Always) else fault
            if not isinstance(inner, self._allowed):
                raise TypeError(f"{type(inner).__name__} is not a {self._what} fault")
        with self._lock:
            queue = self._queues.setdefault(key, deque())
            entries = [*queue, *faults]
            persistent = [i for i, fault in enumerate(entries) if isinstance(fault, Always)]
            if persistent and persistent[0] != len(entries) - 1:
                hidden = len(entries) - persistent[0] - 1
                raise ValueError(
                    f"{self._what} faults for {key}: {kind_name(entries[persistent[0]])} wrapped "
                    f"in Always would hide the {hidden} fault(s) after it; Always must come last"
                )
            queue.extend(faults)

    def take(self, key: str) -> FaultKind | None:
        """The fault for this attempt on `key` (None: answer normally); `Always` stays queued."""
        with self._lock:
            queue = self._queues.get(key)
            if not queue:
                return None
            head = queue[0]
            if isinstance(head, Always):
                return head.fault
            queue.popleft()
            return head

    def pending(self, key: str) -> tuple[Fault, ...]:
        """Faults not yet taken for `key`, next first."""
        with self._lock:
            return tuple(self._queues.get(key, ()))

    def clear(self) -> None:
        """Forget every queued fault."""
        with self._lock:
            self._queues.clear()
