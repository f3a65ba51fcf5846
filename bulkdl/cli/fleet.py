"""`bulkdl collect`, `extend`, `retry` and `delete`: the commands that change jobs."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bulkdl.cli.common import guarded, job_filter, load_settings
from bulkdl.cli.failure import err_console, fail_to_start, json_errors, say
from bulkdl.cli.options import (
    Connection,
    DryRunOpt,
    Groups,
    Jobs,
    OutOpt,
    Output,
    TimeoutOpt,
    VerboseOpt,
    choices,
    flag,
    number,
    path,
    shared_options,
    text,
)
from bulkdl.domain.errors import BulkdlError, ConfigError, ExitStatus
from bulkdl.domain.models import format_api_date
from bulkdl.domain.selection import DEFAULT_SIZE_PER_FILE, LOG_TYPES

if TYPE_CHECKING:
    from rich.console import Console

    from bulkdl.domain.models import CollectionRange, Job
    from bulkdl.domain.selection import JobFilter
    from bulkdl.run.fleet_actions import Action, Actions
    from bulkdl.settings.load import Settings

FromOpt = Annotated[
    str | None,
    text(
        "--from",
        "WHEN",
        "Collect only logs from this instant; needs --to. ISO 8601 (no offset = UTC), "
        "HH:MM (today, UTC), or 2h / 90m ago.",
    ),
]
ToOpt = Annotated[
    str | None,
    text("--to", "WHEN", "Collect only logs up to this instant (same forms, or now)."),
]


ResourceTypeOpt = Annotated[
    str,
    text(
        "--resource-type",
        "TYPE",
        "cluster, replicaset or process.",
        choices(("cluster", "replicaset", "process")),
    ),
]
ResourceNameOpt = Annotated[
    str, text("--resource-name", "NAME", "Deployment, replica set or process name.")
]
LogTypesOpt = Annotated[
    str,
    text(
        "--log-types",
        "TYPES",
        "Comma-separated: " + ",".join(LOG_TYPES) + ".",
        choices(LOG_TYPES, listed=True),
    ),
]
SizePerFileOpt = Annotated[int, number("--size-per-file", "BYTES", "Bytes per log file.")]
NoRedactOpt = Annotated[bool, flag("--no-redact", "Ask for unredacted logs (default: redacted).")]
CollectWaitOpt = Annotated[bool, flag("--wait", "Poll each job until it leaves IN_PROGRESS.")]
DownloadOpt = Annotated[bool, flag("--download", "Download each archive as soon as it is ready.")]
CollectExtractOpt = Annotated[
    bool,
    flag("--extract", "Implies --download: unpack each verified archive to OUT/<group>/<job>/."),
]
NewOpt = Annotated[
    bool,
    typer.Option(
        "--new", help="Create fresh jobs even where OUT's manifest has one for the same request."
    ),
]


@shared_options()
def collect(
    *,
    resource_type: ResourceTypeOpt,
    resource_name: ResourceNameOpt,
    log_types: LogTypesOpt,
    size_per_file: SizePerFileOpt = DEFAULT_SIZE_PER_FILE,
    no_redact: NoRedactOpt = False,
    wait: CollectWaitOpt = False,
    download: DownloadOpt = False,
    extract: CollectExtractOpt = False,
    new: NewOpt = False,
    from_: FromOpt = None,
    to: ToOpt = None,
    timeout: TimeoutOpt = 3600.0,
    conn: Connection,
    out: OutOpt = None,
    groups: Groups,
    dry_run: DryRunOpt = False,
    verbose: VerboseOpt = False,
    view: Output,
) -> None:
    """Create a log-collection job in every selected group; optionally wait and download.

    Run again on the same --out with the same request, it resumes the jobs it created there
    (waits for and downloads them) instead of creating more; --new creates fresh ones. With
    --json the summary lists the created jobs (createdJobs: groupId, jobId)."""
    from datetime import UTC, datetime

    from bulkdl.domain.selection import collect_request, collection_range

    json_errors(view.is_json)
    download = download or extract
    try:
        what = {"resource_type": resource_type, "resource_name": resource_name}
        kinds = log_types.split(",")
        body = collect_request(
            **what, log_types=kinds, size_per_file=size_per_file, redacted=not no_redact
        )
        window = collection_range(from_, to, datetime.now(UTC))
    except BulkdlError as exc:
        fail_to_start(exc, conn.debug)
    # Always an OUT (--out or out_dir): its manifest records the jobs created, so that a rerun
    # resumes them; the current folder is never made one silently.
    settings = load_settings(conn, groups, out_dir=out, verify=extract)
    if not view.quiet:
        say(err_console(), window_line(window))
    from bulkdl.cli.run import run_and_exit
    from bulkdl.run.runner import RunOptions

    options = RunOptions(collect=body, new=new, collect_range=window, wait=wait or download)
    options = dataclasses.replace(
        options, download=download, extract=extract, timeout_s=timeout, dry_run=dry_run
    )
    run_and_exit(settings, options, view, debug=conn.debug, verbose=verbose)


def window_line(window: CollectionRange | None) -> str:
    """The window as the run will ask for it, in UTC: what `02:10` or `2h` resolved to."""
    if window is None:
        return "window: none (no --from/--to: the logs the agents still hold)"
    start, end = (format_api_date(t) for t in (window.start, window.end))
    return f"window: {start} to {end} (UTC)"


def _run_actions(
    settings: Settings,
    conn: Connection,
    view: Output,
    act: Callable[[Actions], Awaitable[tuple[list[Action], list[str]]]],
    verb: str,
    dry_run: bool,
    run_id: str | None = None,
) -> None:
    """Run `act`, say what was done; --json: every action, and every failure (a group that
    could not be listed, a change refused or failed) as one line in `failures`."""
    from bulkdl.run.fleet_actions import Actions

    console = err_console()
    fleet = Actions(settings)

    async def main() -> tuple[list[Action], list[str]]:
        async with fleet.client:
            return await act(fleet)

    actions, failures = guarded(console, conn.debug, main)
    interrupted = fleet.interrupted
    errors = [a for a in actions if a.error]
    every = [*failures, *(f"group {a.group_id} job {a.job_id}: {a.error}" for a in errors)]
    failed = len(every)  # a group that could not be listed failed too
    status = (
        ExitStatus.INTERRUPTED if interrupted else ExitStatus.FAILED if failed else ExitStatus.OK
    )
    _print_actions(
        view, actions, every, dry_run=dry_run, interrupted=interrupted, status=status, run_id=run_id
    )
    for a in actions:
        if a.error:
            say(console, f"error: group {a.group_id} job {a.job_id}: {a.error}")
        elif not view.quiet or interrupted:  # after an interrupt, name every change made
            prefix = "would " if dry_run else ""
            say(console, f"{prefix}{a.what}: group {a.group_id} job {a.job_id}")
    for line in failures:
        say(console, f"failed: {line}")
    done = sum(1 for a in actions if a.done)
    if interrupted:
        line = f"{verb}: interrupted; {done} done before it (named above), {failed} failed, "
        say(console, line + "the others not sent")
    elif not view.quiet or failed:
        planned = len(actions) - len(errors)
        counts = f"{planned} planned" if dry_run else f"{done} done"
        say(console, f"{verb}: {counts}, {failed} failed")
    raise typer.Exit(status)


def _print_actions(
    view: Output,
    actions: list[Action],
    failures: list[str],
    *,
    dry_run: bool,
    interrupted: bool,
    status: ExitStatus,
    run_id: str | None,
) -> None:
    """`--json` / `-o json`: one object with exitCode, every failure a line in `failures`, and
    the runId of the manifest lines it wrote (delete --out); `-o csv`: one row per job."""
    from bulkdl.report.output import Format, to_csv

    rows = [
        {
            "groupId": a.group_id,
            "jobId": a.job_id,
            "action": a.what,
            "done": a.done,
            "error": a.error,
            "attempts": a.attempts,
        }
        for a in actions
    ]
    if view.format is Format.CSV:
        sys.stdout.write(to_csv(rows))
    elif view.is_json:
        doc = {"dryRun": dry_run, "actions": rows, "failures": failures}
        if run_id is not None:
            doc["runId"] = run_id
        doc |= {"interrupted": interrupted, "exitCode": int(status)}
        sys.stdout.write(json.dumps(doc) + "\n")


CreatedInOpt = Annotated[
    Path | None, path("--out", "DIR", "With --created-here: the folder collect created jobs into.")
]


@shared_options()
def extend(
    *,
    days: Annotated[int, number("--days", "N", "New expiration: this many days from now.")],
    conn: Connection,
    out: CreatedInOpt = None,
    groups: Groups,
    jobs: Jobs,
    dry_run: DryRunOpt = False,
    view: Output,
) -> None:
    """Push the expiration of the selected jobs to N days from now (at most 6 months after
    each job's creation, checked before sending)."""
    from datetime import UTC, datetime

    from bulkdl.run.fleet_actions import extend_jobs

    json_errors(view.is_json)
    settings = load_settings(conn, groups, out_dir=out, need_out_dir=False)
    selected = job_filter(jobs, conn.debug, settings.out_dir)
    if days < 1:
        fail_to_start(BulkdlError(f"--days must be at least 1, got {days}"), conn.debug)
    now = datetime.now(UTC)
    _run_actions(
        settings,
        conn,
        view,
        lambda fleet: extend_jobs(fleet, selected, days, now, dry_run=dry_run),
        "extend",
        dry_run,
    )


@shared_options(omit=("status",))
def retry(
    *,
    conn: Connection,
    out: CreatedInOpt = None,
    groups: Groups,
    jobs: Jobs,
    dry_run: DryRunOpt = False,
    view: Output,
) -> None:
    """Retry the selected FAILURE jobs (PUT .../retry)."""
    from bulkdl.run.fleet_actions import retry_jobs

    json_errors(view.is_json)
    settings = load_settings(conn, groups, out_dir=out, need_out_dir=False)
    selected = job_filter(jobs, conn.debug, settings.out_dir)
    _run_actions(
        settings,
        conn,
        view,
        lambda fleet: retry_jobs(fleet, selected, dry_run=dry_run),
        "retry",
        dry_run,
    )


YesOpt = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask (required without a terminal).")
]


