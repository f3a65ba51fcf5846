"""`bulkdl verify OUT`: check a finished pull against its manifest, in parallel, off the loop.

For every archive the manifest says is on disk: the file exists at OUT/<groupId>/<jobId>.tar.gz,
has the recorded size and sha256, and reads through gzip and tar to its end. The path is rebuilt
from the validated ids, not taken from the manifest, so a tampered manifest cannot point
outside OUT.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import anyio

from bulkdl.errors import ConfigError, CorruptArchive
from bulkdl.manifest import MANIFEST_NAME, read_previous
from bulkdl.models import group_id, job_id
from bulkdl.planner import Recorded, archive_path
from bulkdl.sink import check_archive, file_matches


@dataclass(frozen=True, slots=True)
class Checked:
    """One archive's verdict: problem is None when it is intact."""

    group_id: str
    job_id: str
    path: Path
    problem: str | None


def check_one(out_dir: Path, job: str, rec: Recorded) -> Checked:
    """Size, sha256, gzip+tar, for one recorded archive (blocking)."""
    try:
        path = archive_path(out_dir, group_id(rec.group_id), job_id(job))
    except ValueError as exc:
        return Checked(rec.group_id, job, out_dir, f"manifest line is malformed: {exc}")
    if not path.is_file():
        return Checked(rec.group_id, job, path, "missing")
    size = path.stat().st_size
    if size != rec.bytes:
        return Checked(rec.group_id, job, path, f"size {size}, manifest says {rec.bytes}")
    if not file_matches(path, rec.bytes, rec.sha256):
        return Checked(rec.group_id, job, path, "sha256 differs from the manifest")
    try:
        check_archive(path)
    except CorruptArchive as exc:
        return Checked(rec.group_id, job, path, str(exc))
    return Checked(rec.group_id, job, path, None)


async def verify_pull(out_dir: Path, *, workers: int | None = None) -> list[Checked]:
    """Check every archive the manifest records, `workers` at a time in threads."""
    if not (out_dir / MANIFEST_NAME).is_file():
        raise ConfigError(
            f"{out_dir}: no {MANIFEST_NAME} here", hint="point bulkdl verify at a download folder"
        )
    records = await read_previous(out_dir)
    pending = iter(records.items())  # shared by the workers: each record is taken once
    results: list[Checked] = []

    async def worker() -> None:
        for job, rec in pending:
            results.append(await anyio.to_thread.run_sync(check_one, out_dir, job, rec))

    async with anyio.create_task_group() as tg:
        for _ in range(workers or os.cpu_count() or 2):
            tg.start_soon(worker)
    return sorted(results, key=lambda c: (c.group_id, c.job_id))
