"""The JSON bulkdl prints and writes, field by field: what a runbook may rely on.

`SummaryDoc` is the object `download`/`collect`/`demo --json` print on stdout at the end of a
run; `ErrorDoc` what they print instead when the run cannot start (exit 2); `ManifestLine` one
line of OUT/manifest.jsonl. `problems()` checks a parsed document against one of these shapes
(tests run it on real output, so the documentation cannot drift from the code).
"""

# No `from __future__ import annotations` here: TypedDict reads NotRequired from evaluated
# annotations to know which keys are optional.
import types
from typing import Any, Literal, NotRequired, TypedDict, Union, get_args, get_origin, get_type_hints

# What happened to one job in a run (the manifest's `outcome`):
#   created           `bulkdl collect` created this job (its archive comes in a later line)
#   downloaded        the archive is on disk, complete, with this sha256 (`empty`: true when
#                     it holds no logs: a gzip of an empty tar, or of nothing)
#   skipped           already on disk from an earlier run, and still matching its sha256
#   not_downloadable  the API will not serve it (IN_PROGRESS, EXPIRED, unknown status): `error`
#   failed            tried and gave up (or the group could not be listed): `error`
OutcomeName = Literal[
    "created", "downloaded", "replaced", "skipped", "not_downloadable", "failed", "deleted"
]


class FailureDoc(TypedDict):
    """One failed job; jobId is null when a whole group failed (e.g. could not be listed)."""

    groupId: str
    jobId: str | None
    error: str  # one line, the same as printed after "failed:"
    errorCode: str | None  # the API's errorCode (e.g. GROUP_NOT_FOUND) or bulkdl's kind


class CreatedDoc(TypedDict):
    """A job `bulkdl collect` created."""

    groupId: str
    jobId: str


class WindowDoc(TypedDict):
    """`collect --from/--to` as resolved, ISO 8601 UTC (the API's field names)."""

    logCollectionFromDate: str
    logCollectionToDate: str


class SummaryDoc(TypedDict):
    """The end of a run."""

    runId: str  # also on every manifest line this run wrote
    outDir: str | None  # absolute
    manifest: str | None  # OUT/manifest.jsonl, absolute
    created: int
    createdJobs: list[CreatedDoc]  # one per group with `collect`
    downloaded: int  # replaced archives included
    replaced: int  # downloaded again because the listing changed since the recorded archive
    skipped: int
    empty: int  # of those downloaded or skipped, archives holding no logs (see `empty` lines)
    notDownloadable: int
    failed: int
    bytes: int  # archive bytes downloaded in this run
    elapsedSeconds: float
    throughputBytesPerSecond: int
    interrupted: bool
    left: int  # archives queued but not finished (an interrupt's remainder)
    window: WindowDoc | None  # collect's resolved --from/--to; null without one (and download)
    exitCode: int  # 0 all good, 1 some failures, 130 interrupted
    failures: list[FailureDoc]


class ErrorDoc(TypedDict):
    """The run could not start (exit 2): why, and what to do about it."""

    error: str
    hint: str | None
    exitCode: int


class FailedPartDoc(TypedDict):
    """One host part of a FAILURE job that is missing from its archive."""

    hostName: str
    logCollectionType: str
    status: str
    errorMessage: str | None


class ManifestLine(TypedDict):
    """One line of OUT/manifest.jsonl; the last line per jobId is the current state."""

    runId: str
    groupId: str | None  # null for a malformed group id from discovery (see rawGroupId)
    jobId: str | None  # null for a group whose listing failed, or a malformed job id
    status: str | None  # the job's status as the API reported it
    outcome: OutcomeName
    path: str | None  # relative to OUT: <groupId>/<jobId>.tar.gz
    bytes: int | None
    sha256: str | None
    attempts: int
    error: str | None
    startedAt: str | None  # ISO 8601, UTC, milliseconds
    finishedAt: str | None
    uncompressedSizeTotalBytes: int | None  # the listing's size: a change means a new archive
    creationDate: str | None  # the listing's creation date, compared the same way
    extractedPath: NotRequired[str]  # with --extract
    previousSha256: NotRequired[str]  # `replaced`: the archive it replaced
    rawJobId: NotRequired[str]  # a malformed job id, as JSON text, cut to 64 characters
    rawGroupId: NotRequired[str]  # a malformed group id from discovery, the same way
    requestSha256: NotRequired[str]  # `created`: fingerprint of the POST body (and window)
    logCollectionFromDate: NotRequired[str]  # the job's collection window, ISO 8601
    logCollectionToDate: NotRequired[str]
    failedParts: NotRequired[list[FailedPartDoc]]  # a FAILURE job: the host parts missing
    empty: NotRequired[bool]  # true: a valid archive holding no logs (the job collected none)


def problems(doc: object, shape: Any, where: str = "$") -> list[str]:
    """Every way `doc` differs from `shape` (a TypedDict or a type); empty when it conforms."""
    if isinstance(shape, type) and issubclass(shape, dict) and hasattr(shape, "__annotations__"):
        return _dict_problems(doc, shape, where)
    origin = get_origin(shape)
    if origin is Literal:
        return [] if doc in get_args(shape) else [f"{where}: {doc!r} not in {get_args(shape)}"]
    if origin in (Union, types.UnionType):
        options = [problems(doc, arg, where) for arg in get_args(shape)]
        return [] if any(not p for p in options) else [f"{where}: {doc!r} is not {shape}"]
    if origin is list:
        if not isinstance(doc, list):
            return [f"{where}: expected a list, got {doc!r}"]
        (item,) = get_args(shape)
        return [p for n, v in enumerate(doc) for p in problems(v, item, f"{where}[{n}]")]
    if shape is type(None):
        return [] if doc is None else [f"{where}: expected null, got {doc!r}"]
    if shape is float:
        ok = isinstance(doc, int | float) and not isinstance(doc, bool)
    elif shape is int:
        ok = isinstance(doc, int) and not isinstance(doc, bool)
    else:
        ok = isinstance(doc, shape)
    return [] if ok else [f"{where}: expected {shape.__name__}, got {doc!r}"]


def _dict_problems(doc: object, shape: Any, where: str) -> list[str]:
    if not isinstance(doc, dict):
        return [f"{where}: expected an object, got {doc!r}"]
    hints = get_type_hints(shape)
    required: frozenset[str] = shape.__required_keys__
    found = [f"{where}: missing {k!r}" for k in sorted(required - doc.keys())]
    found += [f"{where}: undocumented {k!r}" for k in sorted(doc.keys() - hints.keys())]
    for key, value in doc.items():
        if key in hints:
            found += problems(value, hints[key], f"{where}.{key}")
    return found
