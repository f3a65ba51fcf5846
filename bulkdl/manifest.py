"""`OUT/manifest.jsonl`: one JSON line per job outcome, appended and flushed as it happens.

A killed run keeps every line it wrote; a rerun reads the file back to skip archives already on
disk. Readers take the last line per job, and ignore a torn last line (a crash mid-write).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import anyio

from bulkdl.errors import ConfigError, DiskError
from bulkdl.models import JobResult, Outcome
from bulkdl.planner import Recorded

MANIFEST_NAME: Final = "manifest.jsonl"


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z") if ts else None


def to_record(result: JobResult, run_id: str = "", out_dir: Path | None = None) -> dict[str, Any]:
    """The manifest's line for one outcome (pure); `path` relative to OUT (see schema.py)."""
    return {
        "runId": run_id,
        "groupId": result.group_id,
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
        **({"extractedPath": result.extracted_path} if result.extracted_path else {}),
    }


def _relative(path: str | None, out_dir: Path | None) -> str | None:
    """The same file named from OUT, whatever folder each run was started from."""
    if path is None or out_dir is None:
        return path
    try:
        return Path(path).relative_to(out_dir).as_posix()
    except ValueError:
        return path


def parse_previous(text: str) -> dict[str, Recorded]:
    """Job id -> what is on disk for it, from a manifest's text (pure; last line per job wins)."""
    recorded: dict[str, Recorded] = {}
    for line in text.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue  # a torn line from a crash: the job is simply downloaded again
        if not isinstance(doc, dict) or not isinstance(doc.get("jobId"), str):
            continue
        job = doc["jobId"]
        if (
            doc.get("outcome") in (Outcome.DOWNLOADED.value, Outcome.SKIPPED.value)
            and isinstance(doc.get("bytes"), int)
            and isinstance(doc.get("sha256"), str)
            and isinstance(doc.get("path"), str)
        ):
            group = doc.get("groupId")
            recorded[job] = Recorded(
                doc["path"], doc["bytes"], doc["sha256"], group if isinstance(group, str) else ""
            )
        elif doc.get("outcome") != Outcome.CREATED.value:
            recorded.pop(job, None)
    return recorded


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

    def __init__(self, out_dir: Path, *, enabled: bool = True, run_id: str = "") -> None:
        self.path = out_dir / MANIFEST_NAME
        self._out_dir = out_dir
        self._run_id = run_id
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
        line = (
            json.dumps(to_record(result, self._run_id, self._out_dir), separators=(",", ":")) + "\n"
        )
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
