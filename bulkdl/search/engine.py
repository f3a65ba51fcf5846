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

from bulkdl.search.inflate import CorruptData, backend, gunzip, read_chunks
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
        try:
            for name, _, data in members(ByteSource(inflated)):
                _member(result, classify(name), data, q, lib)
        except CorruptData as exc:
            result.error = str(exc)
    return result


def _counting(blocks: Iterator[bytes], result: ArchiveResult, attr: str) -> Iterator[bytes]:
    for block in blocks:
        setattr(result, attr, getattr(result, attr) + len(block))
        yield block


def _member(result: ArchiveResult, m: Member, data: Iterator[bytes], q: Query, lib: object) -> None:
    if m.binary:
        result.skipped.append((m.name, "FTDC (binary)"))
        return
    if not q.wants_member(m.host, m.log_type):
        return
    if q.from_ms is not None and m.rotated_at_ms is not None and m.rotated_at_ms < q.from_ms:
        result.skipped.append((m.name, "rotated before --from"))
        return
    text: Iterator[bytes] = gunzip(data, lib=lib) if m.gzipped else data  # type: ignore[arg-type]
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
