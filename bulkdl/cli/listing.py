"""`bulkdl groups` and `bulkdl list`: what the API key can see, as tables or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bulkdl.cli.common import guarded, job_filter, load_settings
from bulkdl.cli.failure import err_console, json_errors, say
from bulkdl.cli.options import Connection, Groups, Jobs, Output, shared_options
from bulkdl.domain.errors import ExitStatus

if TYPE_CHECKING:
    from rich.console import Console

    from bulkdl.domain.models import GroupInfo, Job


@shared_options(omit=("group", "all_groups"))
def groups(*, conn: Connection, groups: Groups, view: Output) -> None:
    """Print every group (project) the API key can see: id, name, organization."""
    json_errors(view.is_json)
    settings = load_settings(conn, groups._replace(all_groups=True), need_out_dir=False)
    from bulkdl.cloud.session import ApiSession
    from bulkdl.report.output import emit
    from bulkdl.report.tables import GROUP_COLUMNS

    console = err_console()

    async def main() -> tuple[list[GroupInfo], list[str]]:
        api = ApiSession(settings)
        async with api.client:
            return await api.visible_groups()

    found, failures = guarded(console, conn.debug, main)
    records = [{"id": g.id, "name": g.name, "orgId": g.org_id} for g in found]
    title = None if view.quiet else f"{len(found)} groups"
    emit(GROUP_COLUMNS, records, view.format, title=title, err=console)
    report_failures(console, failures)


@shared_options()
def list_jobs(
    *,
    conn: Connection,
    groups: Groups,
    jobs: Jobs,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="One row per host part of each job (host, log type, error)."
        ),
    ] = False,
    view: Output,
) -> None:
    """One table of log-collection jobs across groups, filtered. The size is that of the
    uncompressed logs (archives are smaller); --verbose: one row per host part."""
    json_errors(view.is_json)
    settings = load_settings(conn, groups, need_out_dir=False)
    selected = job_filter(jobs, conn.debug, settings.out_dir)
    from bulkdl.cloud.session import ApiSession
    from bulkdl.report.output import Format, emit
    from bulkdl.report.tables import JOB_COLUMNS, PART_COLUMNS, job_json, part_rows
    from bulkdl.run.fleet_actions import list_jobs as select_jobs

    console = err_console()

    async def main() -> tuple[list[Job], list[str], dict[str, str]]:
        api = ApiSession(settings)
        async with api.client:
            # Names are known when groups are discovered (one more listing, of groups).
            found = (await api.visible_groups())[0] if settings.discover else []
            names: dict[str, str] = {g.id: g.name for g in found}
            listed, failures = await select_jobs(api, selected, verbose=verbose)
            return listed, failures, names

    listed, failures, names = guarded(console, conn.debug, main)
    fmt = view.format
    if verbose and fmt is not Format.JSON:  # JSON: each job carries its childJobs
        parts = sum(len(j.child_jobs or ()) for j in listed)
        title = f"{len(listed)} jobs, {parts} host parts"
        emit(PART_COLUMNS, part_rows(listed), fmt, title=_unless(view.quiet, title), err=console)
    else:
        windows = any(j.collection_range for j in listed)  # the column when it says something
        title = f"{len(listed)} jobs (uncompressed: the size of the logs, not of the archive)"
        emit(
            JOB_COLUMNS if windows else JOB_COLUMNS[:-1],
            [job_json(j, names.get(j.group_id)) for j in listed],
            fmt,
            title=_unless(view.quiet, title),
            err=console,
        )
    report_failures(console, failures)


def _unless(quiet: bool, title: str) -> str | None:
    return None if quiet else title


def report_failures(console: Console, failures: list[str]) -> None:
    """Name each group that could not be listed; exit 1 if there was one."""
    for line in failures:
        say(console, f"failed: {line}")
    if failures:
        raise typer.Exit(ExitStatus.FAILED)
