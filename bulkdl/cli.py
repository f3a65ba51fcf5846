"""The command line: options -> Settings -> a run -> summary and exit status. No logic of its own.

`download`, `verify`, `demo` and `emulate` live here; the fleet commands (`groups`, `list`,
`collect`, `extend`, `retry`, `delete`) in cli_fleet, registered on the same app.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import anyio
import typer

from bulkdl.cli_common import (
    API_EPILOG,
    AllGroupsOpt,
    BaseUrlOpt,
    ConcurrencyOpt,
    ConfigOpt,
    DebugOpt,
    DryRunOpt,
    ExtractOpt,
    GroupNameOpt,
    GroupOpt,
    InsecureOpt,
    JobOpt,
    JsonOpt,
    OrgOpt,
    OutOpt,
    OutputOpt,
    ProfileOpt,
    ProxyOpt,
    QuietOpt,
    ResourceNameOpt,
    SinceOpt,
    StallOpt,
    StatusOpt,
    TimeoutOpt,
    VerboseOpt,
    VerifyOpt,
    WaitOpt,
    app,
    bounded,
    err_console,
    fail_to_start,
    finish,
    guarded,
    job_filter,
    json_errors,
    load,
    make_reporter,
    output_format,
    run_and_exit,
    say,
)
from bulkdl.cli_config import config_app
from bulkdl.cli_fleet import collect, delete, extend, groups, list_jobs, retry
from bulkdl.config import Overrides, Secret, Settings
from bulkdl.errors import BulkdlError, ConfigError, ExitStatus
from bulkdl.models import group_id
from bulkdl.output import Format
from bulkdl.runner import Run, RunOptions, RunResult
from bulkdl.waits import wait_report_interval

app.add_typer(config_app, name="config")


@app.command(epilog=API_EPILOG)
def download(
    config: ConfigOpt = None,
    profile: ProfileOpt = None,
    out: OutOpt = None,
    concurrency: ConcurrencyOpt = None,
    group: GroupOpt = None,
    all_groups: AllGroupsOpt = False,
    org: OrgOpt = None,
    group_name: GroupNameOpt = None,
    job: JobOpt = None,
    status: StatusOpt = None,
    since: SinceOpt = None,
    resource_name: ResourceNameOpt = None,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = 3600.0,
    dry_run: DryRunOpt = False,
    extract: ExtractOpt = False,
    base_url: BaseUrlOpt = None,
    verify: VerifyOpt = False,
    stall_timeout: StallOpt = None,
    proxy: ProxyOpt = None,
    insecure: InsecureOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Download every downloadable log-collection archive of every group."""
    json_errors(output_format(output, as_json) is Format.JSON)
    overrides = Overrides(
        out_dir=out,
        concurrency=concurrency,
        groups=tuple(group or ()),
        base_url=base_url,
        insecure=insecure,
        stall_timeout_s=stall_timeout,
        verify=verify or extract,  # extract only what has been read through to its end
        all_groups=all_groups,
        org=org,
        group_name=group_name,
        profile=profile,
        proxy=proxy,
    )
    settings = load(config, overrides, debug)
    options = RunOptions(
        filter=job_filter(job, status, since, resource_name, debug),
        wait=wait,
        timeout_s=timeout,
        dry_run=dry_run,
        extract=extract,
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


@app.command("verify")
def verify_command(
    out: Annotated[
        Path,
        # Described in the docstring: typer would print a type placeholder next to it.
        typer.Argument(metavar="DIR", hidden=True),
    ] = Path("."),
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Check a finished pull in DIR (default: the current folder) against its manifest:
    size, sha256, gzip+tar to the end."""
    json_errors(as_json)
    from bulkdl.verify import Checked, verify_pull

    console = err_console()

    async def main() -> list[Checked]:
        return await verify_pull(out)

    checked = guarded(console, False, main)
    bad = [c for c in checked if c.problem is not None]
    for c in bad:
        console.print(f"bad: {c.path}: {c.problem}", markup=False, highlight=False, soft_wrap=True)
    if not quiet or bad:
        console.print(
            f"verified {len(checked)} archives: {len(checked) - len(bad)} intact, {len(bad)} bad",
            markup=False,
            highlight=False,
        )
    if as_json:
        doc = {
            "checked": len(checked),
            "bad": [
                {
                    "groupId": c.group_id,
                    "jobId": c.job_id,
                    "path": str(c.path),
                    "problem": c.problem,
                }
                for c in bad
            ],
        }
        sys.stdout.write(json.dumps(doc) + "\n")
    raise typer.Exit(ExitStatus.FAILED if bad else ExitStatus.OK)


@asynccontextmanager
async def _listening(port: int) -> AsyncIterator[None]:
    """Binding the port is what `emulate` fails at in practice: say which port and what to do."""
    try:
        yield
    except OSError as exc:
        raise ConfigError(
            f"emulate: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}",
            hint="another program holds that port: choose another with --port (0 picks a free one)",
        ) from None


@app.command()
def emulate(
    port: Annotated[
        int,
        typer.Option(
            metavar="PORT",
            help="Port on 127.0.0.1 (0 picks a free one).",
            callback=bounded("--port"),
        ),
    ] = 8089,
    groups: Annotated[
        int,
        typer.Option(
            metavar="N", help="Number of groups in the fleet.", callback=bounded("--groups")
        ),
    ] = 3,
    jobs: Annotated[
        int,
        typer.Option(
            metavar="N", help="Jobs per group (statuses cycle).", callback=bounded("--jobs")
        ),
    ] = 6,
    archive_kib: Annotated[
        int,
        typer.Option(
            metavar="KIB",
            help="Approximate size of each archive, in KiB.",
            callback=bounded("--archive-kib"),
        ),
    ] = 256,
    collect_seconds: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help="How long a job created by `bulkdl collect` takes to finish.",
            callback=bounded("--collect-seconds"),
        ),
    ] = 2.0,
    rate_limit: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Enforce this many requests per minute per group (429).",
            callback=bounded("--rate-limit"),
        ),
    ] = None,
    flaky: Annotated[
        str | None,
        typer.Option(
            metavar="FAULTS",
            help="Faults for the first attempts of every job's download, e.g. "
            "'503,reset:20000' (also 429, stall:N:S, chunked:N, corrupt-gzip, ...).",
        ),
    ] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Serve a Cloud Manager emulator on 127.0.0.1 for rehearsals.

    --json prints where it listens and its groups as one JSON line on stdout, once it is
    ready (the demo key pair is public: it works on this emulator only)."""
    json_errors(as_json)
    from bulkdl.emulator import (
        DEMO_PRIVATE_KEY,
        DEMO_PUBLIC_KEY,
        demo_fleet,
        parse_fault_specs,
        serve,
    )

    fleet = demo_fleet(groups=groups, jobs_per_group=jobs, archive_bytes=archive_kib * 1024)
    console = err_console()
    try:
        faults = parse_fault_specs(flaky) if flaky else []
    except ValueError as exc:
        fail_to_start(BulkdlError(f"--flaky: {exc}"), debug)

    async def main() -> None:
        async with (
            _listening(port),
            serve(fleet, port=port, collect_duration_s=collect_seconds) as emu,
        ):
            if rate_limit is not None:
                emu.state.set_rate_limit(rate_limit)
            for job in fleet.all_jobs():
                if faults:
                    emu.state.add_download_faults(job.id, faults)
            if as_json:
                doc = {
                    "baseUrl": emu.base_url,
                    "publicKey": DEMO_PUBLIC_KEY,
                    "privateKey": DEMO_PRIVATE_KEY,
                    "groups": list(fleet.groups),
                }
                sys.stdout.write(json.dumps(doc) + "\n")
                sys.stdout.flush()
            ids = ", ".join(f'"{g}"' for g in fleet.groups)
            if not quiet:
                console.print(
                    f"Cloud Manager emulator on {emu.base_url} (Ctrl-C stops it)\n"
                    f"  export BULKDL_PUBLIC_KEY={DEMO_PUBLIC_KEY} "
                    f"BULKDL_PRIVATE_KEY={DEMO_PRIVATE_KEY}\n"
                    f"  bulkdl.toml:\n"
                    f'    base_url = "{emu.base_url}"\n'
                    f"    groups = [{ids}]\n"
                    f'    out_dir = "./bulkdl-out"',
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
            await anyio.sleep_forever()

    try:
        guarded(console, debug, main)
    except typer.Exit as stop:
        if stop.exit_code != ExitStatus.INTERRUPTED:
            raise
    if not quiet:
        say(console, "emulator stopped")


@app.command()
def demo(
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Where the demo archives go.")
    ] = Path("bulkdl-demo"),
    concurrency: ConcurrencyOpt = 4,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Start the built-in emulator and download everything from it: the first thing to try."""
    json_errors(as_json)
    from bulkdl.emulator import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, demo_fleet, serve

    fleet = demo_fleet()
    console = err_console()
    reporter = make_reporter(console, quiet)

    async def main() -> RunResult:
        async with serve(fleet) as emu:
            if not quiet:
                say(
                    console,
                    f"demo: emulator on {emu.base_url} with {len(fleet.groups)} groups;"
                    f" downloading into {out}/",
                )
            settings = Settings(
                base_url=emu.base_url,
                public_key=DEMO_PUBLIC_KEY,
                private_key=Secret(DEMO_PRIVATE_KEY),
                groups=tuple(group_id(g) for g in fleet.groups),
                out_dir=out,
                concurrency=concurrency or 4,
            )
            return await Run(settings, reporter).execute(handle_signals=True)

    summary = finish(console, reporter, main, quiet=quiet, as_json=as_json, debug=False)
    if not quiet:
        say(console, f"archives: {out}/<groupId>/<jobId>.tar.gz; manifest: {out}/manifest.jsonl")
    raise typer.Exit(summary.exit_status)


# The fleet commands register themselves on the same app when imported.
__all__ = ["app", "collect", "delete", "extend", "groups", "list_jobs", "retry"]
