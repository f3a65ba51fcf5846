"""What every command shares: the typer app, option types, consoles and error handling.

Expected errors (BulkdlError) print one line and a hint on stderr and exit with their status;
anything else is a bug, shown as one line unless --debug asks for the traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import anyio
import typer
from rich.console import Console

from bulkdl.config import Overrides, Settings, env_snapshot, load_settings
from bulkdl.entry import install_signal_handlers
from bulkdl.errors import BulkdlError, ConfigError, ExitStatus
from bulkdl.models import job_id
from bulkdl.progress import PlainReporter, Reporter, RichReporter
from bulkdl.runner import Run, RunOptions, RunResult
from bulkdl.selection import JobFilter, parse_since, parse_statuses
from bulkdl.settings_spec import flag_spec
from bulkdl.summary import RunSummary, human_bytes

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals hold the API key
    help="Pull MongoDB Cloud Manager / Ops Manager log-collection archives from a whole fleet.",
)

T = TypeVar("T")


def bounded(flag: str) -> Callable[[float | None], float | None]:
    """A typer callback refusing NaN, infinities and values outside the flag's declared bounds.

    It runs while the command line is parsed, so nothing has been sent yet; the error is one
    line naming the flag and the value (click's range checks let NaN through).
    """

    def check(value: float | None) -> float | None:
        if value is not None:
            why = flag_spec(flag).check_number(value)
            if why:
                fail_to_start(ConfigError(f"{flag} {why}, got {value}"), False)
        return value

    return check


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="TOML config file (default: ./bulkdl.toml when present); "
        "`bulkdl config example` prints one.",
    ),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        metavar="NAME",
        help="Use this profile of mongocli's or atlas's config file (~/.config/mongocli/"
        "config.toml, ~/.config/atlascli/config.toml, or $BULKDL_PROFILE_FILE). "
        "Env: BULKDL_PROFILE.",
    ),
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Output directory.")]
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option(
        "--concurrency", help="Archives streaming at once.", callback=bounded("--concurrency")
    ),
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
    typer.Option(
        "--stall-timeout",
        help="Abort a response that sends nothing for this long (s).",
        callback=bounded("--stall-timeout"),
    ),
]
ProxyOpt = Annotated[
    str | None,
    typer.Option("--proxy", help="Proxy URL (default: the proxy key, then HTTPS_PROXY etc.)."),
]
InsecureOpt = Annotated[
    bool, typer.Option("--insecure", help="Do not verify TLS certificates (not recommended).")
]
AllGroupsOpt = Annotated[
    bool, typer.Option("--all-groups", help="Every group (project) the API key can see.")
]
OrgOpt = Annotated[
    str | None,
    typer.Option("--org", help="Only the groups of this organization (implies discovery)."),
]
GroupNameOpt = Annotated[
    str | None,
    typer.Option("--group-name", help="Only discovered groups whose name matches this glob."),
]
JobOpt = Annotated[list[str] | None, typer.Option("--job", help="Only this job id; repeatable.")]
StatusOpt = Annotated[
    list[str] | None,
    typer.Option("--status", help="Only jobs in these statuses (comma-separated or repeated)."),
]
SinceOpt = Annotated[
    str | None,
    typer.Option("--since", help="Only jobs created since: an ISO date/time, or 90m, 12h, 7d."),
]
ResourceNameOpt = Annotated[
    str | None, typer.Option("--resource-name", help="Only jobs for this resource (a glob).")
]
WaitOpt = Annotated[
    bool, typer.Option("--wait", help="Wait for IN_PROGRESS jobs, then download them.")
]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout",
        help="With --wait: give up on a job after this many s.",
        callback=bounded("--timeout"),
    ),
]
ExtractOpt = Annotated[
    bool,
    typer.Option("--extract", help="Unpack each verified archive to OUT/<groupId>/<jobId>/."),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print the plan; send no change, download nothing.")
]


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def make_reporter(console: Console, quiet: bool) -> Reporter:
    if console.is_terminal:
        return RichReporter(console, quiet=quiet)
    return PlainReporter(console, quiet=quiet)


def guarded(console: Console, debug: bool, fn: Callable[[], Awaitable[T]]) -> T:
    """Run `fn` on the event loop; turn expected errors into one line and an exit status."""
    try:
        return anyio.run(fn, backend="asyncio")
    except BulkdlError as exc:
        fail_to_start(exc, debug, console)
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
) -> RunSummary:
    """Run `main`, then print the failures, the summary line and (--json) the JSON summary."""
    try:
        result = guarded(console, debug, main)
    finally:
        reporter.close()
    summary = result.summary  # each failure was said once already, as it happened
    if not quiet or summary.exit_status is not ExitStatus.OK:
        console.print(summary.line(), markup=False, highlight=False, soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps(summary.to_json()) + "\n")
    return summary


def say(console: Console, text: str) -> None:
    """One plain line: no markup, no highlighting, no wrapping mid-word."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def load(
    config: Path | None, overrides: Overrides, debug: bool, *, need_out_dir: bool = True
) -> Settings:
    try:
        return load_settings(config, env_snapshot(), overrides, need_out_dir=need_out_dir)
    except BulkdlError as exc:
        fail_to_start(exc, debug)


