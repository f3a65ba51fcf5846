"""`bulkdl verify OUT`: check a finished pull against its manifest, in parallel, off the loop.

For every archive the manifest says is on disk: the file exists at OUT/<groupId>/<jobId>.tar.gz,
is reached through no symbolic link, has the recorded size and sha256, and reads through gzip
and tar to its end. The path is rebuilt from the validated ids, not taken from the manifest, so
a tampered manifest cannot point outside OUT. Archives on disk that the manifest does not record
as downloaded are named too: a crash (or a failed manifest write) can leave one.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import anyio

from bulkdl.domain.errors import ConfigError, CorruptArchive
from bulkdl.domain.models import group_id, job_id
from bulkdl.domain.planner import MANIFEST_NAME, Recorded, RecordKey, archive_path
from bulkdl.store.archive_check import check_archive_fd
from bulkdl.store.archive_file import hash_matches
from bulkdl.store.manifest import read_previous
from bulkdl.store.outdir import is_link_error, open_beneath, open_folder

ARCHIVE_SUFFIX = ".tar.gz"
UNRECORDED = "on disk but not recorded as downloaded in the manifest"


@dataclass(frozen=True, slots=True)
class Checked:
    """One archive's verdict: problem is None when it is intact."""

    group_id: str
    job_id: str
    path: Path
    problem: str | None


def check_one(out_dir: Path, dir_fd: int, job: str, rec: Recorded) -> Checked:
    """Size, sha256, gzip+tar, for one recorded archive (blocking)."""
    try:
        path = archive_path(out_dir, group_id(rec.group_id), job_id(job))
    except ValueError as exc:
        return Checked(rec.group_id, job, out_dir, f"manifest line is malformed: {exc}")
    try:
        fd = open_beneath(dir_fd, (rec.group_id, path.name))
    except FileNotFoundError:
        return Checked(rec.group_id, job, path, "missing")
    except OSError as exc:
        why = "a symbolic link on the way (not followed)" if is_link_error(exc) else exc.strerror
        return Checked(rec.group_id, job, path, f"cannot open: {why}")
    try:
        return Checked(rec.group_id, job, path, _problem(fd, rec, path.name))
    finally:
        os.close(fd)


def _problem(fd: int, rec: Recorded, name: str) -> str | None:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size != rec.bytes:
        return f"size {st.st_size}, manifest says {rec.bytes}"
    if not hash_matches(fd, rec.bytes, rec.sha256):
        return "sha256 differs from the manifest"
    try:
        check_archive_fd(fd, name)
    except CorruptArchive as exc:
        return str(exc)
    return None


def unrecorded(out_dir: Path, dir_fd: int, records: dict[RecordKey, Recorded]) -> list[Checked]:
    """Archives under OUT/<groupId>/ the manifest does not record as downloaded (blocking)."""
    known = set(records)  # (groupId, jobId): job ids may repeat across groups
    found: list[Checked] = []
    with os.scandir(dir_fd) as groups:
        folders = [g.name for g in groups if g.is_dir(follow_symlinks=False) and _valid(g.name)]
    for group in folders:
        fd = open_beneath(dir_fd, (group,), os.O_DIRECTORY)
        try:
            with os.scandir(fd) as entries:
                names = [e.name for e in entries if e.name.endswith(ARCHIVE_SUFFIX)]
        finally:
            os.close(fd)
        for name in names:
            job = name.removesuffix(ARCHIVE_SUFFIX)
            if _valid(job) and (group, job) not in known:
                found.append(Checked(group, job, out_dir / group / name, UNRECORDED))
    return found


def _valid(raw: str) -> bool:
    try:
        group_id(raw)
    except ValueError:
        return False
    return True


async def verify_pull(out_dir: Path, *, workers: int | None = None) -> list[Checked]:
    """Check every archive the manifest records, `workers` at a time in threads."""
    dir_fd = open_folder(out_dir)
    try:
        if not _exists(dir_fd, MANIFEST_NAME):
            raise ConfigError(
                f"{out_dir}: no {MANIFEST_NAME} here",
                hint="point bulkdl verify at a download folder",
            )
        records = await read_previous(out_dir, dir_fd)
        pending = iter(records.items())  # shared by the workers: each record is taken once
        results = await anyio.to_thread.run_sync(unrecorded, out_dir, dir_fd, records)

        async def worker() -> None:
            for (_, job), rec in pending:
                results.append(await anyio.to_thread.run_sync(check_one, out_dir, dir_fd, job, rec))

        async with anyio.create_task_group() as tg:
            for _ in range(workers or os.cpu_count() or 2):
                tg.start_soon(worker)
    finally:
        os.close(dir_fd)
    return sorted(results, key=lambda c: (c.group_id, c.job_id))


def _exists(dir_fd: int, name: str) -> bool:
    """Whether `name` exists at all (a link is refused when it is read)."""
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return True
