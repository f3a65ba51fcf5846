"""One download run: list every group, plan, stream every archive, record every outcome.

Listing (bounded) and downloading overlap: a group's archives start as soon as its listing is
in. A Producer (`bulkdl.run.producer`) fills a GroupQueue, which also enforces
`per_group_concurrency`; a fixed pool of `concurrency` workers takes targets from it and hands
each to a Transfer (`bulkdl.run.transfer`). Expected failures become JobResults (a group's or a
job's), never exceptions that cancel the others; only a fatal error (a rejected key, no server
at all) ends the run. `Run` itself holds what spans the run: OUT and its lock, the manifest,
signals, the summary.
"""

from __future__ import annotations

import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from bulkdl.cloud.session import ApiSession
from bulkdl.domain.errors import BulkdlError
from bulkdl.domain.models import GroupId
from bulkdl.domain.planner import DownloadTarget, Recorded, RecordKey
from bulkdl.report.progress import Reporter
from bulkdl.report.summary import RunSummary
from bulkdl.run.dryrun import GroupPlan, Planning
from bulkdl.run.group_queue import GroupQueue
from bulkdl.run.options import RunOptions
from bulkdl.run.producer import Producer
from bulkdl.run.record import Recorder, failed_line, malformed_result
from bulkdl.run.transfer import Transfer
from bulkdl.settings.load import Settings
from bulkdl.store.manifest import ManifestWriter, read_previous
from bulkdl.store.outdir import OutDir, open_folder

__all__ = ["GroupPlan", "Run", "RunOptions", "RunResult", "free_bytes", "prepare_out_dir"]


@dataclass(frozen=True, slots=True)
class RunResult:
    summary: RunSummary
    requests_sent: int
    plan: list[GroupPlan] = field(default_factory=list)
    free_bytes: int | None = None


def prepare_out_dir(out_dir: Path) -> OutDir:
    """Create the output folder (0700), lock it for this run (which proves it writable).

    ConfigError (exit 2) when it cannot be, is a link, or another run holds it. Blocking.
    """
    return OutDir.open(out_dir)


def free_bytes(path: Path) -> int:
    """Free space on the filesystem holding `path` (blocking)."""
    return shutil.disk_usage(path).free


