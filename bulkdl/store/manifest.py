"""`OUT/manifest.jsonl`: one JSON line per job outcome, appended and flushed as it happens.

A killed run keeps every line it wrote; a rerun reads the file back to skip archives already on
disk (while the listing still matches the line) and to find the jobs `collect` already created.
Readers take the last archive line per job (keyed by groupId and jobId: job ids may repeat
across groups), and ignore a torn last line (a crash mid-write);
the next writer cuts it off before appending.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring_ascii
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import anyio

from bulkdl.domain.errors import ConfigError, DiskError
from bulkdl.domain.models import JobId, JobResult, Outcome, is_object_id
from bulkdl.domain.planner import MANIFEST_NAME, Recorded, RecordKey
from bulkdl.store.outdir import OutDir, is_link_error

T = TypeVar("T")

# Lines that say which archive is on disk; later failed or not_downloadable lines leave it there.
_ARCHIVE_OUTCOMES: Final = frozenset(
    {Outcome.DOWNLOADED.value, Outcome.SKIPPED.value, Outcome.REPLACED.value}
)


@dataclass(frozen=True, slots=True)
class Created:
    """A job an earlier `collect` created, and the fingerprint of the request it sent."""

    job_id: JobId
    request_sha256: str


class Previous(dict[RecordKey, Recorded]):
    """(groupId, jobId) -> the archive recorded for it; `created`: group id -> the jobs
    collect made there."""

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


def created_earlier(
    previous: dict[RecordKey, Recorded], group: str, fingerprint: str
) -> JobId | None:
    """The latest job collect created in `group` for the same request, if any."""
    found = previous.created.get(group, []) if isinstance(previous, Previous) else []
    same = [c.job_id for c in found if c.request_sha256 == fingerprint]
    return same[-1] if same else None


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z") if ts else None


def to_record(result: JobResult, run_id: str = "", out_dir: Path | None = None) -> dict[str, Any]:
    """The manifest's line for one outcome (pure); `path` relative to OUT (see schema.py).

    The readable definition of a line: ManifestWriter writes the same bytes through LineFormat.
    """
    return {
        "runId": run_id,
        "groupId": result.group_id or None,
        "jobId": result.job_id,
        "status": result.status,
        "outcome": result.outcome.value,
        "path": _relative(result.path, out_dir),
        "bytes": result.bytes,
        "sha256": result.sha256,
        "attempts": result.attempts,
        "error": result.error,
        "startedAt": _iso(result.started_at),
        "finishedAt": _iso(result.finished_at),
        "uncompressedSizeTotalBytes": result.listed_size_bytes,
        "creationDate": result.creation_date,
        **_rare_fields(result, out_dir),
    }


def _has_rare_fields(result: JobResult) -> bool:
    return bool(
        result.previous_sha256
        or result.raw_job_id
        or result.raw_group_id
        or result.request_sha256
        or result.extracted_path
        or result.collection_range
        or result.failed_parts
        or result.empty
    )


def _rare_fields(result: JobResult, out_dir: Path | None) -> dict[str, Any]:
    """The keys a line carries only when they have a value (see _has_rare_fields)."""
    extra = {
        "previousSha256": result.previous_sha256,
        "rawJobId": result.raw_job_id,
        "rawGroupId": result.raw_group_id,
        "requestSha256": result.request_sha256,
        "extractedPath": _relative(result.extracted_path, out_dir),
    }
    return {
        **{key: value for key, value in extra.items() if value},
        **({"empty": True} if result.empty else {}),
        **(result.collection_range.to_json() if result.collection_range else {}),
        **(
            {"failedParts": [part.to_json() for part in result.failed_parts]}
            if result.failed_parts
            else {}
        ),
    }


def _relative(path: str | None, out_dir: Path | None) -> str | None:
    """The same file named from OUT, whatever folder each run was started from."""
    if path is None or out_dir is None:
        return path
    inside = f"{out_dir}/"
    if path.startswith(inside):
        rest = path[len(inside) :]
        wrapped = f"/{rest}/"
        if "//" not in wrapped and "/./" not in wrapped:  # nothing Path would rewrite
            return rest  # what relative_to says, without parsing two Paths
    try:
        return Path(path).relative_to(out_dir).as_posix()
    except ValueError:
        return path


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
        outcome = _opt(doc, "outcome", str)  # any JSON may stand there: a list is unhashable
        if outcome == Outcome.CREATED.value:
            fingerprint = doc.get("requestSha256")
            if isinstance(fingerprint, str) and is_object_id(job):
                recorded.created.setdefault(group, []).append(Created(JobId(job), fingerprint))
        elif (
            outcome in _ARCHIVE_OUTCOMES
            and _opt(doc, "bytes", int) is not None
            and isinstance(doc.get("sha256"), str)
            and isinstance(doc.get("path"), str)
        ):
            recorded[group, job] = Recorded(
                doc["path"],
                doc["bytes"],
                doc["sha256"],
                group,
                status=_opt(doc, "status", str),
                listed_size_bytes=_opt(doc, "uncompressedSizeTotalBytes", int),
                creation_date=_opt(doc, "creationDate", str),
                empty=doc.get("empty") is True,
            )
    return recorded


def _opt(doc: dict[str, Any], key: str, kind: type[T]) -> T | None:
    value = doc.get(key)
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


async def read_previous(out_dir: Path, dir_fd: int) -> Previous:
    """What earlier runs into this folder recorded; empty when there is no manifest yet.

    `dir_fd` is OUT, opened without following a link; the manifest must not be one either.
    """
    return parse_previous(await anyio.to_thread.run_sync(_read_text, out_dir, dir_fd))


def _read_text(out_dir: Path, dir_fd: int) -> str:
    path = out_dir / MANIFEST_NAME
    try:
        fd = os.open(MANIFEST_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise _open_error(path, exc) from None
    with os.fdopen(fd, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


def _open_error(path: Path, exc: OSError) -> ConfigError:
    if is_link_error(exc):
        return ConfigError(
            f"{path} is a symbolic link; bulkdl does not follow it",
            hint="move it away; the manifest must be a regular file inside OUT",
        )
    return ConfigError(f"{path}: cannot open the manifest ({exc.strerror})")


class ManifestWriter:
    """Appends outcome lines; each line is in the OS (one O_APPEND write) when write() returns,
    and a batch of lines (write_many) in one write as well.

    The line is written on the event loop on purpose: a single append of ~300 bytes to the
    page cache costs a few microseconds, far less than the two thread hops (write, flush) an
    async file layer would spend on it: with 10,000 jobs those hops were most of the CPU time
    of a listing (bench/). Being one write() call, a line is also never half-written by Ctrl-C;
    a write that fails part-way (a full disk) is cut back to the last whole line, and a torn
    last line left by a crash is cut off before the first append, so lines never glue together.
    The run's lock on OUT makes this the only writer.
    """

    def __init__(
        self,
        out: OutDir | None,
        *,
        on_repair: Callable[[str], None] | None = None,
        run_id: str = "",
    ) -> None:
        self._out = out  # None: a dry run writes nothing
        self._on_repair = on_repair
        self._format = LineFormat(run_id, out.path if out is not None else None)
        self._fd: int | None = None
        self._size = 0  # bytes of whole lines in the file

    @property
    def path(self) -> Path:
        return (self._out.path if self._out else Path()) / MANIFEST_NAME

    async def __aenter__(self) -> Self:
        if self._out is None:
            return self
        self._fd, self._size, cut = await anyio.to_thread.run_sync(_open_append, self._out)
        if cut and self._on_repair is not None:
            self._on_repair(
                f"{self.path}: removed a torn last line ({cut} bytes, left by an interrupted "
                "run); its job is handled again"
            )
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def write(self, result: JobResult) -> None:
        """Append one line; DiskError (and the file cut back to whole lines) if it fails."""
        self._append(self._format.line(result))

    async def write_many(self, results: Sequence[JobResult]) -> None:
        """Append one line per result in one write: all of them are there, or none (DiskError).

        For the outcomes a listing settles at once (jobs that cannot be downloaded): one system
        call per group instead of one per job.
        """
        self._append(b"".join(map(self._format.line, results)))

    def _append(self, data: bytes) -> None:
        if self._fd is None or not data:
            return
        try:
            written = os.write(self._fd, data)
            while written < len(data):  # short writes: a full disk or a signal
                written += os.write(self._fd, data[written:])
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise DiskError(f"{self.path}: cannot write the manifest ({exc.strerror})") from None
        self._size += len(data)


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"))  # json.dumps builds one per call
_ENCODE_STR: Final = encode_basestring_ascii  # the C escaping _ENCODER itself uses for a str


def encode_line(record: dict[str, Any]) -> bytes:
    """One manifest line: compact JSON (ASCII: control characters escaped) and a newline."""
    return (_ENCODER.encode(record) + "\n").encode("ascii")


def _json(value: object) -> str:
    """`_ENCODER.encode(value)`, with the common kinds done without the encoder's set-up."""
    if value is None:
        return "null"
    if value.__class__ is str:
        return _ENCODE_STR(value)
    if value.__class__ is int:
        return repr(value)
    return _ENCODER.encode(value)  # anything else (a bool, a str subclass): as json does it


