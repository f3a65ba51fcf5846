"""`bulkdl search`'s orchestration: which archives (from the manifest), and workers to read them.

Archives are searched in parallel, one per task, in processes by default: inflating releases
the GIL but `re` does not, so threads stop scaling past the inflate share (bench `search`
measures both; `--pool thread` keeps the other). Results come back in the manifest's order.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Final

from bulkdl.domain.errors import ConfigError
from bulkdl.domain.models import group_id, job_id
from bulkdl.domain.planner import MANIFEST_NAME, archive_path
from bulkdl.search.engine import Archive, ArchiveResult, search_archive
from bulkdl.search.query import Query
from bulkdl.store.manifest import parse_previous

# Below this many compressed bytes, starting worker processes costs more than it saves.
PARALLEL_FROM_BYTES: Final = 8 * 1024 * 1024


def plan_archives(
    out_dir: Path, groups: Sequence[str] = (), jobs: Sequence[str] = ()
) -> list[Archive]:
    """Every archive the manifest records as on disk (the last line per job), selected."""
    manifest = out_dir / MANIFEST_NAME
    try:
        fd = os.open(manifest, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(
            f"{manifest}: no manifest here; search reads the archives a pull recorded",
            hint="give the folder a download wrote (OUT), e.g. bulkdl search PATTERN bulkdl-demo",
        ) from None
    except OSError as exc:
        raise ConfigError(f"{manifest}: cannot open the manifest ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        recorded = parse_previous(f.read().decode("utf-8", "replace"))
    found: list[Archive] = []
    for (_, job), rec in recorded.items():  # keyed by (groupId, jobId)
        if (groups and rec.group_id not in groups) or (jobs and job not in jobs):
            continue
        try:
            path = archive_path(out_dir, group_id(rec.group_id), job_id(job))
        except ValueError:
            continue  # a malformed line: `bulkdl verify` names it
        found.append(Archive(rec.group_id, job, str(path)))
    # by group, then job (ObjectIds: oldest first), not by when each download finished
    return sorted(found, key=lambda a: (a.group_id, a.job_id))


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def search_all(
    archives: Sequence[Archive], q: Query, *, workers: int | None = None, pool: str = "process"
) -> Iterator[ArchiveResult]:
    """Search every archive; results in the order given, each as soon as it and those before
    it are done."""
    n = workers or default_workers()
    size = sum(_size(a.path) for a in archives)
    if n <= 1 or len(archives) <= 1 or (workers is None and size < PARALLEL_FROM_BYTES):
        for archive in archives:
            yield search_archive(archive, q)
        return
    executor: Executor
    if pool == "thread":
        executor = ThreadPoolExecutor(n)
    else:
        executor = ProcessPoolExecutor(n, mp_context=_context())
    with executor:
        try:
            yield from executor.map(search_archive, archives, itertools.repeat(q))
        except BaseException:
            executor.shutdown(wait=False, cancel_futures=True)
            raise


def _context() -> multiprocessing.context.BaseContext:
    """fork when this process runs no other thread (the CLI): cheapest, and the workers are
    its own children, so their CPU is in its rusage; forkserver otherwise (forking a process
    with threads can deadlock the child)."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["bulkdl.search.engine"])
    return context


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
