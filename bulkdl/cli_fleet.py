"""Fleet commands: `groups`, `list`, `collect`, `extend`, `retry` (registered on the app)."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.console import Console

from bulkdl.cli_common import (
    API_EPILOG,
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
    OutputOpt,
    QuietOpt,
    ResourceNameOpt,
    SinceOpt,
    StatusOpt,
    TimeoutOpt,
    VerboseOpt,
    app,
    err_console,
    fail_to_start,
    guarded,
    job_filter,
    json_errors,
    load,
    output_format,
    run_and_exit,
    say,
)
from bulkdl.config import Overrides, Settings
from bulkdl.errors import BulkdlError, ExitStatus
from bulkdl.fleet import Action, Fleet, extend_jobs, retry_jobs
from bulkdl.models import GroupInfo, Job
from bulkdl.output import Column, Format, emit, field
from bulkdl.runner import RunOptions
from bulkdl.selection import DEFAULT_SIZE_PER_FILE, collect_request
from bulkdl.summary import human_bytes


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
    return load(config, overrides, debug, need_out_dir=out is not None)


_GROUP_COLUMNS: Final = (
    Column("id", field("id"), keep=True),
    Column("name", field("name"), priority=2, shrink_to=16),
    Column("org", field("orgId"), priority=1),
)

_JOB_COLUMNS: Final = (
    Column("group", field("groupId"), keep=True),
    Column("group name", field("groupName"), priority=6, shrink_to=12),
    Column("job", field("id"), keep=True),
    Column("status", field("status"), keep=True),
    Column(
        "resource",
        lambda r: f"{r['resourceType'] or ''} {r['resourceName'] or ''}".strip(),
        priority=4,
        shrink_to=14,
    ),
    Column("log types", lambda r: ",".join(r["logTypes"]), priority=0, shrink_to=12),
    Column(
        "uncompressed",
        lambda r: human_bytes(r["uncompressedSizeTotalBytes"] or 0),
        priority=5,
        right=True,
    ),
    Column("created", field("creationDate"), priority=3),
    Column("expires", field("expirationDate"), priority=1),
)


@app.command(epilog=API_EPILOG)
def groups(
    config: ConfigOpt = None,
    org: OrgOpt = None,
    group_name: GroupNameOpt = None,
    base_url: BaseUrlOpt = None,
    insecure: InsecureOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Print every group (project) the API key can see: id, name, organization."""
    fmt = output_format(output, as_json)
    json_errors(fmt is Format.JSON)
    settings = _settings(config, None, True, org, group_name, base_url, insecure, debug)
    console = err_console()

    async def main() -> list[GroupInfo]:
        fleet = Fleet(settings)
        async with fleet.client:
            return await fleet.groups()

    found = guarded(console, debug, main)
    records = [{"id": g.id, "name": g.name, "orgId": g.org_id} for g in found]
    emit(
        _GROUP_COLUMNS,
        records,
        fmt,
        title=None if quiet else f"{len(found)} groups",
        err=console,
    )


@app.command("list", epilog=API_EPILOG)
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
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """One table of log-collection jobs across groups, filtered. The size is that of the
    uncompressed logs (archives are smaller)."""
    fmt = output_format(output, as_json)
    json_errors(fmt is Format.JSON)
    settings = _settings(config, group, all_groups, org, group_name, base_url, insecure, debug)
    selected = job_filter(job, status, since, resource_name, debug)
    console = err_console()

    async def main() -> tuple[list[Job], list[str], dict[str, str]]:
        fleet = Fleet(settings)
        async with fleet.client:
            # Names are known when groups are discovered (one more listing, of groups).
            found = await fleet.groups() if settings.discover else []
            names: dict[str, str] = {g.id: g.name for g in found}
            jobs, failures = await fleet.jobs(selected)
            return jobs, failures, names

    jobs, failures, names = guarded(console, debug, main)
    emit(
        _JOB_COLUMNS,
        [_job_json(j, names.get(j.group_id)) for j in jobs],
        fmt,
        title=None
        if quiet
        else f"{len(jobs)} jobs (uncompressed: the size of the logs, not of the archive)",
        err=console,
    )
    _report_failures(console, failures)


def _job_json(job: Job, group_name: str | None) -> dict[str, Any]:
    return {
        "groupId": job.group_id,
        "groupName": group_name,
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


@app.command(epilog=API_EPILOG)
def collect(
    resource_type: Annotated[
        str,
        typer.Option("--resource-type", metavar="TYPE", help="cluster, replicaset or process."),
    ],
    resource_name: Annotated[
        str,
        typer.Option(
            "--resource-name", metavar="NAME", help="Deployment, replica set or process name."
        ),
    ],
    log_types: Annotated[
        str,
        typer.Option(
            "--log-types",
            metavar="TYPES",
            help="Comma-separated: MONGODB,FTDC,AUTOMATION_AGENT,...",
        ),
    ],
    size_per_file: Annotated[
        int, typer.Option("--size-per-file", metavar="BYTES", help="Bytes per log file.")
    ] = DEFAULT_SIZE_PER_FILE,
    no_redact: Annotated[
        bool,
        typer.Option(
            "--no-redact", metavar="", help="Ask for unredacted logs (default: redacted)."
        ),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", metavar="", help="Poll each job until it leaves IN_PROGRESS."),
    ] = False,
    download: Annotated[
        bool,
        typer.Option(
            "--download", metavar="", help="Download each archive as soon as it is ready."
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
    verbose: VerboseOpt = False,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Create a log-collection job in every selected group; optionally wait and download.

    With --json the summary lists the created jobs (createdJobs: groupId, jobId)."""
    json_errors(output_format(output, as_json) is Format.JSON)
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
        config, group, all_groups, org, group_name, base_url, insecure, debug, out=out
    )
    options = RunOptions(
        collect=body, wait=wait or download, download=download, timeout_s=timeout, dry_run=dry_run
    )
    run_and_exit(
        settings,
        options,
        quiet=quiet,
        as_json=as_json,
        debug=debug,
        output=output,
        verbose=verbose,
    )


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

    async def main() -> tuple[list[Action], list[str]]:
        fleet = Fleet(settings)
        async with fleet.client:
            return await act(fleet)

    actions, failures = guarded(console, debug, main)
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
        sys.stdout.write(
            json.dumps({"dryRun": dry_run, "actions": doc, "failures": failures}) + "\n"
        )
    for a in actions:
        if a.error:
            say(console, f"error: group {a.group_id} job {a.job_id}: {a.error}")
        elif not quiet:
            prefix = "would " if dry_run else ""
            say(console, f"{prefix}{a.what}: group {a.group_id} job {a.job_id}")
    if not quiet:
        done = sum(1 for a in actions if a.done)
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


@app.command(epilog=API_EPILOG)
def extend(
    days: Annotated[
        int,
        typer.Option("--days", metavar="N", help="New expiration: this many days from now."),
    ],
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
    json_errors(as_json)
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


@app.command(epilog=API_EPILOG)
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
    json_errors(as_json)
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
