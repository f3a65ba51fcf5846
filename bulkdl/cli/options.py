"""The options, declared once: one `Annotated` alias per option, and the groups of options that
several commands share (connection, groups, job filter, output).

A command takes a whole group as one parameter (`conn: Connection`); `@shared_options` puts the
group's options in its place in the command's signature, which is what typer reads, and hands
the command the group built from them. So `--help` stays per command, in the command's order,
and each option's text is written here only.

Light on purpose: imported to build the app, also for `--version` and `--help`. No
`from __future__ import annotations` here: the groups' annotations are built once, at class
creation, instead of being compiled again from strings for every command that takes them.
"""

import functools
import inspect
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Annotated, Any, NamedTuple, TypeVar, get_type_hints

import typer

from bulkdl.report.output import Format

F = TypeVar("F", bound=Callable[..., None])


def lower_ids(values: list[str] | None) -> list[str] | None:
    """Ids are hex: accept upper case (copied from a UI) and use the lower-case form."""
    from bulkdl.domain.models import is_object_id

    return [v.strip().lower() if is_object_id(v.strip().lower()) else v for v in values or ()]


def flag(name: str, help_text: str, *short: str) -> Any:
    """A boolean flag, shown without a type placeholder."""
    return typer.Option(name, *short, metavar="", help=help_text)


def bounded(name: str) -> Callable[[float | None], float | None]:
    """A typer callback refusing NaN, infinities and values outside the flag's declared bounds.

    It runs while the command line is parsed, so nothing has been sent yet; the error is one
    line naming the flag and the value (click's range checks let NaN through).
    """

    def check(value: float | None) -> float | None:
        if value is not None:
            from bulkdl.cli.failure import fail_to_start
            from bulkdl.domain.errors import ConfigError
            from bulkdl.settings.spec import flag_spec

            why = flag_spec(name).check_number(value)
            if why:
                fail_to_start(ConfigError(f"{name} {why}, got {value}"), False)
        return value

    return check


def with_default(name: str, help_text: str) -> str:
    """The help of a flag that overrides a setting (its typer default is None, which typer
    would not show), with `[default: ...]`: the setting's default, and where else it is set."""
    from bulkdl.settings.spec import declared

    for d in declared():
        if d.spec.flag != name or isinstance(d.default, bool) or d.spec.flag == "--group":
            continue
        shown = d.spec.shown_default or ("" if d.default is None else str(d.default))
        if shown.startswith("("):
            return f"{help_text}  [default: {d.name} in the config; {shown.strip('()')}]"
        if shown:
            return f"{help_text}  [default: {shown}, or {d.name} in the config]"
    return help_text


def number(name: str, metavar: str, help_text: str) -> Any:
    """An option holding a number, checked against the flag's declared bounds."""
    return typer.Option(
        name,
        metavar=metavar,
        help=with_default(name, help_text),
        callback=bounded(name),
    )


def text(
    name: str, metavar: str, help_text: str, complete: Callable[[str], list[str]] | None = None
) -> Any:
    """An option holding a string, with its placeholder (and the values a shell completes)."""
    return typer.Option(
        name,
        metavar=metavar,
        help=with_default(name, help_text),
        autocompletion=complete,
    )


def choices(values: Collection[str], *, listed: bool = False) -> Callable[[str], list[str]]:
    """Shell completion of an enumerated value; `listed`: of the last item after a comma."""

    def complete(incomplete: str) -> list[str]:
        head, _, last = incomplete.rpartition(",") if listed else ("", "", incomplete)
        prefix = f"{head}," if head else ""
        return [prefix + v for v in values if v.lower().startswith(last.lower())]

    return complete


def expand_home(value: Path | None) -> Path | None:
    """`~` and `~user` as the config file reads them: the shell leaves `--out=~/x` and a
    quoted `'~/x'` alone, and a folder literally named `~` is one `rm -rf ~` from a disaster."""
    return value.expanduser() if value is not None else None


def path(name: str, metavar: str, help_text: str) -> Any:
    """An option holding a path, `~` expanded."""
    return typer.Option(
        name,
        metavar=metavar,
        help=with_default(name, help_text),
        callback=expand_home,
    )


OutOpt = Annotated[Path | None, path("--out", "DIR", "Output folder (or out_dir).")]
ConcurrencyOpt = Annotated[int | None, number("--concurrency", "N", "Archives streaming at once.")]
VerboseOpt = Annotated[
    bool, flag("--verbose", "Also print one line per job that is not downloadable.", "-v")
]
DebugOpt = Annotated[bool, flag("--debug", "Show tracebacks of unexpected errors.")]
QuietOpt = Annotated[bool, flag("--quiet", "Print only warnings and errors.", "-q")]
JsonOpt = Annotated[bool, flag("--json", "Print JSON on stdout.")]
TimeoutOpt = Annotated[
    float, number("--timeout", "SECONDS", "With --wait: give up on a job after this long.")
]
DryRunOpt = Annotated[bool, flag("--dry-run", "Print the plan; send no change, download nothing.")]


