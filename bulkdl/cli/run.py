"""Running a download or a collect from the command line: reporter, summary or plan, exit.

Imported by the commands that run, when they run: it loads the runner (and so aiohttp).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping
from typing import Any, Final, NoReturn

import typer
from rich.console import Console

from bulkdl.cli.common import finish, make_reporter
from bulkdl.cli.failure import err_console, say
from bulkdl.cli.options import Output
from bulkdl.cli.signals import invoked_args
from bulkdl.domain.errors import ExitStatus
from bulkdl.report.hints import resume_command
from bulkdl.report.output import Column, Format, emit, field
from bulkdl.report.summary import human_bytes, window_doc
from bulkdl.run.runner import Run, RunOptions, RunResult
from bulkdl.run.waits import wait_report_interval
from bulkdl.settings.load import Settings


def run_and_exit(
    settings: Settings, options: RunOptions, out: Output, *, debug: bool, verbose: bool = False
) -> NoReturn:
    """Run download/collect with the right reporter; print plan or summary; exit.

    On exit 1 or 130 of a download, one more line: the command that resumes it.
    """
    console = err_console()
    # A live display shows what is waiting; elsewhere, a "still waiting" line now and then.
    interval = wait_report_interval(os.environ, live_display=console.is_terminal)
    options = dataclasses.replace(options, wait_report_s=interval)
    reporter = make_reporter(console, out.quiet, verbose=verbose)

    async def main() -> RunResult:
        return await Run(settings, reporter, options).execute(handle_signals=True)

    result, summary = finish(
        console,
        reporter,
        main,
        quiet=out.quiet or options.dry_run,
        as_json=out.is_json and not options.dry_run,
        debug=debug,
        as_csv=out.format is Format.CSV and not options.dry_run,
    )
    if options.dry_run:
        print_plan(console, result, settings, out.format)
        failed = summary.failed or any(p.error for p in result.plan)
        raise typer.Exit(ExitStatus.FAILED if failed else ExitStatus.OK)
    if summary.exit_status in (ExitStatus.FAILED, ExitStatus.INTERRUPTED):
        command = resume_command(invoked_args())
        if command and options.collect is None:  # a second collect would create more jobs
            say(console, f"to resume: {command}")
    raise typer.Exit(summary.exit_status)


_PLAN_COLUMNS: Final = (
    Column("group", field("groupId"), keep=True),
    Column("jobs listed", lambda r: _counts(r["statuses"]), priority=1, shrink_to=12),
    Column("to download", field("toDownload"), keep=True, right=True),
    Column("to skip", field("toSkip"), keep=True, right=True),
    Column("up to (uncompressed)", lambda r: human_bytes(r["bytesUpperBound"]), priority=3),
    Column("note", lambda r: _plan_note(r), priority=2, shrink_to=20),
)


def _counts(statuses: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())) or "no jobs"


def _plan_note(record: Mapping[str, Any]) -> str:
    if record["error"]:
        return f"cannot list: {record['error']}"
    body = record["wouldCreate"]
    if body is None:
        return ""
    kinds = ", ".join(body["logTypes"])
    return f"would create a job for {body['resourceType']} {body['resourceName']} ({kinds})"


def print_plan(console: Console, result: RunResult, settings: Settings, fmt: Format) -> None:
    """A dry run's plan: a row per group (in `fmt`), then totals and the free-space check."""
    plan = sorted(result.plan, key=lambda p: p.group_id)
    total_jobs = sum(p.to_download for p in plan)
    total_skips = sum(p.to_skip for p in plan)
    total_bytes = sum(p.bytes_upper_bound for p in plan)
    creates = sum(1 for p in plan if p.would_create is not None)
    free = result.free_bytes
    fits = free is None or total_bytes <= free
    rows = [
        {
            "groupId": p.group_id,
            "statuses": p.statuses,
            "toDownload": p.to_download,
            "toSkip": p.to_skip,
            "bytesUpperBound": p.bytes_upper_bound,
            "wouldCreate": p.would_create,
            "error": p.error,
        }
        for p in plan
    ]
    if fmt is Format.JSON:
        doc = {
            "groups": rows,
            "toDownload": total_jobs,
            "toSkip": total_skips,
            "bytesUpperBound": total_bytes,
            "wouldCreate": creates,
            "freeBytes": free,
            "fits": fits,
            "window": window_doc(result.summary.window),
        }
        sys.stdout.write(json.dumps(doc) + "\n")
        return
    emit(_PLAN_COLUMNS, rows, fmt, table_to_stderr=True)
    say(
        console,
        f"dry run: would create {creates} jobs and download {total_jobs} archives, "
        f"up to {human_bytes(total_bytes)} (uncompressed sizes, an upper bound) into "
        f"{settings.out_dir}; skip {total_skips} already complete",
    )
    if free is not None:
        verdict = "fits" if fits else "MAY NOT FIT"
        say(console, f"free space there: {human_bytes(free)}: {verdict}")
