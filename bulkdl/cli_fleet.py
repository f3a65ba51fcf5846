"""Fleet commands: `groups`, `list`, `collect`, `extend`, `retry` (registered on the app)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

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
    QuietOpt,
    ResourceNameOpt,
    SinceOpt,
    StatusOpt,
    TimeoutOpt,
    app,
    err_console,
    fail_to_start,
    guarded,
    job_filter,
    load,
    run_and_exit,
    say,
)
from bulkdl.config import Overrides, Settings
from bulkdl.errors import BulkdlError, ExitStatus
from bulkdl.fleet import Action, Fleet, extend_jobs, retry_jobs
from bulkdl.models import GroupInfo, Job
from bulkdl.runner import RunOptions
from bulkdl.selection import DEFAULT_SIZE_PER_FILE, collect_request
from bulkdl.summary import human_bytes
from bulkdl.waits import wait_report_interval


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
    *,
    need_out_dir: bool = False,
) -> Settings:
    overrides = Overrides(
        out_dir=out,
        groups=tuple(group or ()),
        all_groups=all_groups,
        org=org,
        group_name=group_name,
        base_url=base_url,
        insecure=insecure,
    )
    return load(config, overrides, debug, need_out_dir=need_out_dir)


def _table(console: Console, title: str, columns: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(highlight=False, width=max(console.width, 160)).print(table)


@app.command()
def groups(
    config: ConfigOpt = None,
    org: OrgOpt = None,
    group_name: GroupNameOpt = None,
    base_url: BaseUrlOpt = None,
    insecure: InsecureOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Print every group (project) the API key can see: id and name."""
    settings = _settings(config, None, True, org, group_name, base_url, insecure, debug)
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
    group: GroupOpt = None,
    all_groups: AllGroupsOpt = False,
    org: OrgOpt = None,
    group_name: GroupNameOpt = None,
    job: JobOpt = None,
    status: StatusOpt = None,
    since: SinceOpt = None,
    resource_name: ResourceNameOpt = None,
    base_url: BaseUrlOpt = None,
    insecure: InsecureOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """One table of log-collection jobs across groups, filtered."""
    settings = _settings(config, group, all_groups, org, group_name, base_url, insecure, debug)
    selected = job_filter(job, status, since, resource_name, debug)
    console = err_console()

    async def main() -> tuple[list[Job], list[str]]:
        fleet = Fleet(settings)
        async with fleet.client:
            return await fleet.jobs(selected)

    jobs, failures = guarded(console, debug, main)
    if as_json:
        sys.stdout.write(json.dumps([_job_json(j) for j in jobs]) + "\n")
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
            ]
            for j in jobs
        ]
        _table(
            console,
            f"{len(jobs)} jobs",
            ["group", "job", "status", "resource", "log types", "size", "created", "expires"],
            rows,
        )
    _report_failures(console, failures)


def _job_json(job: Job) -> dict[str, Any]:
    return {
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
        int, typer.Option("--size-per-file", help="Bytes per log file.")
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
    timeout: TimeoutOpt = 3600.0,
    config: ConfigOpt = None,
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
        need_out_dir=download,  # archives go to --out (or out_dir), never silently to cwd
    )
    options = RunOptions(
        collect=body,
        new=new,
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
    days: Annotated[int, typer.Option("--days", help="New expiration: this many days from now.")],
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
    base_url: BaseUrlOpt = None,
    insecure: InsecureOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Push the expiration of the selected jobs to N days from now (at most 6 months after
    each job's creation, checked before sending)."""
    settings = _settings(config, group, all_groups, org, group_name, base_url, insecure, debug)
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
    settings = _settings(config, group, all_groups, org, group_name, base_url, insecure, debug)
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
