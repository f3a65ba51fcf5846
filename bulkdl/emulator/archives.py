"""Real `.tar.gz` archives laid out like Cloud Manager's log downloads.

Each successful child job becomes one file under its `path` (`<host>/automation_agent/...`,
`<host>/27017/mongodb/...`, `<host>/27017/ftdc/...`). Content is seeded: text logs are
realistic mongod JSON and agent lines inside the job's window with one incident (mongolog.py),
FTDC files raw random bytes; fleet.py sizes the text by its compression ratio, so the archive's
size tracks `EmulatedJob.archive_bytes`. Bytes are identical on every call for the same job.
`corrupt_archive` spoils one for fault injection.
"""

from __future__ import annotations

import gzip
import io
import random
import tarfile
import threading
import zlib
from datetime import UTC, datetime, timedelta
from typing import Final

from bulkdl.emulator.archive_kinds import render_kind
from bulkdl.emulator.fleet import ChildJob, EmulatedJob, seeded
from bulkdl.emulator.mongolog import Window, agent_log, mongod_log

_FILE_NAMES: Final = {
    "AUTOMATION_AGENT": "automation-agent-verbose.log",
    "BACKUP_AGENT": "backup-agent.log",
    "MONITORING_AGENT": "monitoring-agent.log",
    "MONGODB": "mongodb.log",
}
_DEFAULT_WINDOW: Final = timedelta(hours=1)  # a job without a time filter: its last hour
_GZIP_HEADER: Final = 10  # gzip.compress writes no file name: magic, flags, mtime, xfl, os
_GZIP_TRAILER: Final = 8  # CRC32, ISIZE
_INVALID_BLOCK: Final = b"\x06"  # deflate block header BFINAL=0, BTYPE=11: reserved, an error


def member_name(child: ChildJob) -> str:
    """The archive path of a child's file."""
    if child.log_type == "FTDC":
        stamp = child.start_date.strftime("%Y-%m-%dT%H-%M-%SZ")
        return f"{child.path}/metrics.{stamp}-00000"
    return f"{child.path}/{_FILE_NAMES[child.log_type]}"


def make_archive(job: EmulatedJob) -> bytes:
    """Render the job's archive: only children that hold data (a failed job's good parts)."""
    mtime = int(job.creation_date.timestamp())
    if job.archive_kind != "logs":
        return render_kind(job.archive_kind, job.hosts[0], job.archive_bytes, mtime)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        seen_dirs: set[str] = set()
        for index, child in enumerate(job.children()):
            if not child.has_data:
                continue
            for directory in _parents(child.path):
                if directory not in seen_dirs:
                    seen_dirs.add(directory)
                    tar.addfile(_info(directory, 0, mtime, is_dir=True))
            rng = seeded("archive", job.seed, index)
            data = _content(child, rng, log_window(job, child.host))
            tar.addfile(_info(member_name(child), len(data), mtime), io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=mtime)


def corrupt_archive(archive: bytes) -> bytes:
    """The archive's gzip header and the first half of its tar, then an invalid deflate block,
    padded to the same length.

    Every decoder fails at the middle ("invalid block type"), however it reads; the magic bytes
    and the first tar headers look fine. Flipping bytes would not do: the middle is often a
    stored block of FTDC noise, caught only by the CRC32 that tarfile never reaches.
    """
    tar = gzip.decompress(archive)
    cut = len(tar) // 2
    while True:
        packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        head = archive[:_GZIP_HEADER] + packer.compress(tar[:cut])
        head += packer.flush(zlib.Z_FULL_FLUSH) + _INVALID_BLOCK
        if len(head) <= len(archive) - _GZIP_TRAILER or cut == 0:
            return head + archive[len(head) :]
        cut //= 2


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _info(name: str, size: int, mtime: int, *, is_dir: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = 0o755 if is_dir else 0o644
    info.uname = info.gname = "mongodb-mms"
    return info


def log_window(job: EmulatedJob, host: str) -> Window:
    """The job's collection window (its --from/--to when it has one, else the hour before it
    was created), and the host's place in the replica set."""
    end = _wire_date(job.log_collection_to_date) or job.creation_date
    start = _wire_date(job.log_collection_from_date) or end - _DEFAULT_WINDOW
    if start >= end:
        start = end - _DEFAULT_WINDOW
    return Window(start, end, job.hosts, job.hosts.index(host) if host in job.hosts else 0)


def _wire_date(value: int | str | None) -> datetime | None:
    """A POST's date as sent: epoch ms, or an ISO string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _content(child: ChildJob, rng: random.Random, window: Window) -> bytes:
    if child.log_type == "FTDC":
        return rng.randbytes(child.uncompressed_bytes)  # FTDC is compressed BSON: incompressible
    if child.log_type == "MONGODB":
        return mongod_log(window, rng, child.uncompressed_bytes)
    return agent_log(window, rng, child.uncompressed_bytes)


class ArchiveCache:
    """Rendered archives by `EmulatedJob.archive_key()`, so every download is byte-identical.

    Thread-safe: the server renders in worker threads to keep its event loop responsive.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._archives: dict[tuple[object, ...], bytes] = {}
        self._served_as_is: dict[str, bytes] = {}

    def serve_bytes(self, job_id: str, data: bytes) -> None:
        """Serve exactly `data` for this job from now on (a crafted or hostile archive)."""
        with self._lock:
            self._served_as_is[job_id] = data

    def get(self, job: EmulatedJob) -> bytes:
        """The job's archive, rendered on first use."""
        key = job.archive_key()
        with self._lock:
            cached = self._served_as_is.get(job.id) or self._archives.get(key)
        if cached is not None:
            return cached
        data = make_archive(job)  # outside the lock: renders of different jobs run in parallel
        with self._lock:
            return self._archives.setdefault(key, data)

    def clear(self) -> None:
        """Forget every rendered archive."""
        with self._lock:
            self._archives.clear()
