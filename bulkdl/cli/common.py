"""What every command shares: consoles, error handling, and settings built from the options.

Expected errors (BulkdlError) print one line and a hint on stderr and exit with their status;
anything else is a bug, shown as one line (exit 1); --debug adds the traceback before either
and changes nothing else (exit status, hint, stdout).

The heavier modules (config, the runner's reporters, rich) are imported inside the functions
that use them, so that building the app for `--version` or `--help` does not load them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from bulkdl.cli.failure import (
    credential_sources,
    err_console,
    fail_to_start,
    say,
    show_traceback,
)
from bulkdl.domain.errors import BulkdlError, ConfigError, ExitStatus

if TYPE_CHECKING:
    from rich.console import Console

    from bulkdl.cli.options import Connection, Groups, Jobs
    from bulkdl.domain.selection import JobFilter
    from bulkdl.report.progress import Reporter
    from bulkdl.report.summary import RunSummary
    from bulkdl.run.runner import RunResult
    from bulkdl.settings.load import Settings

T = TypeVar("T")


def make_reporter(console: Console, quiet: bool, *, verbose: bool = False) -> Reporter:
    """Live bars on a terminal (unless --quiet), plain lines elsewhere."""
    from bulkdl.report.progress import PlainReporter

    if console.is_terminal and not quiet:
        from bulkdl.report.live import RichReporter

        return RichReporter(console, quiet=quiet, verbose=verbose)
    return PlainReporter(console, quiet=quiet, verbose=verbose)


def guarded(console: Console, debug: bool, fn: Callable[[], Awaitable[T]]) -> T:
    """Run `fn` on the event loop; turn expected errors into one line and an exit status."""
    import anyio

    from bulkdl.cli.signals import install_signal_handlers, is_interrupt

    try:
        return anyio.run(fn, backend="asyncio")
    except BulkdlError as exc:
        fail_to_start(exc, debug, console)
    except (KeyboardInterrupt, Exception) as exc:  # noqa: BLE001 -- any bug: one line, exit 1
        if is_interrupt(exc):
            console.print("interrupted")
            raise typer.Exit(ExitStatus.INTERRUPTED) from None
        if debug:
            show_traceback(exc)
        say(
            console,
            f"internal error: {exc.__class__.__name__}: {exc} (run with --debug for details)",
        )
        raise typer.Exit(ExitStatus.FAILED) from None
    finally:
        install_signal_handlers()  # the run's signal receiver left SIGTERM at its default


def finish(
    console: Console,
    reporter: Reporter,
    main: Callable[[], Awaitable[RunResult]],
    *,
    quiet: bool,
    as_json: bool,
    debug: bool,
    as_csv: bool = False,
) -> tuple[RunResult, RunSummary]:
    """Run `main`, then print the failures, the summary line and (--json) the JSON summary,
    or (-o csv) one row per job: the manifest's columns, the job's last line of this run."""
    try:
        result = guarded(console, debug, main)
    finally:
        reporter.close()
    summary = result.summary  # each failure was said once already, as it happened
    if not quiet or summary.exit_status is not ExitStatus.OK:
        say(console, summary.line())
    if as_json:
        sys.stdout.write(json.dumps(summary.to_json()) + "\n")
    if as_csv:
        from bulkdl.cli.outcomes import outcomes_csv

        sys.stdout.write(outcomes_csv(summary))
    return result, summary


def load_settings(
    conn: Connection, groups: Groups, *, need_out_dir: bool = True, **flags: Any
) -> Settings:
    """Settings from the config layers and these options (`flags`: more `Overrides` fields);
    exit 2 with one line when they do not add up."""
    from bulkdl.domain.models import is_object_id
    from bulkdl.report.hints import INSECURE_WARNING
    from bulkdl.settings import load as config

    for raw in groups.group or ():
        if not is_object_id(raw):
            fail_to_start(
                ConfigError(f"--group {raw!r} is not a group id (24 hex digits)"),
                conn.debug,
                hint="to choose groups by name use --group-name GLOB (e.g. 'prod-*'); "
                "`bulkdl groups` lists every id with its name",
            )
    overrides = config.Overrides(
        groups=tuple(groups.group or ()),
        all_groups=groups.all_groups,
        org=groups.org,
        group_name=groups.group_name,
        base_url=conn.base_url,
        insecure=conn.insecure,
        profile=conn.profile,
        proxy=conn.proxy,
        **flags,
    )
    try:
        settings = config.load_settings(
            conn.config, config.env_snapshot(), overrides, need_out_dir=need_out_dir
        )
    except BulkdlError as exc:
        fail_to_start(exc, conn.debug)
    if settings.insecure:
        say(err_console(), f"warning: {INSECURE_WARNING}")
    credential_sources(settings.sources)
    return settings


def created_here(out_dir: Path | None) -> frozenset[str]:
    """The job ids of OUT's manifest's `created` lines; ConfigError when there are none."""
    from bulkdl.domain.planner import MANIFEST_NAME
    from bulkdl.store.manifest import parse_previous

    if out_dir is None:
        raise ConfigError("--created-here needs --out DIR (the folder collect created jobs into)")
    path = out_dir / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(
            f"--created-here: cannot read {path}: {exc.strerror or exc}",
            hint="pass the --out DIR that `bulkdl collect` created the jobs into",
        ) from None
    ids = frozenset(c.job_id for made in parse_previous(text).created.values() for c in made)
    if not ids:
        raise ConfigError(f"--created-here: {path} names no job created by `bulkdl collect`")
    return ids


def job_filter(jobs: Jobs, debug: bool, out_dir: Path | None = None) -> JobFilter:
    """The job filter flags, validated (exit 2 with one line when one is malformed).

    `--created-here` narrows to the jobs OUT's manifest says `collect` created there (and
    --job, when given too, to those of them)."""
    from datetime import UTC, datetime

    from bulkdl.domain.models import job_id
    from bulkdl.domain.selection import JobFilter, parse_since, parse_statuses

    try:
        for raw in jobs.job or ():
            job_id(raw)
        ids = frozenset(jobs.job or ())
        if jobs.created_here:
            here = created_here(out_dir)
            ids = ids & here if ids else here
            if not ids:
                raise ConfigError(f"--created-here: none of the --job ids was created in {out_dir}")
        return JobFilter(
            job_ids=ids,
            statuses=parse_statuses(jobs.status or ()),
            since=parse_since(jobs.since, datetime.now(UTC)) if jobs.since else None,
            resource_name=jobs.resource_name,
        )
    except ValueError as exc:
        fail_to_start(ConfigError(f"--job: {exc}"), debug)
    except BulkdlError as exc:
        fail_to_start(exc, debug)
