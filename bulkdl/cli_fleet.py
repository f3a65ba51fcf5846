"""Fleet commands: `groups`, `list`, `collect`, `extend`, `retry`, `delete` (registered on the
app)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

import anyio
import typer
from rich.console import Console
from rich.table import Table

from bulkdl.cli_common import (
    AllGroupsOpt,
    BaseUrlOpt,
    ConfigOpt,
    DebugOpt,
    DryRunOpt,
    GroupNameOpt,
    GroupOpt,
    InsecureOpt,
    JobOpt,
    JsonOpt,
    OrgOpt,
    OutOpt,
    ProfileOpt,
    QuietOpt,
    ResourceNameOpt,
    SinceOpt,
    StatusOpt,
    TimeoutOpt,
    app,
    bounded,
    err_console,
    fail_to_start,
    guarded,
    job_filter,
    load,
    run_and_exit,
    say,
)
from bulkdl.config import Overrides, Settings
from bulkdl.errors import BulkdlError, ConfigError, ExitStatus
from bulkdl.fleet import Action, Fleet, delete_jobs, extend_jobs, retry_jobs
from bulkdl.manifest import ManifestWriter
from bulkdl.models import ChildJob, CollectionRange, GroupInfo, Job
from bulkdl.runner import RunOptions, prepare_out_dir
from bulkdl.selection import (
    DEFAULT_SIZE_PER_FILE,
    JobFilter,
    collect_request,
    collection_range,
)
from bulkdl.summary import human_bytes
from bulkdl.waits import wait_report_interval

FromOpt = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="Collect only logs from this instant (ISO 8601, or 2h / 90m ago); needs --to.",
    ),
]
ToOpt = Annotated[
    str | None,
    typer.Option("--to", help="Collect only logs up to this instant (ISO 8601, 30m, now)."),
]


def _settings(
    config: Path | None,
    group: list[str] | None,
    all_groups: bool,
    org: str | None,
    group_name: str | None,
    base_url: str | None,
    insecure: bool,
    debug: bool,
    out: Path | None = None,
    profile: str | None = None,
    *,
    need_out_dir: bool = False,
) -> Settings:
    overrides = Overrides(
        profile=profile,
        out_dir=out,
        groups=tuple(group or ()),
        all_groups=all_groups,
        org=org,
        group_name=group_name,
        base_url=base_url,
        insecure=insecure,
    )
    return load(config, overrides, debug, need_out_dir=need_out_dir)


# Columns holding 24-hex ids: never folded or cut, so an id can be copied whole from a table.
_ID_COLUMNS: Final = frozenset({"id", "group", "job"})
_NO_WRAP: Final = frozenset({"window", "host"})  # short, and unreadable when folded


def _table(
    console: Console,
    title: str,
    columns: list[str],
    rows: list[list[str]],
    *,
    stderr: bool = False,
) -> None:
    """Print a table on stdout (stderr: beside a prompt, keeping stdout for --json)."""
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        if column in _ID_COLUMNS:
            table.add_column(column, no_wrap=True, overflow="ignore", min_width=24)
        elif column in _NO_WRAP:
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(stderr=stderr, highlight=False, width=max(console.width, 160)).print(table)


@app.command()
def groups(
    config: ConfigOpt = None,
    profile: ProfileOpt = None,
    org: OrgOpt = None,
    group_name: GroupNameOpt = None,
    base_url: BaseUrlOpt = None,
    insecure: InsecureOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Print every group (project) the API key can see: id and name."""
    settings = _settings(
        config, None, True, org, group_name, base_url, insecure, debug, profile=profile
    )
    console = err_console()

    async def main() -> tuple[list[GroupInfo], list[str]]:
        fleet = Fleet(settings)
        async with fleet.client:
            return await fleet.groups()

    found, failures = guarded(console, debug, main)
    if as_json:
        doc = [{"id": g.id, "name": g.name, "orgId": g.org_id} for g in found]
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        _table(
            console,
            f"{len(found)} groups",
            ["id", "name", "org"],
            [[g.id, g.name, g.org_id or ""] for g in found],
        )
    _report_failures(console, failures)