class Connection(NamedTuple):
    """Where the API is and how to reach it: every command that calls the API takes these."""

    config: Annotated[
        Path | None,
        path(
            "--config",
            "FILE",
            "TOML config file (default: ./bulkdl.toml when present); "
            "`bulkdl config example` prints one.",
        ),
    ] = None
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-P",
            metavar="NAME",
            help="Use this profile of mongocli's or atlas's config file (~/.config/mongocli/"
            "config.toml, ~/.config/atlascli/config.toml, or $BULKDL_PROFILE_FILE). "
            "Env: BULKDL_PROFILE, MCLI_PROFILE. Without one, mongocli's 'default' profile "
            "when nothing else gives a key.",
        ),
    ] = None
    base_url: Annotated[
        str | None,
        text(
            "--base-url",
            "URL",
            "Cloud/Ops Manager URL, e.g. https://cloud.mongodb.com (or base_url).",
        ),
    ] = None
    proxy: Annotated[
        str | None,
        text("--proxy", "URL", "Proxy URL (default: the proxy key, then HTTPS_PROXY etc.)."),
    ] = None
    insecure: Annotated[
        bool, flag("--insecure", "Do not verify TLS certificates (not recommended).")
    ] = False
    debug: DebugOpt = False


class Groups(NamedTuple):
    """Which groups (projects): listed ids, or discovered ones narrowed by organization and name."""

    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            metavar="ID",
            callback=lower_ids,
            help="Group (project) id, 24 hex digits; repeatable; replaces the config's list.",
        ),
    ] = None
    all_groups: Annotated[
        bool, flag("--all-groups", "Every group (project) the API key can see.")
    ] = False
    org: Annotated[
        str | None, text("--org", "ID", "Only the groups of this organization (implies discovery).")
    ] = None
    group_name: Annotated[
        str | None,
        text("--group-name", "GLOB", "Only discovered groups whose name matches, e.g. 'prod-*'."),
    ] = None


class Jobs(NamedTuple):
    """Which jobs of those groups."""

    job: Annotated[
        list[str] | None,
        typer.Option(
            "--job", metavar="ID", callback=lower_ids, help="Only this job id; repeatable."
        ),
    ] = None
    status: Annotated[
        list[str] | None,
        text(
            "--status",
            "STATUS",
            "Only jobs in these statuses (comma-separated or repeated).",
            choices(
                ("SUCCESS", "FAILURE", "IN_PROGRESS", "MARKED_FOR_EXPIRY", "EXPIRED"), listed=True
            ),
        ),
    ] = None
    since: Annotated[
        str | None,
        text(
            "--since",
            "WHEN",
            "Only jobs created since: ISO 8601 (no offset = UTC), HH:MM (today, UTC), "
            "or 90m, 12h, 7d ago.",
        ),
    ] = None
    resource_name: Annotated[
        str | None, text("--resource-name", "GLOB", "Only jobs for this resource.")
    ] = None
    created_here: Annotated[
        bool,
        flag(
            "--created-here",
            "Only the jobs `collect` created into this OUT (its manifest's created lines).",
        ),
    ] = False


def format_option(metavar: str = "table|json|csv") -> Any:
    """`-o/--output`, mongocli's name; `metavar` lists what the command offers."""
    return typer.Option(
        "--output",
        "-o",
        metavar=metavar,
        case_sensitive=False,
        help="Output format on stdout (--json is -o json).",
    )


FormatOpt = Annotated[Format | None, format_option()]
TableOrJsonOpt = Annotated[Format | None, format_option("table|json")]


def only_formats(output: Format | None, command: str, *offered: Format) -> None:
    """Refuse (exit 2, one line) a format the command cannot print, rather than print nothing."""
    if output is not None and output not in offered:
        from bulkdl.cli.failure import fail_to_start
        from bulkdl.domain.errors import ConfigError

        names = "|".join(f.value for f in offered)
        fail_to_start(
            ConfigError(f"{command} -o {output.value}: {command} offers -o {names}"), False
        )


class Output(NamedTuple):
    """What goes to stdout and stderr."""

    quiet: QuietOpt = False
    as_json: JsonOpt = False
    output: FormatOpt = None

    @property
    def format(self) -> Format:
        """`--json` is `-o json`; the default is a table."""
        return Format.JSON if self.as_json else (self.output or Format.TABLE)

    @property
    def is_json(self) -> bool:
        return self.format is Format.JSON


_GROUPS: tuple[type, ...] = (Connection, Groups, Jobs, Output)


@functools.cache
def _option_types(group: type) -> dict[str, Any]:
    return get_type_hints(group, include_extras=True)


def shared_options(*, omit: Collection[str] = ()) -> Callable[[F], F]:
    """Expand each parameter typed as an option group into that group's options, in place.

    `omit` names options (field names) a command does not offer; the group keeps their default.
    """

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        params: list[inspect.Parameter] = []
        expanded: dict[str, tuple[type, list[str]]] = {}
        offered: set[str] = set()
        for param in signature.parameters.values():
            if param.annotation not in _GROUPS:
                params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))
                continue
            group = param.annotation
            hints = _option_types(group)
            offered.update(group._fields)
            names = [name for name in group._fields if name not in omit]
            expanded[param.name] = (group, names)
            params += [
                inspect.Parameter(
                    name,
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=hints[name],
                    default=group._field_defaults[name],
                )
                for name in names
            ]

        taken = [p.name for p in params] + list(expanded)
        if len(set(taken)) != len(taken):
            raise TypeError(f"{command.__name__}: an option name is taken twice: {taken}")
        if unknown := set(omit) - offered:
            raise TypeError(f"{command.__name__}: omits options it has no group for: {unknown}")

        @functools.wraps(command)
        def call(**given: Any) -> None:
            for param_name, (group, names) in expanded.items():
                given[param_name] = group(**{name: given.pop(name) for name in names})
            command(**given)

        call.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        return call  # type: ignore[return-value]

    return decorate