def job_filter(
    jobs: list[str] | None,
    statuses: list[str] | None,
    since: str | None,
    resource_name: str | None,
    debug: bool,
) -> JobFilter:
    """The job filter flags, validated (exit 2 with one line when one is malformed)."""
    try:
        for raw in jobs or ():
            job_id(raw)
        return JobFilter(
            job_ids=frozenset(jobs or ()),
            statuses=parse_statuses(statuses or ()),
            since=parse_since(since, datetime.now(UTC)) if since else None,
            resource_name=resource_name,
        )
    except ValueError as exc:
        fail_to_start(ConfigError(f"--job: {exc}"), debug)
    except BulkdlError as exc:
        fail_to_start(exc, debug)


def fail_to_start(exc: BulkdlError, debug: bool, console: Console | None = None) -> NoReturn:
    """Print an expected error as one line (and its hint); exit 2."""
    if debug:
        raise exc
    console = console or err_console()
    say(console, f"error: {exc}")
    if exc.hint:
        say(console, f"hint: {exc.hint}")
    raise typer.Exit(ExitStatus.CANNOT_START) from None


def run_and_exit(
    settings: Settings, options: RunOptions, *, quiet: bool, as_json: bool, debug: bool
) -> NoReturn:
    """Run download/collect with the right reporter; print plan or summary; exit."""
    console = err_console()
    reporter = make_reporter(console, quiet)
    if settings.insecure:
        reporter.warn("--insecure: TLS certificates are not verified")
    results: list[RunResult] = []

    async def main() -> RunResult:
        result = await Run(settings, reporter, options).execute(handle_signals=True)
        results.append(result)
        return result

    summary = finish(
        console,
        reporter,
        main,
        quiet=quiet or options.dry_run,
        as_json=as_json and not options.dry_run,
        debug=debug,
    )
    if options.dry_run and results:
        print_plan(console, results[0], settings, as_json=as_json)
        failed = summary.failed or any(p.error for p in results[0].plan)
        raise typer.Exit(ExitStatus.FAILED if failed else ExitStatus.OK)
    raise typer.Exit(summary.exit_status)


def print_plan(console: Console, result: RunResult, settings: Settings, *, as_json: bool) -> None:
    """A dry run's plan: per group, then totals and the free-space check."""
    plan = sorted(result.plan, key=lambda p: p.group_id)
    total_jobs = sum(p.to_download for p in plan)
    total_skips = sum(p.to_skip for p in plan)
    total_bytes = sum(p.bytes_upper_bound for p in plan)
    creates = sum(1 for p in plan if p.would_create is not None)
    free = result.free_bytes
    fits = free is None or total_bytes <= free
    if as_json:
        doc = {
            "groups": [
                {
                    "groupId": p.group_id,
                    "statuses": p.statuses,
                    "toDownload": p.to_download,
                    "toSkip": p.to_skip,
                    "bytesUpperBound": p.bytes_upper_bound,
                    "wouldCreate": p.would_create,
                    "error": p.error,
                }
                for p in plan
            ],
            "toDownload": total_jobs,
            "toSkip": total_skips,
            "bytesUpperBound": total_bytes,
            "wouldCreate": creates,
            "freeBytes": free,
            "fits": fits,
        }
        sys.stdout.write(json.dumps(doc) + "\n")
        return
    for p in plan:
        if p.error:
            say(console, f"group {p.group_id}: cannot list: {p.error}")
        elif p.would_create is not None:
            body = p.would_create
            say(
                console,
                f"group {p.group_id}: would create a job for {body['resourceType']} "
                f"{body['resourceName']} ({', '.join(body['logTypes'])})",
            )
        else:
            counts = ", ".join(f"{n} {status}" for status, n in sorted(p.statuses.items()))
            say(
                console,
                f"group {p.group_id}: {counts or 'no jobs'}; would download "
                f"{p.to_download} (up to {human_bytes(p.bytes_upper_bound)}), skip "
                f"{p.to_skip} already complete",
            )
    say(
        console,
        f"dry run: would create {creates} jobs and download {total_jobs} archives, "
        f"up to {human_bytes(total_bytes)} (uncompressed sizes, an upper bound) into "
        f"{settings.out_dir}; skip {total_skips} already complete",
    )
    if free is not None:
        verdict = "fits" if fits else "MAY NOT FIT"
        say(console, f"free space there: {human_bytes(free)}: {verdict}")
