"""One archive, start to end: gzip -> tar -> members -> lines, in memory, in one pass.

Runs in a worker (process or thread) and returns plain data. A member that cannot be read
(a truncated inner .gz) is named and the archive goes on; an archive whose gzip or tar breaks
keeps what it found before the break and names the break.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from bulkdl.search.inflate import BLOCK, PEEK, CorruptData, backend, gunzip, read_chunks
from bulkdl.search.members import Member, classify, looks_binary
from bulkdl.search.query import Query
from bulkdl.search.scan import Tally, scan
from bulkdl.search.tarstream import ByteSource, members


@dataclass(frozen=True, slots=True)
class Archive:
    """One archive to search, and where it came from."""

    group_id: str
    job_id: str
    path: str
    group_label: str = ""  # the group's name when known, else its id

    @property
    def label(self) -> str:
        return self.group_label or self.group_id


@dataclass(slots=True)
class MemberResult:
    member: Member
    tally: Tally


@dataclass(slots=True)
class ArchiveResult:
    """What one archive gave: results per text member, what was skipped, what broke."""

    archive: Archive
    members: list[MemberResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (member, why)
    problems: list[str] = field(default_factory=list)  # member-level: the archive went on
    error: str | None = None  # archive-level: it could not be read (to its end)
    bytes_in: int = 0
    bytes_out: int = 0


def search_archive(archive: Archive, q: Query) -> ArchiveResult:
    """Search one archive (blocking; safe in a thread or a process)."""
    result = ArchiveResult(archive)
    _, lib = backend(q.inflater)
    try:
        fd = os.open(archive.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        result.error = f"cannot open: {exc.strerror}"
        return result
    with os.fdopen(fd, "rb", buffering=0) as f:
        chunks = _counting(read_chunks(f), result, "bytes_in")
        inflated = _counting(gunzip(chunks, lib=lib), result, "bytes_out")
        started: dict[str, int] = {}  # folder -> rotation time of its last rotated member
        try:
            for name, _, data in members(ByteSource(inflated)):
                m = classify(name)
                folder, _, _ = name.rpartition("/")
                start = started.get(folder)
                if m.rotated_at_ms is not None:
                    if start is not None and start >= m.rotated_at_ms:
                        start = None  # not in time order: the previous file says nothing
                    started[folder] = m.rotated_at_ms
                _member(result, m, data, q, lib, start)
        except CorruptData as exc:
            result.error = str(exc)
    return result


def _counting(blocks: Iterator[bytes], result: ArchiveResult, attr: str) -> Iterator[bytes]:
    for block in blocks:
        setattr(result, attr, getattr(result, attr) + len(block))
        yield block


def _member(
    result: ArchiveResult,
    m: Member,
    data: Iterator[bytes],
    q: Query,
    lib: object,
    started_ms: int | None,
) -> None:
    """One member; `started_ms`: when the file began, if the rotation before it says so
    (mongod's rename rotation: a file holds the lines after the previous one was closed)."""
    if m.binary:
        result.skipped.append((m.name, "FTDC (binary)"))
        return
    if not q.wants_member(m.host, m.log_type):
        return
    if q.from_ms is not None and m.rotated_at_ms is not None and m.rotated_at_ms < q.from_ms:
        result.skipped.append((m.name, "rotated before --from"))
        return
    if q.to_ms is not None and started_ms is not None and started_ms > q.to_ms:
        result.skipped.append((m.name, "started after --to"))
        return
    # In a window, a rotated .gz is inflated in small blocks: its first lines tell whether
    # the rest is past --to, before the whole file is inflated.
    block = PEEK if q.windowed else BLOCK
    text: Iterator[bytes] = gunzip(data, lib=lib, block=block) if m.gzipped else data  # type: ignore[arg-type]
    try:
        head = next(text, b"")
        if looks_binary(head):
            result.skipped.append((m.name, "binary"))
            return
        tally = scan(itertools.chain((head,), text), q)
    except CorruptData as exc:
        if not m.gzipped:
            raise  # the archive's own stream broke
        result.problems.append(f"{m.name}: {exc}")
        return
    result.members.append(MemberResult(m, tally))
