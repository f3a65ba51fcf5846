"""What every command shares: the typer app, option types, consoles and error handling.

Expected errors (BulkdlError) print one line and a hint on stderr and exit with their status;
anything else is a bug, shown as one line unless --debug asks for the traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final, NoReturn, TypeVar

import anyio
import typer
from rich.console import Console

from bulkdl import __version__
from bulkdl.config import Overrides, Settings, env_snapshot, load_settings
from bulkdl.entry import install_signal_handlers, invoked_args
from bulkdl.errors import BulkdlError, ConfigError, ExitStatus
from bulkdl.hints import INSECURE_WARNING, hint_for, resume_command
from bulkdl.models import is_object_id, job_id
from bulkdl.output import Column, Format, emit, field
from bulkdl.progress import PlainReporter, Reporter, RichReporter
from bulkdl.runner import Run, RunOptions, RunResult
from bulkdl.selection import JobFilter, parse_since, parse_statuses
from bulkdl.settings_spec import flag_spec
from bulkdl.summary import RunSummary, human_bytes

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals hold the API key
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
    help="Pull MongoDB Cloud Manager / Ops Manager log-collection archives from a whole fleet.",
)

# Shown under every command that calls the API: where the key pair comes from.
API_EPILOG = (
    "Credentials: BULKDL_PUBLIC_KEY and BULKDL_PRIVATE_KEY (or public_key and private_key_file "
    "in the config file)."
)

T = TypeVar("T")


def _show_version(value: bool) -> None:
    if value:
        say(Console(highlight=False), f"bulkdl {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            metavar="",
            is_eager=True,
            callback=_show_version,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Pull MongoDB Cloud Manager / Ops Manager log-collection archives from a whole fleet."""
    json_errors(False)  # each command says whether it speaks JSON


class _Errors:
    """How fail_to_start reports: under --json (or -o json) also as a JSON object on stdout."""

    as_json = False


def json_errors(on: bool) -> None:
    """Called first by a command that prints JSON, so that even an exit-2 error is JSON."""
    _Errors.as_json = on


def _lower_ids(values: list[str] | None) -> list[str] | None:
    """Ids are hex: accept upper case (copied from a UI) and use the lower-case form."""
    return [v.strip().lower() if is_object_id(v.strip().lower()) else v for v in values or ()]


def _flag(name: str, help_text: str, *short: str) -> Any:
    """A boolean flag, shown without a type placeholder."""
    return typer.Option(name, *short, metavar="", help=help_text)


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
OutOpt = Annotated[
    Path | None, typer.Option("--out", metavar="DIR", help="Output folder (or out_dir).")
]
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option(
        "--concurrency",
        metavar="N",
        help="Archives streaming at once.",
        callback=bounded("--concurrency"),
    ),
]
GroupOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--group",
        metavar="ID",
        callback=_lower_ids,
        help="Group (project) id, 24 hex digits; repeatable; replaces the config's list.",
    ),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        metavar="URL",
        help="Cloud/Ops Manager URL, e.g. https://cloud.mongodb.com (or base_url).",
    ),
]
QuietOpt = Annotated[bool, _flag("--quiet", "Print only warnings and errors.", "-q")]
JsonOpt = Annotated[bool, _flag("--json", "Print JSON on stdout.")]
OutputOpt = Annotated[
    Format | None,
    typer.Option(
        "--output",
        "-o",
        metavar="table|json|csv",
        case_sensitive=False,
        help="Output format on stdout (--json is -o json).",
    ),
]
VerboseOpt = Annotated[
    bool, _flag("--verbose", "Also print one line per job that is not downloadable.", "-v")
]
DebugOpt = Annotated[bool, _flag("--debug", "Show tracebacks of unexpected errors.")]
VerifyOpt = Annotated[
    bool, _flag("--verify", "Read each archive through gzip+tar before keeping it.")
]
StallOpt = Annotated[
    float | None,
    typer.Option(
        "--stall-timeout",
        metavar="SECONDS",
        help="Abort a response that sends nothing for this long.",
        callback=bounded("--stall-timeout"),
    ),
]
ProxyOpt = Annotated[
    str | None,
    typer.Option(
        "--proxy",
        metavar="URL",
        help="Proxy URL (default: the proxy key, then HTTPS_PROXY etc.).",
    ),
]
InsecureOpt = Annotated[
    bool, _flag("--insecure", "Do not verify TLS certificates (not recommended).")
]
AllGroupsOpt = Annotated[bool, _flag("--all-groups", "Every group (project) the API key can see.")]
OrgOpt = Annotated[
    str | None,
    typer.Option(
        "--org", metavar="ID", help="Only the groups of this organization (implies discovery)."
    ),
]
GroupNameOpt = Annotated[
    str | None,
    typer.Option(
        "--group-name",
        metavar="GLOB",
        help="Only discovered groups whose name matches, e.g. 'prod-*'.",
    ),
]
JobOpt = Annotated[
    list[str] | None,
    typer.Option("--job", metavar="ID", callback=_lower_ids, help="Only this job id; repeatable."),
]
StatusOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        metavar="STATUS",
        help="Only jobs in these statuses (comma-separated or repeated).",
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="WHEN",
        help="Only jobs created since: an ISO date/time, or 90m, 12h, 7d.",
    ),
]
ResourceNameOpt = Annotated[
    str | None,
    typer.Option("--resource-name", metavar="GLOB", help="Only jobs for this resource."),
]
WaitOpt = Annotated[bool, _flag("--wait", "Wait for IN_PROGRESS jobs, then download them.")]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="With --wait: give up on a job after this long.",
        callback=bounded("--timeout"),
    ),
]
ExtractOpt = Annotated[
    bool, _flag("--extract", "Unpack each verified archive to OUT/<groupId>/<jobId>/.")
]
DryRunOpt = Annotated[bool, _flag("--dry-run", "Print the plan; send no change, download nothing.")]