@shared_options()
def delete(
    *,
    conn: Connection,
    groups: Groups,
    jobs: Jobs,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    out: Annotated[
        Path | None,
        path("--out", "DIR", "Record each deleted job in DIR/manifest.jsonl."),
    ] = None,
    view: Output,
) -> None:
    """Delete the selected jobs, in any state (DELETE .../{job}); shows the plan and asks first
    unless --yes. A job already gone (404) is reported, not an error."""
    settings = load_settings(conn, groups, out_dir=out, need_out_dir=False)
    selected = job_filter(jobs, conn.debug, settings.out_dir)
    if not (dry_run or yes or sys.stdin.isatty()):
        fail_to_start(
            ConfigError(
                "delete: no terminal to ask for confirmation, and no --yes",
                hint="check the plan with --dry-run, then pass --yes to delete without asking",
            ),
            conn.debug,
        )
    console = err_console()
    listed, failures = guarded(console, conn.debug, lambda: _list(settings, selected))
    if listed and not (dry_run or yes):
        _confirm_delete(console, listed)
    out_dir = settings.out_dir if out is not None and not dry_run else None
    from bulkdl.report.summary import new_run_id

    run_id = new_run_id()
    _run_actions(
        settings,
        conn,
        view,
        lambda fleet: _delete(fleet, listed, failures, out_dir, run_id, dry_run=dry_run),
        "delete",
        dry_run,
        run_id,
    )


