"""`bulkdl download` and `bulkdl verify`: pull the archives, and check a finished pull."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from bulkdl.cli.common import guarded, job_filter, load_settings
from bulkdl.cli.failure import err_console, json_errors
from bulkdl.cli.options import (
    ConcurrencyOpt,
    Connection,
    DryRunOpt,
    FormatOpt,
    Groups,
    Jobs,
    JsonOpt,
    OutOpt,
    Output,
    QuietOpt,
    TimeoutOpt,
    VerboseOpt,
    expand_home,
    flag,
    number,
    shared_options,
)
from bulkdl.domain.errors import ExitStatus
from bulkdl.report.output import Format, to_csv

WaitOpt = Annotated[bool, flag("--wait", "Wait for IN_PROGRESS jobs, then download them.")]
ExtractOpt = Annotated[
    bool, flag("--extract", "Unpack each verified archive to OUT/<groupId>/<jobId>/.")
]
VerifyOpt = Annotated[
    bool, flag("--verify", "Read each archive through gzip+tar before keeping it.")
]
StallOpt = Annotated[
    float | None,
    number("--stall-timeout", "SECONDS", "Abort a response that sends nothing for this long."),
]


@shared_options()
def download(
    *,
    conn: Connection,
    out: OutOpt = None,
    concurrency: ConcurrencyOpt = None,
    groups: Groups,
    jobs: Jobs,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 3600.0,
    dry_run: DryRunOpt = False,
    extract: ExtractOpt = False,
    verify: VerifyOpt = False,
    stall_timeout: StallOpt = None,
    verbose: VerboseOpt = False,
    view: Output,
) -> None:
    """Download every downloadable log-collection archive of every group."""
    json_errors(view.is_json)
    settings = load_settings(
        conn,
        groups,
        out_dir=out,
        concurrency=concurrency,
        stall_timeout_s=stall_timeout,
        verify=verify or extract,  # extract only what has been read through to its end
    )
    selected = job_filter(jobs, conn.debug, settings.out_dir)
    from bulkdl.cli.run import run_and_exit
    from bulkdl.run.runner import RunOptions

    options = RunOptions(
        filter=selected,
        wait=wait,
        timeout_s=timeout,
        dry_run=dry_run,
        extract=extract,
    )
    run_and_exit(settings, options, view, debug=conn.debug, verbose=verbose)


def verify(
    out: Annotated[
        Path,
        # Described in the docstring: typer would print a type placeholder next to it.
        typer.Argument(metavar="DIR", hidden=True, callback=expand_home),
    ] = Path("."),
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    output: FormatOpt = None,
) -> None:
    """Check a finished pull in DIR (default: the current folder) against its manifest:
    size, sha256, gzip+tar to the end."""
    as_json = as_json or output is Format.JSON
    json_errors(as_json)
    from bulkdl.cli.failure import say
    from bulkdl.store.verify import Checked, verify_pull

    console = err_console()

    async def main() -> list[Checked]:
        return await verify_pull(out)

    checked = guarded(console, False, main)
    bad = [c for c in checked if c.problem is not None]
    for c in bad:
        say(console, f"bad: {c.path}: {c.problem}")
    if not quiet or bad:
        say(
            console,
            f"verified {len(checked)} archives: {len(checked) - len(bad)} intact, {len(bad)} bad",
        )
    status = ExitStatus.FAILED if bad else ExitStatus.OK
    rows = [
        {"groupId": c.group_id, "jobId": c.job_id, "path": str(c.path), "problem": c.problem}
        for c in (checked if output is Format.CSV else bad)
    ]
    if output is Format.CSV:  # every archive checked, problem empty when intact
        sys.stdout.write(to_csv(rows))
    elif as_json:
        doc = {
            "checked": len(checked),
            "bad": rows,
            # As every command's --json: one line per failure.
            "failures": [f"group {c.group_id} job {c.job_id}: {c.problem}" for c in bad],
            "exitCode": int(status),
        }
        sys.stdout.write(json.dumps(doc) + "\n")
    raise typer.Exit(status)