class LineFormat:
    """`encode_line(to_record(result, run_id, out_dir))`, the same bytes built by hand.

    One line is written per outcome (10,000 for a 10,000-job listing), and the dict plus the
    JSON encoder were the biggest per-job cost of a listing. Values go through the encoder's own
    escaping, keys are fixed ASCII, and a test compares the two on awkward values.
    """

    def __init__(self, run_id: str, out_dir: Path | None) -> None:
        self._out_dir = out_dir
        self._head = f'{{"runId":{_json(run_id)},"groupId":'
        # started_at and finished_at are often the same object: format it once.
        self._last_ts: datetime | None = None
        self._last_iso = "null"

    def line(self, result: JobResult) -> bytes:
        r = result
        text = (
            f'{self._head}{_json(r.group_id or None)},"jobId":{_json(r.job_id)},'
            f'"status":{_json(r.status)},"outcome":"{r.outcome.value}",'
            f'"path":{_json(_relative(r.path, self._out_dir))},"bytes":{_json(r.bytes)},'
            f'"sha256":{_json(r.sha256)},"attempts":{_json(r.attempts)},'
            f'"error":{_json(r.error)},"startedAt":{self._iso(r.started_at)},'
            f'"finishedAt":{self._iso(r.finished_at)},'
            f'"uncompressedSizeTotalBytes":{_json(r.listed_size_bytes)},'
            f'"creationDate":{_json(r.creation_date)}'
        )
        if _has_rare_fields(r) and (rare := _ENCODER.encode(_rare_fields(r, self._out_dir))[1:-1]):
            text += f",{rare}"
        return f"{text}}}\n".encode("ascii")

    def _iso(self, ts: datetime | None) -> str:
        if ts is not self._last_ts:
            self._last_ts, self._last_iso = ts, _json(_iso(ts))
        return self._last_iso


def _open_append(out: OutDir) -> tuple[int, int, int]:
    """Open for appending, mode 0600 (it names every project pulled), no link followed.

    Returns the fd, the size of its whole lines, and how many bytes of torn line were cut off.
    """
    path = out.path / MANIFEST_NAME
    flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(MANIFEST_NAME, flags, 0o600, dir_fd=out.fd)
    except OSError as exc:
        raise _open_error(path, exc) from None
    try:
        st = os.fstat(fd)
        if st.st_nlink > 1:
            os.close(fd)
            raise ConfigError(
                f"{path} has other hard links; bulkdl does not append to a file shared "
                "with another name",
                hint="move it away; the manifest must be a regular file inside OUT",
            )
        size = st.st_size
        whole = _whole_lines(fd, size)
        if whole < size:
            os.ftruncate(fd, whole)
    except OSError as exc:
        os.close(fd)
        raise ConfigError(f"{path}: cannot repair the manifest ({exc.strerror})") from None
    return fd, whole, size - whole


def _whole_lines(fd: int, size: int) -> int:
    """The length of the file up to and including its last newline (blocking)."""
    end = size
    while end > 0:
        start = max(0, end - 64 * 1024)
        block = os.pread(fd, end - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0