async def _list(settings: Settings, selected: JobFilter) -> tuple[list[Job], list[str]]:
    from bulkdl.cloud.session import ApiSession
    from bulkdl.run.fleet_actions import list_jobs as select_jobs

    api = ApiSession(settings)
    async with api.client:
        return await select_jobs(api, selected)


def _confirm_delete(console: Console, jobs: list[Job]) -> None:
    """Show what would go and ask; anything but yes deletes nothing (exit 1)."""
    from bulkdl.report.output import Format, emit
    from bulkdl.report.tables import DELETE_COLUMNS, job_json

    emit(
        DELETE_COLUMNS,
        [job_json(j, None) for j in jobs],
        Format.TABLE,
        title=f"to delete: {len(jobs)} jobs",
        err=console,
        table_to_stderr=True,
    )
    groups = len({j.group_id for j in jobs})
    # Asked on stderr and read from stdin by hand: click's prompt writes a space to stdout,
    # which would spoil --json.
    console.print(
        f"Delete these {len(jobs)} jobs in {groups} groups? [y/N]: ", end="", markup=False
    )
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        say(console, "nothing deleted")
        raise typer.Exit(ExitStatus.FAILED)


async def _delete(
    fleet: Actions,
    jobs: list[Job],
    failures: list[str],
    out_dir: Path | None,
    run_id: str,
    *,
    dry_run: bool,
) -> tuple[list[Action], list[str]]:
    import anyio

    from bulkdl.run.fleet_actions import delete_jobs
    from bulkdl.run.runner import prepare_out_dir
    from bulkdl.store.manifest import ManifestWriter

    if out_dir is None:
        return await delete_jobs(fleet, jobs, dry_run=dry_run), failures
    out = await anyio.to_thread.run_sync(prepare_out_dir, out_dir)  # locked, links refused
    try:
        async with ManifestWriter(out, run_id=run_id) as manifest:
            return await delete_jobs(fleet, jobs, dry_run=dry_run, manifest=manifest), failures
    finally:
        out.close()