@app.command("list")
def list_jobs(
    config: ConfigOpt = None,
    profile: ProfileOpt = None,
    group: GroupOpt = None,
    all_groups: AllGroupsOpt = False,
    org: OrgOpt = None,
    group_name: GroupNameOpt = None,
    job: JobOpt = None,
    status: StatusOpt = None,
    since: SinceOpt = None,
    resource_name: ResourceNameOpt = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="One row per host part of each job (host, log type, error)."
        ),
    ] = False,
    base_url: BaseUrlOpt = None,
    insecure: InsecureOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """One table of log-collection jobs across groups, filtered."""
    settings = _settings(
        config, group, all_groups, org, group_name, base_url, insecure, debug, profile=profile
    )
    selected = job_filter(job, status, since, resource_name, debug)
    console = err_console()
    jobs, failures = guarded(console, debug, lambda: _list(settings, selected, verbose=verbose))
    if as_json:
        sys.stdout.write(json.dumps([_job_json(j) for j in jobs]) + "\n")
    elif verbose:
        _parts_table(console, jobs)
    else:
        rows = [
            [
                j.group_id,
                j.id,
                j.raw_status,
                f"{j.resource_type or ''} {j.resource_name or ''}",
                ",".join(j.log_types),
                human_bytes(j.uncompressed_size_bytes or 0),
                j.creation_date or "",
                j.expiration_date or "",
                _window(j.collection_range),
            ]
            for j in jobs
        ]
        columns = ["group", "job", "status", "resource", "log types", "size", "created", "expires"]
        if any(j.collection_range for j in jobs):  # the column only when it says something
            columns.append("window")
        else:
            rows = [row[:-1] for row in rows]
        _table(console, f"{len(jobs)} jobs", columns, rows)
    _report_failures(console, failures)


async def _list(
    settings: Settings, selected: JobFilter, *, verbose: bool = False
) -> tuple[list[Job], list[str]]:
    fleet = Fleet(settings)
    async with fleet.client:
        return await fleet.jobs(selected, verbose=verbose)


def _window(window: CollectionRange | None) -> str:
    """`2026-11-30 08:00 → 10:30` (same day) or both ends in full; UTC."""
    if window is None:
        return ""
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    tail = f"{end:%H:%M}" if start.date() == end.date() else f"{end:%Y-%m-%d %H:%M}"
    return f"{start:%Y-%m-%d %H:%M} → {tail}"


def _parts_table(console: Console, jobs: list[Job]) -> None:
    """`list --verbose`: one row per host part, so a FAILURE job shows which host failed and
    why; a job the server sent without parts gets one row of its own."""
    rows = [
        [j.group_id, j.id, j.raw_status, part.host, part.log_type, part.status, part.error or ""]
        for j in jobs
        for part in j.child_jobs or [ChildJob(host="", log_type="", status="")]
    ]
    columns = ["group", "job", "job status", "host", "log type", "part status", "error"]
    parts = sum(len(j.child_jobs or ()) for j in jobs)
    _table(console, f"{len(jobs)} jobs, {parts} host parts", columns, rows)


def _job_json(job: Job) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "groupId": job.group_id,
        "id": job.id,
        "status": job.raw_status,
        "resourceType": job.resource_type,
        "resourceName": job.resource_name,
        "logTypes": list(job.log_types),
        "uncompressedSizeTotalBytes": job.uncompressed_size_bytes,
        "creationDate": job.creation_date,
        "expirationDate": job.expiration_date,
    }
    if job.collection_range is not None:
        doc |= job.collection_range.to_json()
    if job.child_jobs is not None:
        doc["childJobs"] = [part.to_json() for part in job.child_jobs]
    return doc


def _report_failures(console: Console, failures: list[str]) -> None:
    for line in failures:
        say(console, f"failed: {line}")
    if failures:
        raise typer.Exit(ExitStatus.FAILED)


