"""`bulkdl search PATTERN [OUT]`: grep a whole pull's archives in place, with provenance.

Options are parsed into a Query here (an invalid regex or time is exit 2 before any archive is
opened); run/search.py picks the archives from the manifest and the workers; search/ does the
reading; the Printer prints. Exit codes are grep's: 0 a match, 1 none, 2 an error.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bulkdl.cli.failure import err_console, fail_to_start, json_errors, say
from bulkdl.cli.options import flag, text
from bulkdl.domain.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from bulkdl.search.engine import Archive
    from bulkdl.search.printer import View
    from bulkdl.search.query import Query

Csv = Annotated[list[str] | None, typer.Option(metavar="A,B", show_default=False)]
_EPILOG = (
    "Lines without a readable time are kept, unless --from or --to is given (then only lines "
    "whose own time is inside the window). --severity, --component and --id keep only lines "
    "that carry the field (mongod lines; agent lines have a severity). FTDC and other binary "
    "members are skipped: --show-skipped names them. Exit status: 0 a line matched, 1 none, "
    "2 an error (nothing could be searched, a bad pattern or time); an unreadable archive is "
    "named on stderr and the others are searched."
)


def _csv(values: list[str] | None) -> list[str]:
    return [p.strip() for v in values or () for p in v.split(",") if p.strip()]


PatternArg = Annotated[str, typer.Argument(metavar="PATTERN", show_default=False)]
OutArg = Annotated[Path, typer.Argument(metavar="[OUT]", show_default=False)]
FixedArg = Annotated[bool, flag("--fixed-strings", "PATTERN is a string, not a regex.", "-F")]
IgnoreCaseArg = Annotated[bool, flag("--ignore-case", "Ignore case.", "-i")]
InvertArg = Annotated[bool, flag("--invert-match", "Select lines that do not match.", "-v")]
CountArg = Annotated[bool, flag("--count", "Print the number of matching lines per host.", "-c")]
FilesArg = Annotated[bool, flag("--files-with-matches", "Print the members that match.", "-l")]
MaxCountArg = Annotated[
    int | None,
    typer.Option("--max-count", "-m", metavar="N", min=0, help="Stop a member after N matches."),
]
SinceArg = Annotated[
    str | None,
    text("--from", "TIME", "Only lines at or after TIME (their own time): ISO, or 2h / 90m ago."),
]
UntilArg = Annotated[str | None, text("--to", "TIME", "Only lines at or before TIME.")]
SeverityArg = Annotated[
    list[str] | None, text("--severity", "F,E,W", "Only these severities (F E W I D).")
]
ComponentArg = Annotated[
    list[str] | None,
    text("--component", "REPL,NETWORK", "Only these mongod components, with their subcomponents."),
]
ExactComponentArg = Annotated[bool, flag("--exact-component", "--component without subcomponents.")]
IdsArg = Annotated[list[str] | None, text("--id", "N", "Only mongod log ids N (comma-separated).")]
SlowArg = Annotated[
    int | None,
    typer.Option("--slow", metavar="MS", min=0, help="Only lines with attr.durationMillis >= MS."),
]
HostArg = Annotated[str | None, text("--host", "GLOB", "Only members of hosts matching GLOB.")]
LogTypeArg = Annotated[
    list[str] | None,
    text("--log-type", "TYPES", "mongodb, automation_agent, backup_agent, monitoring_agent."),
]
GroupArg = Annotated[list[str] | None, text("--group", "ID", "Only archives of these groups.")]
JobArg = Annotated[list[str] | None, text("--job", "ID", "Only these jobs' archives.")]
TimelineArg = Annotated[bool, flag("--timeline", "Merge all hosts' matches in time order.")]
SummaryArg = Annotated[
    bool, flag("--summary", "Per host: matches by severity, first and last time.")
]
AsJsonArg = Annotated[
    bool, flag("--json", "One JSON object per match (or per host with -c/--summary).")
]
RawArg = Annotated[bool, flag("--raw", "Print matching lines unchanged (no provenance).")]
ColorArg = Annotated[
    str,
    typer.Option(
        "--color", metavar="auto|always|never", help="Colour matches (auto: on a terminal)."
    ),
]
ShowSkippedArg = Annotated[
    bool,
    flag("--show-skipped", "Name each member skipped (FTDC, binary, rotated before --from)."),
]
WorkersArg = Annotated[
    int | None,
    typer.Option(
        "--workers", "-j", metavar="N", min=1, help="Archives read at once (default: one per core)."
    ),
]
PoolArg = Annotated[str, typer.Option("--pool", hidden=True)]
InflaterArg = Annotated[str | None, typer.Option("--inflater", hidden=True)]


def search(
    pattern: PatternArg,
    out: OutArg = Path("."),
    fixed: FixedArg = False,
    ignore_case: IgnoreCaseArg = False,
    invert: InvertArg = False,
    count: CountArg = False,
    files: FilesArg = False,
    max_count: MaxCountArg = None,
    since: SinceArg = None,
    until: UntilArg = None,
    severity: SeverityArg = None,
    component: ComponentArg = None,
    exact_component: ExactComponentArg = False,
    ids: IdsArg = None,
    slow: SlowArg = None,
    host: HostArg = None,
    log_type: LogTypeArg = None,
    group: GroupArg = None,
    job: JobArg = None,
    timeline: TimelineArg = False,
    summary: SummaryArg = False,
    as_json: AsJsonArg = False,
    raw: RawArg = False,
    color: ColorArg = "auto",
    show_skipped: ShowSkippedArg = False,
    workers: WorkersArg = None,
    pool: PoolArg = "process",
    inflater: InflaterArg = None,
) -> None:
    """Search every archive of a pull (OUT, default .) in place: gzip, tar and rotated .gz
    members read in memory, in parallel; each match printed with its group/job:member:line."""
    run_search(SearchArgs(**locals()))  # every parameter, as one value


@dataclass(frozen=True, slots=True)
class SearchArgs:
    """The command line of `bulkdl search`, parsed by typer."""

    pattern: str
    out: Path
    fixed: bool
    ignore_case: bool
    invert: bool
    count: bool
    files: bool
    max_count: int | None
    since: str | None
    until: str | None
    severity: list[str] | None
    component: list[str] | None
    exact_component: bool
    ids: list[str] | None
    slow: int | None
    host: str | None
    log_type: list[str] | None
    group: list[str] | None
    job: list[str] | None
    timeline: bool
    summary: bool
    as_json: bool
    raw: bool
    color: str
    show_skipped: bool
    workers: int | None
    pool: str
    inflater: str | None


def run_search(a: SearchArgs) -> None:
    """Options -> Query (exit 2 on a bad one, before any archive is read) -> the search."""
    json_errors(a.as_json)
    from bulkdl.search.query import Mode, Query

    console = err_console()
    try:
        start, end = _window(a.since, a.until)
        sevs, comps, id_set, types = _fields(
            a.severity, a.component, a.exact_component, a.ids, a.log_type
        )
        query = Query(
            pattern=a.pattern.encode("utf-8", "surrogateescape"),
            fixed=a.fixed,
            ignore_case=a.ignore_case,
            invert=a.invert,
            max_count=a.max_count,
            from_ms=start,
            to_ms=end,
            severities=sevs,
            components=comps,
            ids=id_set,
            log_types=types,
            slow_ms=a.slow,
            host_glob=a.host,
            mode=Mode.COUNT if a.count or a.files or a.summary else Mode.LINES,
            inflater=a.inflater,
        )
        view = _view(a.count, a.files, a.summary, a.timeline, a.raw, a.as_json)
        from bulkdl.run.search import plan_archives

        archives = plan_archives(a.out, _csv(a.group), _csv(a.job))
    except ConfigError as exc:
        fail_to_start(exc, False, console)
    if a.color not in ("auto", "always", "never"):
        fail_to_start(
            ConfigError(f"--color: {a.color!r} is not auto, always or never"), False, console
        )
    _run(archives, query, view, a.as_json, a.color, a.show_skipped, a.workers, a.pool, console)


def _window(since: str | None, until: str | None) -> tuple[int | None, int | None]:
    """--from/--to as epoch ms; the same forms as `collect --from/--to`."""
    from bulkdl.domain.selection import parse_since

    now = datetime.now(UTC)
    start = parse_since(since, now, "--from") if since is not None else None
    end = parse_since(until, now, "--to") if until is not None else None
    if start and end and start > end:
        raise ConfigError(f"--from {since} is after --to {until}")
    return (
        int(start.timestamp() * 1000) if start else None,
        int(end.timestamp() * 1000) if end else None,
    )


def _fields(
    severity: list[str] | None,
    component: list[str] | None,
    exact: bool,
    ids: list[str] | None,
    log_type: list[str] | None,
) -> tuple[
    frozenset[str] | None, frozenset[str] | None, frozenset[int] | None, frozenset[str] | None
]:
    """The field filters, checked: an unknown name is an error, not an empty result."""
    from bulkdl.search.logline import COMPONENTS, with_children
    from bulkdl.search.members import LOG_TYPES

    comps = frozenset(c.upper() for c in _csv(component)) or None
    if comps and (unknown := comps - COMPONENTS):
        raise ConfigError(
            f"--component: unknown component {sorted(unknown)[0]}",
            hint="e.g. REPL, NETWORK, COMMAND, STORAGE (mongod's log components)",
        )
    sevs = frozenset(s.upper() for s in _csv(severity)) or None
    if sevs and (bad := sevs - set("FEWID")):
        raise ConfigError(f"--severity: unknown severity {sorted(bad)[0]}", hint="F, E, W, I or D")
    types = frozenset(t.lower() for t in _csv(log_type)) or None
    if types and (bad := types - set(LOG_TYPES)):
        raise ConfigError(f"--log-type: unknown {sorted(bad)[0]}", hint=", ".join(LOG_TYPES))
    try:
        id_set = frozenset(int(i) for i in _csv(ids)) or None
    except ValueError:
        raise ConfigError(f"--id: {','.join(ids or [])!r} is not a list of numbers") from None
    return sevs, comps if exact or not comps else with_children(comps), id_set, types


def _view(
    count: bool, files: bool, summary: bool, timeline: bool, raw: bool, as_json: bool
) -> View:
    from bulkdl.search.printer import View

    chosen = [
        name
        for name, on in (
            ("-c", count),
            ("-l", files),
            ("--summary", summary),
            ("--timeline", timeline),
            ("--raw", raw),
        )
        if on
    ]
    if len(chosen) > 1:
        raise ConfigError(f"{chosen[0]} and {chosen[1]} cannot be used together")
    if count:
        return View.COUNT
    if files:
        return View.FILES
    if summary:
        return View.SUMMARY
    if timeline:
        return View.TIMELINE
    if raw:
        return View.RAW
    return View.JSON if as_json else View.LINES


def _run(
    archives: list[Archive],
    query: Query,
    view: View,
    as_json: bool,
    color: str,
    show_skipped: bool,
    workers: int | None,
    pool: str,
    console: Console,
) -> None:
    from bulkdl.run.search import search_all
    from bulkdl.search.printer import Printer

    def warn(line: str) -> None:
        say(console, f"bulkdl: {line}")

    terminal = sys.stdout.isatty()
    paint = color == "always" or (color == "auto" and terminal)
    printer = Printer(
        sys.stdout.buffer,
        warn,
        view,
        as_json=as_json,
        colour=query.regex if paint else None,
        show_skipped=show_skipped,
    )
    try:
        for result in search_all(archives, query, workers=workers, pool=pool):
            printer.add(result)
        printer.finish()
        sys.stdout.flush()
    except BrokenPipeError:
        raise typer.Exit(0) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if not archives or printer.searched == 0:
        say(
            console,
            "bulkdl: error: no archive could be searched"
            if archives
            else "bulkdl: error: the manifest records no archive to search",
        )
        raise typer.Exit(2)
    if printer.broken:
        say(
            console,
            f"bulkdl: warning: {printer.broken} of {len(archives)} archives could not be "
            "searched to their end (named above)",
        )
    raise typer.Exit(0 if printer.matched else 1)
