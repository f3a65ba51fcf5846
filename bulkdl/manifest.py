"""`OUT/manifest.jsonl`: one JSON line per job outcome, appended and flushed as it happens.

A killed run keeps every line it wrote; a rerun reads the file back to skip archives already on
disk (while the listing still matches the line) and to find the jobs `collect` already created.
Readers take the last archive line per job, and ignore a torn last line (a crash mid-write).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import anyio

from bulkdl.errors import ConfigError, DiskError
from bulkdl.models import JobId, JobResult, Outcome, is_object_id
from bulkdl.planner import Recorded

T = TypeVar("T")

MANIFEST_NAME: Final = "manifest.jsonl"
# Lines that say which archive is on disk; later failed or not_downloadable lines leave it there.
_ARCHIVE_OUTCOMES: Final = frozenset(
    {Outcome.DOWNLOADED.value, Outcome.SKIPPED.value, Outcome.REPLACED.value}
)


@dataclass(frozen=True, slots=True)
class Created:
    """A job an earlier `collect` created, and the fingerprint of the request it sent."""

    job_id: JobId
    request_sha256: str


class Previous(dict[str, Recorded]):
    """Job id -> the archive recorded for it; `created`: group id -> jobs collect made there."""

    def __init__(self) -> None:
        super().__init__()
        self.created: dict[str, list[Created]] = {}


def request_fingerprint(body: dict[str, Any]) -> str:
    """sha256 of the POST body as canonical JSON (sorted keys; log types as a set) (pure)."""
    canonical = dict(body)
    if isinstance(canonical.get("logTypes"), list):
        canonical["logTypes"] = sorted(set(canonical["logTypes"]))
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def created_earlier(previous: dict[str, Recorded], group: str, fingerprint: str) -> JobId | None:
    """The latest job collect created in `group` for the same request, if any."""
    found = previous.created.get(group, []) if isinstance(previous, Previous) else []
    same = [c.job_id for c in found if c.request_sha256 == fingerprint]
    return same[-1] if same else None


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z") if ts else None


def to_record(result: JobResult) -> dict[str, Any]:
    """The manifest's line for one outcome (pure)."""
    extra = {
        "previousSha256": result.previous_sha256,
        "rawJobId": result.raw_job_id,
        "rawGroupId": result.raw_group_id,
        "requestSha256": result.request_sha256,
        "extractedPath": result.extracted_path,
    }
    return {
        "groupId": result.group_id or None,
        "jobId": result.job_id,
        "status": result.status,
        "outcome": result.outcome.value,
        "path": result.path,
        "bytes": result.bytes,
        "sha256": result.sha256,
        "attempts": result.attempts,
        "error": result.error,
        "startedAt": _iso(result.started_at),
        "finishedAt": _iso(result.finished_at),
        "uncompressedSizeTotalBytes": result.listed_size_bytes,
        "creationDate": result.creation_date,
        **{key: value for key, value in extra.items() if value},
    }


def parse_previous(text: str) -> Previous:
    """What earlier runs left, from a manifest's text (pure; the last archive line per job wins).

    A later failed or not_downloadable line does not erase an archive line: a failed download
    never touches the archive under its final name, so the line still describes the file.
    """
    recorded = Previous()
    for line in text.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue  # a torn line from a crash: the job is simply downloaded again
        if not isinstance(doc, dict) or not isinstance(doc.get("jobId"), str):
            continue
        job = doc["jobId"]
        group = _opt(doc, "groupId", str) or ""
        if doc.get("outcome") == Outcome.CREATED.value:
            fingerprint = doc.get("requestSha256")
            if isinstance(fingerprint, str) and is_object_id(job):
                recorded.created.setdefault(group, []).append(Created(JobId(job), fingerprint))
        elif (
            doc.get("outcome") in _ARCHIVE_OUTCOMES
            and isinstance(doc.get("bytes"), int)
            and isinstance(doc.get("sha256"), str)
            and isinstance(doc.get("path"), str)
        ):
            recorded[job] = Recorded(
                doc["path"],
                doc["bytes"],
                doc["sha256"],
                group,
                status=_opt(doc, "status", str),
                listed_size_bytes=_opt(doc, "uncompressedSizeTotalBytes", int),
                creation_date=_opt(doc, "creationDate", str),
            )
    return recorded


def _opt(doc: dict[str, Any], key: str, kind: type[T]) -> T | None:
    value = doc.get(key)
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


async def read_previous(out_dir: Path) -> dict[str, Recorded]:
    """What earlier runs into this folder recorded; empty when there is no manifest yet."""
    path = anyio.Path(out_dir / MANIFEST_NAME)
    try:
        text = await path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the manifest ({exc.strerror})") from None
    return parse_previous(text)


class ManifestWriter:
    """Appends outcome lines; each line is in the OS (one O_APPEND write) when write() returns.

    The line is written on the event loop on purpose: a single append of ~300 bytes to the
    page cache costs a few microseconds, far less than the two thread hops (write, flush) an
    async file layer would spend on it: with 10,000 jobs those hops were most of the CPU time
    of a listing (bench/). Being one write() call, a line is also never half-written by Ctrl-C.
    """

    def __init__(self, out_dir: Path, *, enabled: bool = True) -> None:
        self.path = out_dir / MANIFEST_NAME
        self._enabled = enabled  # a dry run writes nothing
        self._fd: int | None = None

    async def __aenter__(self) -> Self:
        if not self._enabled:
            return self
        try:
            self._fd = await anyio.to_thread.run_sync(_open_append, self.path)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot open the manifest ({exc.strerror})") from None
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def write(self, result: JobResult) -> None:
        if self._fd is None:
            return
        line = json.dumps(to_record(result), separators=(",", ":")) + "\n"
        data = line.encode("utf-8")
        try:
            written = os.write(self._fd, data)
            while written < len(data):  # short writes: a full disk or a signal
                written += os.write(self._fd, data[written:])
        except OSError as exc:
            raise DiskError(f"{self.path}: cannot write the manifest ({exc.strerror})") from None


def _open_append(path: Path) -> int:
    """Open for appending, mode 0600: the manifest names every project pulled."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
