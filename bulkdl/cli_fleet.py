"""Fleet commands: `groups`, `list`, `collect`, `extend`, `retry`, `delete` (registered on the
app)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

import anyio
import typer
from rich.console import Console

from bulkdl.actions import Action, Actions, delete_jobs, extend_jobs, retry_jobs
from bulkdl.actions import list_jobs as select_jobs
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
    ProfileOpt,
    QuietOpt,
    ResourceNameOpt,
    SinceOpt,
    StatusOpt,
    TimeoutOpt,
    VerboseOpt,
    app,
    bounded,
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
from bulkdl.errors import BulkdlError, ConfigError, ExitStatus
from bulkdl.manifest import ManifestWriter
from bulkdl.models import ChildJob, GroupInfo, Job
from bulkdl.output import Column, Format, emit, field
from bulkdl.runner import RunOptions, prepare_out_dir
from bulkdl.selection import (
    DEFAULT_SIZE_PER_FILE,
    JobFilter,
    collect_request,
    collection_range,
)
from bulkdl.session import ApiSession
from bulkdl.summary import human_bytes
from bulkdl.waits import wait_report_interval

FromOpt = Annotated[
    str | None,
    typer.Option(
        "--from",
        metavar="WHEN",
        help="Collect only logs from this instant (ISO 8601, or 2h / 90m ago); needs --to.",
    ),
]
ToOpt = Annotated[
    str | None,
    typer.Option(
        "--to", metavar="WHEN", help="Collect only logs up to this instant (ISO 8601, 30m, now)."
    ),
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
    Column("window", lambda r: _window_cell(r), priority=2),
)

# `list --verbose`: one row per host part, so a FAILURE job shows which host failed and why.
_PART_COLUMNS: Final = (
    Column("group", field("groupId"), keep=True),
    Column("job", field("jobId"), keep=True),
    Column("job status", field("jobStatus"), priority=3),
    Column("host", field("hostName"), keep=True),
    Column("log type", field("logCollectionType"), priority=2),
    Column("part status", field("status"), keep=True),
    Column("error", field("errorMessage"), priority=1, shrink_to=24),
)

_DELETE_COLUMNS: Final = (
    Column("group", field("groupId"), keep=True),
    Column("job", field("id"), keep=True),
    Column("status", field("status"), keep=True),
    Column("resource", lambda r: r["resourceName"] or "", priority=2, shrink_to=14),
    Column("created", field("creationDate"), priority=1),
)


@app.command(epilog=API_EPILOG)
def groups(
    config: ConfigOpt = None,
    profile: ProfileOpt = None,
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
    settings = _settings(
        config, None, True, org, group_name, base_url, insecure, debug, profile=profile
    )
    console = err_console()

    async def main() -> tuple[list[GroupInfo], list[str]]:
        api = ApiSession(settings)
        async with api.client:
            return await api.visible_groups()

    found, failures = guarded(console, debug, main)
    records = [{"id": g.id, "name": g.name, "orgId": g.org_id} for g in found]
    emit(
        _GROUP_COLUMNS,
        records,
        fmt,
        title=None if quiet else f"{len(found)} groups",
        err=console,
    )
    _report_failures(console, failures)


@app.command("list", epilog=API_EPILOG)
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
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """One table of log-collection jobs across groups, filtered. The size is that of the
    uncompressed logs (archives are smaller); --verbose: one row per host part."""
    fmt = output_format(output, as_json)
    json_errors(fmt is Format.JSON)
    settings = _settings(
        config, group, all_groups, org, group_name, base_url, insecure, debug, profile=profile
    )
    selected = job_filter(job, status, since, resource_name, debug)
    console = err_console()

    async def main() -> tuple[list[Job], list[str], dict[str, str]]:
        api = ApiSession(settings)
        async with api.client:
            # Names are known when groups are discovered (one more listing, of groups).
            found = (await api.visible_groups())[0] if settings.discover else []
            names: dict[str, str] = {g.id: g.name for g in found}
            jobs, failures = await select_jobs(api, selected, verbose=verbose)
            return jobs, failures, names

    jobs, failures, names = guarded(console, debug, main)
    if verbose and fmt is not Format.JSON:  # JSON: each job carries its childJobs
        parts = sum(len(j.child_jobs or ()) for j in jobs)
        emit(
            _PART_COLUMNS,
            _part_rows(jobs),
            fmt,
            title=None if quiet else f"{len(jobs)} jobs, {parts} host parts",
            err=console,
        )
    else:
        windows = any(j.collection_range for j in jobs)  # the column only when it says something
        emit(
            _JOB_COLUMNS if windows else _JOB_COLUMNS[:-1],
            [_job_json(j, names.get(j.group_id)) for j in jobs],
            fmt,
            title=None
            if quiet
            else f"{len(jobs)} jobs (uncompressed: the size of the logs, not of the archive)",
            err=console,
        )
    _report_failures(console, failures)


async def _list(settings: Settings, selected: JobFilter) -> tuple[list[Job], list[str]]:
    api = ApiSession(settings)
    async with api.client:
        return await select_jobs(api, selected)


def _window_cell(record: Mapping[str, Any]) -> str:
    """`2026-11-30 08:00 → 10:30` (same day) or both ends in full, UTC; empty without one."""
    raw = record.get("logCollectionFromDate"), record.get("logCollectionToDate")
    if not all(raw):
        return ""
    start, end = (datetime.fromisoformat(str(value)).astimezone(UTC) for value in raw)
    tail = f"{end:%H:%M}" if start.date() == end.date() else f"{end:%Y-%m-%d %H:%M}"
    return f"{start:%Y-%m-%d %H:%M} → {tail}"


def _part_rows(jobs: list[Job]) -> list[dict[str, Any]]:
    """One record per host part; a job the server sent without parts gets one of its own."""
    return [
        {"groupId": j.group_id, "jobId": j.id, "jobStatus": j.raw_status} | part.to_json()
        for j in jobs
        for part in j.child_jobs or [ChildJob(host="", log_type="", status="")]
    ]


def _job_json(job: Job, group_name: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
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
        int,
        typer.Option(
            "--size-per-file",
            metavar="BYTES",
            help="Bytes per log file.",
            callback=bounded("--size-per-file"),
        ),
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
    verbose: VerboseOpt = False,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Create a log-collection job in every selected group; optionally wait and download.

    Run again on the same --out with the same request, it resumes the jobs it created there
    (waits for and downloads them) instead of creating more; --new creates fresh ones. With
    --json the summary lists the created jobs (createdJobs: groupId, jobId)."""
    json_errors(output_format(output, as_json) is Format.JSON)
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
    act: Callable[[Actions], Awaitable[tuple[list[Action], list[str]]]],
    verb: str,
    dry_run: bool,
) -> None:
    console = err_console()
    fleet = Actions(settings)

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


@app.command(epilog=API_EPILOG)
def extend(
    days: Annotated[
        int,
        typer.Option(
            "--days",
            metavar="N",
            help="New expiration: this many days from now.",
            callback=bounded("--days"),
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
    json_errors(as_json)
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


@app.command(epilog=API_EPILOG)
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
    json_errors(as_json)
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
    emit(
        _DELETE_COLUMNS,
        [_job_json(j, None) for j in jobs],
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
    fleet: Actions, jobs: list[Job], failures: list[str], out_dir: Path | None, *, dry_run: bool
) -> tuple[list[Action], list[str]]:
    if out_dir is None:
        return await delete_jobs(fleet, jobs, dry_run=dry_run), failures
    out = await anyio.to_thread.run_sync(prepare_out_dir, out_dir)  # locked, links refused
    try:
        async with ManifestWriter(out) as manifest:
            return await delete_jobs(fleet, jobs, dry_run=dry_run, manifest=manifest), failures
    finally:
        out.close()
