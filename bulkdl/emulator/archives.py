"""Real `.tar.gz` archives laid out like Cloud Manager's log downloads.

Each successful child job becomes one file under its `path` (`<host>/automation_agent/...`,
`<host>/27017/mongodb/...`, `<host>/27017/ftdc/...`). Content is seeded: text logs carry
base64 noise and FTDC files are raw random bytes, so the archive barely compresses and its size
tracks `EmulatedJob.archive_bytes`. Bytes are identical on every call for the same job.
`corrupt_archive` spoils one for fault injection.
"""

from __future__ import annotations

import base64
import gzip
import io
import random
import tarfile
import threading
import zlib
from datetime import datetime, timedelta
from typing import Final

from bulkdl.emulator.archive_kinds import render_kind
from bulkdl.emulator.fleet import ChildJob, EmulatedJob, seeded

_FILE_NAMES: Final = {
    "AUTOMATION_AGENT": "automation-agent-verbose.log",
    "BACKUP_AGENT": "backup-agent.log",
    "MONITORING_AGENT": "monitoring-agent.log",
    "MONGODB": "mongodb.log",
}
_PAYLOAD_CHARS: Final = 160  # base64 noise per log line
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
            data = _content(child, rng)
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


def _content(child: ChildJob, rng: random.Random) -> bytes:
    if child.log_type == "FTDC":
        return rng.randbytes(child.uncompressed_bytes)  # FTDC is compressed BSON: incompressible
    return _log_text(child, rng, child.uncompressed_bytes)


def _log_text(child: ChildJob, rng: random.Random, size: int) -> bytes:
    """`size` bytes of plausible log lines, each carrying base64 noise."""
    noise = base64.b64encode(rng.randbytes(size * 3 // 4 + _PAYLOAD_CHARS))
    when = child.start_date
    mongod = child.log_type == "MONGODB"
    lines: list[bytes] = []
    written = pos = 0
    conn = 1
    while written < size:
        payload = noise[pos : pos + _PAYLOAD_CHARS].decode()
        pos = (pos + _PAYLOAD_CHARS) % max(1, len(noise) - _PAYLOAD_CHARS)
        line = _mongod_line(when, conn, payload) if mongod else _agent_line(when, payload)
        lines.append(line)
        written += len(line)
        when += timedelta(milliseconds=rng.randint(1, 900))
        conn += 1
    return b"".join(lines)[: size - 1] + b"\n" if size else b""


def _mongod_line(when: datetime, conn: int, payload: str) -> bytes:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+00:00"
    remote = f"10.0.{conn % 256}.{conn % 97}:5{conn % 9999:04d}"
    return (
        f'{{"t":{{"$date":"{stamp}"}},"s":"I","c":"NETWORK","id":22943,"ctx":"listener",'
        f'"msg":"Connection accepted","attr":{{"remote":"{remote}",'
        f'"connectionId":{conn},"client":"{payload}"}}}}\n'
    ).encode()


def _agent_line(when: datetime, payload: str) -> bytes:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"
    return (
        f"[{stamp}] [.info] [cm/director/director.go:planAndExecute:534] <mms-automation> "
        f"[{when:%H:%M:%S}] Step state unchanged, token={payload}\n"
    ).encode()


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