def output_format(output: Format | None, as_json: bool) -> Format:
    """`--json` is `-o json`; the default is a table."""
    return Format.JSON if as_json else (output or Format.TABLE)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def make_reporter(console: Console, quiet: bool, *, verbose: bool = False) -> Reporter:
    """Live bars on a terminal (unless --quiet), plain lines elsewhere."""
    if console.is_terminal and not quiet:
        return RichReporter(console, quiet=quiet, verbose=verbose)
    return PlainReporter(console, quiet=quiet, verbose=verbose)


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
    for raw in overrides.groups:
        if not is_object_id(raw):
            fail_to_start(
                ConfigError(f"--group {raw!r} is not a group id (24 hex digits)"),
                debug,
                hint="to choose groups by name use --group-name GLOB (e.g. 'prod-*'); "
                "`bulkdl groups` lists every id with its name",
            )
    try:
        settings = load_settings(config, env_snapshot(), overrides, need_out_dir=need_out_dir)
    except BulkdlError as exc:
        fail_to_start(exc, debug)
    if settings.insecure:
        say(err_console(), f"warning: {INSECURE_WARNING}")
    return settings


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


def fail_to_start(
    exc: BulkdlError, debug: bool, console: Console | None = None, *, hint: str | None = None
) -> NoReturn:
    """Print an expected error as one line (and a hint: a way forward); exit 2.

    Under --json the same error is also a JSON object on stdout, so a runbook reading stdout
    learns why nothing else came.
    """
    if debug:
        raise exc
    console = console or err_console()
    hint = hint or exc.hint or hint_for(exc)
    say(console, f"error: {exc}")
    if hint:
        say(console, f"hint: {hint}")
    if _Errors.as_json:
        doc = {"error": str(exc), "hint": hint, "exitCode": int(ExitStatus.CANNOT_START)}
        sys.stdout.write(json.dumps(doc) + "\n")
    raise typer.Exit(ExitStatus.CANNOT_START) from None


def run_and_exit(
    settings: Settings,
    options: RunOptions,
    *,
    quiet: bool,
    as_json: bool,
    debug: bool,
    output: Format | None = None,
    verbose: bool = False,
) -> NoReturn:
    """Run download/collect with the right reporter; print plan or summary; exit.

    On exit 1 or 130 of a download, one more line: the command that resumes it.
    """
    fmt = output_format(output, as_json)
    as_json = fmt is Format.JSON
    console = err_console()
    reporter = make_reporter(console, quiet, verbose=verbose)
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
        print_plan(console, results[0], settings, fmt)
        failed = summary.failed or any(p.error for p in results[0].plan)
        raise typer.Exit(ExitStatus.FAILED if failed else ExitStatus.OK)
    if summary.exit_status in (ExitStatus.FAILED, ExitStatus.INTERRUPTED):
        command = resume_command(invoked_args())
        if command and options.collect is None:  # a second collect would create more jobs
            say(console, f"to resume: {command}")
    raise typer.Exit(summary.exit_status)


_PLAN_COLUMNS: Final = (
    Column("group", field("groupId"), keep=True),
    Column("jobs listed", lambda r: _counts(r["statuses"]), priority=1, shrink_to=12),
    Column("to download", field("toDownload"), keep=True, right=True),
    Column("to skip", field("toSkip"), keep=True, right=True),
    Column("up to (uncompressed)", lambda r: human_bytes(r["bytesUpperBound"]), priority=3),
    Column("note", lambda r: _plan_note(r), priority=2, shrink_to=20),
)


def _counts(statuses: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())) or "no jobs"


def _plan_note(record: Mapping[str, Any]) -> str:
    if record["error"]:
        return f"cannot list: {record['error']}"
    body = record["wouldCreate"]
    if body is None:
        return ""
    kinds = ", ".join(body["logTypes"])
    return f"would create a job for {body['resourceType']} {body['resourceName']} ({kinds})"


def print_plan(console: Console, result: RunResult, settings: Settings, fmt: Format) -> None:
    """A dry run's plan: a row per group (in `fmt`), then totals and the free-space check."""
    plan = sorted(result.plan, key=lambda p: p.group_id)
    total_jobs = sum(p.to_download for p in plan)
    total_skips = sum(p.to_skip for p in plan)
    total_bytes = sum(p.bytes_upper_bound for p in plan)
    creates = sum(1 for p in plan if p.would_create is not None)
    free = result.free_bytes
    fits = free is None or total_bytes <= free
    rows = [
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
    ]
    if fmt is Format.JSON:
        doc = {
            "groups": rows,
            "toDownload": total_jobs,
            "toSkip": total_skips,
            "bytesUpperBound": total_bytes,
            "wouldCreate": creates,
            "freeBytes": free,
            "fits": fits,
        }
        sys.stdout.write(json.dumps(doc) + "\n")
        return
    emit(_PLAN_COLUMNS, rows, fmt, table_to_stderr=True)
    say(
        console,
        f"dry run: would create {creates} jobs and download {total_jobs} archives, "
        f"up to {human_bytes(total_bytes)} (uncompressed sizes, an upper bound) into "
        f"{settings.out_dir}; skip {total_skips} already complete",
    )
    if free is not None:
        verdict = "fits" if fits else "MAY NOT FIT"
        say(console, f"free space there: {human_bytes(free)}: {verdict}")
