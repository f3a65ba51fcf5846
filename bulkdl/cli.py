"""The command line: options -> Settings -> a run -> summary and exit status. No logic of its own.

Expected errors (BulkdlError) print one line and a hint on stderr and exit with their status;
anything else is a bug, shown as one line unless --debug asks for the traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import anyio
import typer
from rich.console import Console

from bulkdl.config import Overrides, Secret, Settings, env_snapshot, load_settings
from bulkdl.errors import BulkdlError, ExitStatus
from bulkdl.models import group_id
from bulkdl.progress import PlainReporter, Reporter, RichReporter
from bulkdl.runner import Run, RunResult
from bulkdl.summary import RunSummary

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals hold the API key
    help="Pull MongoDB Cloud Manager / Ops Manager log-collection archives from a whole fleet.",
)

T = TypeVar("T")

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="TOML config file (default: ./bulkdl.toml when present)."),
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Output directory.")]
ConcurrencyOpt = Annotated[
    int | None, typer.Option("--concurrency", help="Archives streaming at once.")
]
GroupOpt = Annotated[
    list[str] | None,
    typer.Option("--group", help="Group (project) id; repeatable; replaces the config's list."),
]
BaseUrlOpt = Annotated[str | None, typer.Option("--base-url", help="Cloud/Ops Manager URL.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.")]
VerifyOpt = Annotated[
    bool, typer.Option("--verify", help="Read each archive through gzip+tar before keeping it.")
]
StallOpt = Annotated[
    float | None,
    typer.Option("--stall-timeout", help="Abort a response that sends nothing for this long (s)."),
]
InsecureOpt = Annotated[
    bool, typer.Option("--insecure", help="Do not verify TLS certificates (not recommended).")
]


def _err_console() -> Console:
    return Console(stderr=True, highlight=False)


def _reporter(console: Console, quiet: bool) -> Reporter:
    if console.is_terminal:
        return RichReporter(console, quiet=quiet)
    return PlainReporter(console, quiet=quiet)


def _guarded(console: Console, debug: bool, fn: Callable[[], Awaitable[T]]) -> T:
    """Run `fn` on the event loop; turn expected errors into one line and an exit status."""
    try:
        return anyio.run(fn, backend="asyncio")
    except BulkdlError as exc:
        if debug:
            raise
        console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        if exc.hint:
            console.print(f"hint: {exc.hint}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(ExitStatus.CANNOT_START) from None
    except KeyboardInterrupt:
        console.print("interrupted")
        raise typer.Exit(ExitStatus.INTERRUPTED) from None
    except Exception as exc:
        if debug:
            raise
        console.print(
            f"internal error: {exc.__class__.__name__}: {exc} (run with --debug for details)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(ExitStatus.FAILED) from None


def _finish(
    console: Console,
    reporter: Reporter,
    main: Callable[[], Awaitable[RunResult]],
    *,
    quiet: bool,
    as_json: bool,
    debug: bool,
) -> RunSummary:
    """Run `main`, then print the failures, the summary line and (--json) the JSON summary."""
    try:
        result = _guarded(console, debug, main)
    finally:
        reporter.close()
    summary = result.summary
    for line in summary.failures:
        console.print(f"failed: {line}", markup=False, highlight=False, soft_wrap=True)
    if not quiet or summary.exit_status is not ExitStatus.OK:
        console.print(summary.line(), markup=False, highlight=False, soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps(summary.to_json()) + "\n")
    return summary


def _load(config: Path | None, overrides: Overrides, debug: bool) -> Settings:
    try:
        return load_settings(config, env_snapshot(), overrides)
    except BulkdlError as exc:
        if debug:
            raise
        console = _err_console()
        console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        if exc.hint:
            console.print(f"hint: {exc.hint}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(ExitStatus.CANNOT_START) from None


@app.command()
def download(
    config: ConfigOpt = None,
    out: OutOpt = None,
    concurrency: ConcurrencyOpt = None,
    group: GroupOpt = None,
    base_url: BaseUrlOpt = None,
    verify: VerifyOpt = False,
    stall_timeout: StallOpt = None,
    insecure: InsecureOpt = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Download every downloadable log-collection archive of every group."""
    overrides = Overrides(
        out_dir=out,
        concurrency=concurrency,
        groups=tuple(group or ()),
        base_url=base_url,
        insecure=insecure,
        stall_timeout_s=stall_timeout,
        verify=verify,
    )
    settings = _load(config, overrides, debug)
    console = _err_console()
    reporter = _reporter(console, quiet)
    if settings.insecure:
        reporter.warn("--insecure: TLS certificates are not verified")

    async def main() -> RunResult:
        return await Run(settings, reporter).execute(handle_signals=True)

    summary = _finish(console, reporter, main, quiet=quiet, as_json=as_json, debug=debug)
    raise typer.Exit(summary.exit_status)


@app.command("verify")
def verify_command(
    out: Annotated[Path, typer.Argument(help="A folder written by `bulkdl download`.")],
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Check a finished pull against its manifest: size, sha256, gzip+tar to the end."""
    from bulkdl.verify import Checked, verify_pull

    console = _err_console()

    async def main() -> list[Checked]:
        return await verify_pull(out)

    checked = _guarded(console, False, main)
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


@app.command()
def emulate(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 picks a free one).")] = 8089,
    groups: Annotated[int, typer.Option(help="Number of groups in the fleet.")] = 3,
    jobs: Annotated[int, typer.Option(help="Jobs per group (statuses cycle).")] = 6,
    archive_kib: Annotated[int, typer.Option(help="Approximate size of each archive.")] = 256,
) -> None:
    """Serve a Cloud Manager emulator on 127.0.0.1 for rehearsals."""
    from bulkdl.emulator import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, demo_fleet, serve

    fleet = demo_fleet(groups=groups, jobs_per_group=jobs, archive_bytes=archive_kib * 1024)
    console = _err_console()

    async def main() -> None:
        async with serve(fleet, port=port) as emu:
            ids = ", ".join(f'"{g}"' for g in fleet.groups)
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
        _guarded(console, False, main)
    except typer.Exit as stop:
        if stop.exit_code != ExitStatus.INTERRUPTED:
            raise
    console.print("emulator stopped")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Where the demo archives go.")] = Path(
        "bulkdl-demo"
    ),
    concurrency: ConcurrencyOpt = 4,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Start the built-in emulator and download everything from it: the first thing to try."""
    from bulkdl.emulator import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, demo_fleet, serve

    fleet = demo_fleet()
    console = _err_console()
    reporter = _reporter(console, quiet)

    async def main() -> RunResult:
        async with serve(fleet) as emu:
            if not quiet:
                console.print(
                    f"demo: emulator on {emu.base_url} with {len(fleet.groups)} groups;"
                    f" downloading into {out}/",
                    markup=False,
                    highlight=False,
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

    summary = _finish(console, reporter, main, quiet=quiet, as_json=as_json, debug=False)
    if not quiet:
        console.print(
            f"archives: {out}/<groupId>/<jobId>.tar.gz; manifest: {out}/manifest.jsonl",
            markup=False,
            highlight=False,
        )
    raise typer.Exit(summary.exit_status)