class Run:
    """One run: OUT, the manifest, signals and the summary around a producer and its workers."""

    def __init__(
        self, settings: Settings, reporter: Reporter, options: RunOptions | None = None
    ) -> None:
        self.settings = settings
        self.reporter = reporter
        self.options = options or RunOptions()
        self.summary = RunSummary(out_dir=settings.out_dir, window=self.options.collect_range)
        self._scope = anyio.CancelScope()
        self._fatal: BulkdlError | None = None

    async def execute(self, *, handle_signals: bool = False) -> RunResult:
        """Run to the end; raises the error that stopped the run from starting (exit 2).

        With handle_signals, SIGINT/SIGTERM stop it: nothing new starts, what is in flight is
        cancelled (its .part removed), and the summary comes back with interrupted=True.
        A dry run locks nothing: it only reads OUT (when there is one) to count what it holds.
        """
        path = self.settings.out_dir
        out = peek = None
        try:
            if self.options.dry_run:
                peek = await anyio.to_thread.run_sync(_peek, path)
            else:
                out = await anyio.to_thread.run_sync(prepare_out_dir, path)
                for warning in out.warnings:
                    self.reporter.warn(warning)
            return await self._execute(out, peek, handle_signals)
        finally:
            if out is not None:
                out.close()  # releases the lock: after the manifest's last line
            if peek is not None:
                peek.close()

    def interrupt(self) -> None:
        """Stop the run as Ctrl-C does."""
        self.summary.interrupted = True
        self._scope.cancel()

    async def _execute(
        self, out: OutDir | None, peek: OutDir | None, handle_signals: bool
    ) -> RunResult:
        s = self.settings
        readable = out or peek
        previous = await read_previous(s.out_dir, readable.fd) if readable is not None else {}
        free = await anyio.to_thread.run_sync(free_bytes, _existing_parent(s.out_dir))
        started = time.monotonic()
        session = ApiSession(
            s,
            max_connections=s.concurrency + s.list_concurrency,
            on_retry=lambda exc, n, delay: self.reporter.retrying(str(exc), n, delay),
        )
        queue: GroupQueue[DownloadTarget] = GroupQueue(s.per_group_concurrency)
        manifest = ManifestWriter(out, on_repair=self.reporter.warn, run_id=self.summary.run_id)
        recorder = Recorder(manifest, self.summary, self.reporter)
        producer, plan = self._producer(session, recorder, previous, queue, free, peek)
        try:
            async with manifest, session.client, anyio.create_task_group() as outer:
                self._scope = outer.cancel_scope
                if handle_signals:
                    outer.start_soon(self._watch_signals)
                if groups := await self._resolve_groups(session, recorder):
                    async with anyio.create_task_group() as work:
                        work.start_soon(producer.produce, groups)
                        if out is not None:
                            transfer = Transfer(
                                session,
                                out,
                                self.reporter,
                                extract=self.options.extract,
                                on_fatal=self._abort,
                            )
                            for _ in range(s.concurrency):
                                work.start_soon(_worker, queue, transfer, recorder)
                outer.cancel_scope.cancel()  # all work done: stop watching for signals
        finally:
            self.summary.elapsed_s = time.monotonic() - started
        if self._fatal is not None:
            raise self._fatal
        return RunResult(self.summary, session.client.requests_sent, plan, free)

    def _producer(
        self,
        session: ApiSession,
        recorder: Recorder,
        previous: dict[RecordKey, Recorded],
        queue: GroupQueue[DownloadTarget],
        free: int | None,
        peek: OutDir | None,
    ) -> tuple[Producer, list[GroupPlan]]:
        """The producer, and the plan it fills: a dry run's steps plan instead of acting."""
        planning = Planning(recorder.reporter, peek) if self.options.dry_run else None
        producer = Producer(
            session,
            recorder,
            self.options,
            previous,
            queue,
            on_fatal=self._abort,
            free_bytes=free,
            steps=planning,
        )
        return producer, planning.plan if planning is not None else []

    async def _resolve_groups(self, session: ApiSession, recorder: Recorder) -> list[GroupId]:
        """The groups to cover; a listed group with a malformed id, or a --group not found,
        fails alone (a line naming it) and the others run. [] when the run cannot start."""
        try:
            groups = await session.resolve_groups()
        except BulkdlError as exc:
            self._abort(exc)
            return []
        for bad in groups.malformed:
            await recorder.record(malformed_result(bad))
        for line in groups.missing:
            await recorder.record(failed_line(line))
        self.reporter.planned({g: groups.names.get(g) for g in groups.chosen})
        if self.settings.discover:
            self.reporter.note(f"{len(groups.chosen)} groups selected")
        return groups.chosen

    def _abort(self, exc: BulkdlError) -> None:
        """An error that makes every other request pointless (a rejected key): stop everything."""
        if self._fatal is None:
            self._fatal = exc
        self._scope.cancel()

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                self.interrupt()
                return


async def _worker(
    queue: GroupQueue[DownloadTarget], transfer: Transfer, recorder: Recorder
) -> None:
    while (ready := await queue.get()) is not None:
        group, target = ready
        try:
            result = await transfer.download(target)
        finally:
            queue.done(group)
        with anyio.CancelScope(shield=True):  # an archive on disk always gets its line
            await recorder.record(result)
            recorder.summary.transferred += 1


def _peek(path: Path) -> OutDir | None:
    """OUT opened to read only, for a dry run to read its manifest; None when there is none."""
    return OutDir(path, open_folder(path), -1, []) if path.is_dir() else None


def _existing_parent(path: Path) -> Path:
    """The nearest folder that exists, to ask for free space before `path` is created."""
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate
    return Path.cwd()