@app.command()
def collect(
    resource_type: Annotated[
        str, typer.Option("--resource-type", help="cluster, replicaset or process.")
    ],
    resource_name: Annotated[
        str, typer.Option("--resource-name", help="Deployment, replica set or process name.")
    ],
    log_types: Annotated[
        str, typer.Option("--log-types", help="Comma-separated: MONGODB,FTDC,AUTOMATION_AGENT,...")
    ],
    size_per_file: Annotated[
        int,
        typer.Option(
            "--size-per-file", help="Bytes per log file.", callback=bounded("--size-per-file")
        ),
    ] = DEFAULT_SIZE_PER_FILE,
    no_redact: Annotated[
        bool, typer.Option("--no-redact", help="Ask for unredacted logs (default: redacted).")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Poll each job until it leaves IN_PROGRESS.")
    ] = False,
    download: Annotated[
        bool, typer.Option("--download", help="Download each archive as soon as it is ready.")
    ] = False,
    new: Annotated[
        bool,
        typer.Option(
            "--new",
            help="Create fresh jobs even where OUT's manifest has one for the same request.",
        ),
    ] = False,
    from_: FromOpt = None,
    to: ToOpt = None,
    timeout: TimeoutOpt = 3600.0,
    config: ConfigOpt = None,
    profile: ProfileOpt = None,
    out: OutOpt = None,
    group: GroupOpt = None,
    all_groups: AllGroupsOpt = False,
    org: OrgOpt = None,
    group_name: GroupNameOpt = None,
    dry_run: DryRunOpt = False,
    base_url: BaseUrlOpt = None,
    insecure: InsecureOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Create a log-collection job in every selected group; optionally wait and download.

    Run again on the same --out with the same request, it resumes the jobs it created there
    (waits for and downloads them) instead of creating more; --new creates fresh ones."""
    try:
        body = collect_request(
            resource_type=resource_type,
            resource_name=resource_name,
            log_types=log_types.split(","),
            size_per_file=size_per_file,
            redacted=not no_redact,
        )
        window = collection_range(from_, to, datetime.now(UTC))
    except BulkdlError as exc:
        fail_to_start(exc, debug)
    settings = _settings(
        config,
        group,
        all_groups,
        org,
        group_name,
        base_url,
        insecure,
        debug,
        out=out,
        profile=profile,
        need_out_dir=download,  # archives go to --out (or out_dir), never silently to cwd
    )
    options = RunOptions(
        collect=body,
        new=new,
        collect_range=window,
        wait=wait or download,
        download=download,
        timeout_s=timeout,
        dry_run=dry_run,
        wait_report_s=wait_report_interval(os.environ, live_display=err_console().is_terminal),
    )
    run_and_exit(settings, options, quiet=quiet, as_json=as_json, debug=debug)


def _run_actions(
    settings: Settings,
    debug: bool,
    as_json: bool,
    quiet: bool,
    act: Callable[[Fleet], Awaitable[tuple[list[Action], list[str]]]],
    verb: str,
    dry_run: bool,
) -> None:
    console = err_console()
    fleet = Fleet(settings)

    async def main() -> tuple[list[Action], list[str]]:
        async with fleet.client:
            return await act(fleet)

    actions, failures = guarded(console, debug, main)
    interrupted = fleet.interrupted
    errors = [a for a in actions if a.error]
    if as_json:
        doc = [
            {
                "groupId": a.group_id,
                "jobId": a.job_id,
                "action": a.what,
                "done": a.done,
                "error": a.error,
            }
            for a in actions
        ]
        result = {"dryRun": dry_run, "actions": doc, "failures": failures}
        sys.stdout.write(json.dumps({**result, "interrupted": interrupted}) + "\n")
    for a in actions:
        if a.error:
            say(console, f"error: group {a.group_id} job {a.job_id}: {a.error}")
        elif not quiet or interrupted:  # after an interrupt, name every change made
            prefix = "would " if dry_run else ""
            say(console, f"{prefix}{a.what}: group {a.group_id} job {a.job_id}")
    done = sum(1 for a in actions if a.done)
    if interrupted:
        say(
            console,
            f"{verb}: interrupted; {done} done before it (named above), {len(errors)} failed, "
            "the others not sent",
        )
        raise typer.Exit(ExitStatus.INTERRUPTED)
    if not quiet:
        planned = len(actions) - len(errors)
        say(
            console,
            f"{verb}: {planned} planned"
            if dry_run
            else f"{verb}: {done} done, {len(errors)} failed",
        )
    _report_failures(console, failures)
    if errors:
        raise typer.Exit(ExitStatus.FAILED)


@app.command()
def extend(
    days: Annotated[
        int,
        typer.Option(
            "--days", help="New expiration: this many days from now.", callback=bounded("--days")
        ),
    ],
    config: ConfigOpt = None,
    profile: ProfileOpt = None,
    group: GroupOpt = None,
    all_groups: AllGroupsOpt = False,
    org: OrgOpt = None,
    group_name: GroupNameOpt = None,
    job: JobOpt = None,
    status: StatusOpt = None,
    since: SinceOpt = None,
    resource_name: ResourceNameOpt = None,
    dry_run: DryRunOpt = False,
    base_url: BaseUrlOpt = None,
    insecure: InsecureOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Push the expiration of the selected jobs to N days from now (at most 6 months after
    each job's creation, checked before sending)."""
    settings = _settings(
        config, group, all_groups, org, group_name, base_url, insecure, debug, profile=profile
    )
    selected = job_filter(job, status, since, resource_name, debug)
    if days < 1:
        fail_to_start(BulkdlError(f"--days must be at least 1, got {days}"), debug)
    now = datetime.now(UTC)
    _run_actions(
        settings,
        debug,
        as_json,
        quiet,
        lambda fleet: extend_jobs(fleet, selected, days, now, dry_run=dry_run),
        "extend",
        dry_run,
    )


@app.command()
def retry(
    config: ConfigOpt = None,
    profile: ProfileOpt = None,
    group: GroupOpt = None,
    all_groups: AllGroupsOpt = False,
    org: OrgOpt = None,
    group_name: GroupNameOpt = None,
    job: JobOpt = None,
    since: SinceOpt = None,
    resource_name: ResourceNameOpt = None,
    dry_run: DryRunOpt = False,
    base_url: BaseUrlOpt = None,
    insecure: InsecureOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Retry the selected FAILURE jobs (PUT .../retry)."""
    settings = _settings(
        config, group, all_groups, org, group_name, base_url, insecure, debug, profile=profile
    )
    selected = job_filter(job, None, since, resource_name, debug)
    _run_actions(
        settings,
        debug,
        as_json,
        quiet,
        lambda fleet: retry_jobs(fleet, selected, dry_run=dry_run),
        "retry",
        dry_run,
    )


YesOpt = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask (required without a terminal).")
]


@app.command()
def delete(
    config: ConfigOpt = None,
    group: GroupOpt = None,
    all_groups: AllGroupsOpt = False,
    org: OrgOpt = None,
    group_name: GroupNameOpt = None,
    job: JobOpt = None,
    status: StatusOpt = None,
    since: SinceOpt = None,
    resource_name: ResourceNameOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Record each deleted job in OUT/manifest.jsonl."),
    ] = None,
    base_url: BaseUrlOpt = None,
    insecure: InsecureOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
    profile: ProfileOpt = None,
) -> None:
    """Delete the selected jobs, in any state (DELETE .../{job}); shows the plan and asks first
    unless --yes. A job already gone (404) is reported, not an error."""
    settings = _settings(
        config, group, all_groups, org, group_name, base_url, insecure, debug, out, profile
    )
    selected = job_filter(job, status, since, resource_name, debug)
    if not (dry_run or yes or sys.stdin.isatty()):
        fail_to_start(
            ConfigError(
                "delete: no terminal to ask for confirmation, and no --yes",
                hint="check the plan with --dry-run, then pass --yes to delete without asking",
            ),
            debug,
        )
    console = err_console()
    jobs, failures = guarded(console, debug, lambda: _list(settings, selected))
    if jobs and not (dry_run or yes):
        _confirm_delete(console, jobs)
    out_dir = settings.out_dir if out is not None and not dry_run else None
    _run_actions(
        settings,
        debug,
        as_json,
        quiet,
        lambda fleet: _delete(fleet, jobs, failures, out_dir, dry_run=dry_run),
        "delete",
        dry_run,
    )


def _confirm_delete(console: Console, jobs: list[Job]) -> None:
    """Show what would go and ask; anything but yes deletes nothing (exit 1)."""
    _table(
        console,
        f"to delete: {len(jobs)} jobs",
        ["group", "job", "status", "resource", "created"],
        [
            [j.group_id, j.id, j.raw_status, j.resource_name or "", j.creation_date or ""]
            for j in jobs
        ],
        stderr=True,
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
    fleet: Fleet, jobs: list[Job], failures: list[str], out_dir: Path | None, *, dry_run: bool
) -> tuple[list[Action], list[str]]:
    if out_dir is None:
        return await delete_jobs(fleet, jobs, dry_run=dry_run), failures
    out = await anyio.to_thread.run_sync(prepare_out_dir, out_dir)  # locked, links refused
    try:
        async with ManifestWriter(out) as manifest:
            return await delete_jobs(fleet, jobs, dry_run=dry_run, manifest=manifest), failures
    finally:
        out.close()
