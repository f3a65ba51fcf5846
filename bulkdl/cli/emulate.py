"""`bulkdl emulate` and `bulkdl demo`: the built-in Cloud Manager emulator, served or tried."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bulkdl.cli.common import finish, guarded, make_reporter
from bulkdl.cli.failure import err_console, fail_to_start, json_errors, say
from bulkdl.cli.options import (
    ConcurrencyOpt,
    DebugOpt,
    FormatOpt,
    JsonOpt,
    QuietOpt,
    TableOrJsonOpt,
    number,
    only_formats,
    path,
    text,
)
from bulkdl.domain.errors import BulkdlError, ConfigError, ExitStatus
from bulkdl.report.output import Format

if TYPE_CHECKING:
    from rich.console import Console

    from bulkdl.emulator import Fleet, RunningEmulator
    from bulkdl.run.runner import RunResult


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


PortOpt = Annotated[int, number("--port", "PORT", "Port on 127.0.0.1 (0 picks a free one).")]
GroupCountOpt = Annotated[int, number("--groups", "N", "Number of groups in the fleet.")]
JobCountOpt = Annotated[int, number("--jobs", "N", "Jobs per group (statuses cycle).")]
ArchiveKibOpt = Annotated[
    int, number("--archive-kib", "KIB", "Approximate size of each archive, in KiB.")
]
CollectSecondsOpt = Annotated[
    float,
    number("--collect-seconds", "SECONDS", "How long a job created by `bulkdl collect` takes."),
]
RateLimitOpt = Annotated[
    int | None,
    number("--rate-limit", "N", "Enforce this many requests per minute per group (429)."),
]
FlakyOpt = Annotated[
    str | None,
    text(
        "--flaky",
        "FAULTS",
        "Faults for the first attempts of every job's download, e.g. "
        "'503,reset:20000' (also 429, stall:N:S, chunked:N, corrupt-gzip, ...).",
    ),
]
ScenarioOpt = Annotated[
    str | None,
    text(
        "--scenario",
        "NAMES",
        "Hostile but legal fleets, comma-separated: duplicate-job-ids, control-names.",
    ),
]
ArchiveKindOpt = Annotated[
    str,
    text(
        "--archive-kind",
        "KIND",
        "What every job's archive holds: logs, empty, empty-gzip, links, escaping-links, bomb.",
    ),
]


def emulate(
    port: PortOpt = 8089,
    groups: GroupCountOpt = 3,
    jobs: JobCountOpt = 6,
    archive_kib: ArchiveKibOpt = 256,
    collect_seconds: CollectSecondsOpt = 2.0,
    rate_limit: RateLimitOpt = None,
    flaky: FlakyOpt = None,
    scenario: ScenarioOpt = None,
    archive_kind: ArchiveKindOpt = "logs",
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    output: TableOrJsonOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Serve a Cloud Manager emulator on 127.0.0.1 for rehearsals.

    --json prints where it listens and its groups as one JSON line on stdout, once it is
    ready (the demo key pair is public: it works on this emulator only)."""
    only_formats(output, "emulate", Format.TABLE, Format.JSON)
    as_json = as_json or output is Format.JSON
    json_errors(as_json)
    import anyio

    from bulkdl.emulator import demo_fleet, parse_fault_specs, serve

    fleet = demo_fleet(groups=groups, jobs_per_group=jobs, archive_bytes=archive_kib * 1024)
    _shape(fleet, archive_kind, scenario, debug)
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
            for job in fleet.all_jobs() if faults else ():
                emu.state.add_download_faults(job.id, faults)
            _announce(console, emu, fleet, quiet=quiet, as_json=as_json)
            await anyio.sleep_forever()

    try:
        guarded(console, debug, main)
    except typer.Exit as stop:
        if stop.exit_code != ExitStatus.INTERRUPTED:
            raise
    if not quiet:
        say(console, "emulator stopped")


def _shape(fleet: Fleet, archive_kind: str, scenario: str | None, debug: bool) -> None:
    """--archive-kind and --scenario applied to the fleet; exit 2 naming a bad value."""
    from bulkdl.emulator.archive_kinds import ARCHIVE_KINDS
    from bulkdl.emulator.scenarios import apply_scenarios

    if archive_kind not in ARCHIVE_KINDS:
        fail_to_start(
            BulkdlError(f"--archive-kind: expected one of {', '.join(ARCHIVE_KINDS)}"), debug
        )
    for job in fleet.all_jobs():
        job.archive_kind = archive_kind
    try:
        apply_scenarios(fleet, scenario or "")
    except ValueError as exc:
        fail_to_start(BulkdlError(f"--scenario: {exc}"), debug)


def _announce(
    console: Console, emu: RunningEmulator, fleet: Fleet, *, quiet: bool, as_json: bool
) -> None:
    """Where the emulator listens, with the key pair and a config that reaches it."""
    from bulkdl.emulator import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY

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
        lines = (
            f"Cloud Manager emulator on {emu.base_url} (Ctrl-C stops it)\n"
            f"  export BULKDL_PUBLIC_KEY={DEMO_PUBLIC_KEY} "
            f"BULKDL_PRIVATE_KEY={DEMO_PRIVATE_KEY}\n"
            f"  bulkdl.toml:\n"
            f'    base_url = "{emu.base_url}"\n'
            f"    groups = [{ids}]\n"
            f'    out_dir = "./bulkdl-out"'
        )
        for line in lines.split("\n"):  # say() escapes a newline: one line each
            say(console, line)


def demo(
    out: Annotated[Path, path("--out", "DIR", "Where the demo archives go.")] = Path("bulkdl-demo"),
    concurrency: ConcurrencyOpt = 4,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
    output: FormatOpt = None,
) -> None:
    """Start the built-in emulator and download everything from it: the first thing to try."""
    as_json = as_json or output is Format.JSON
    json_errors(as_json)
    from bulkdl.domain.models import group_id
    from bulkdl.emulator import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, demo_fleet, serve
    from bulkdl.run.runner import Run
    from bulkdl.settings.load import Secret, Settings

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

    as_csv = output is Format.CSV
    _, summary = finish(
        console, reporter, main, quiet=quiet, as_json=as_json, debug=False, as_csv=as_csv
    )
    if not quiet:
        say(console, f"archives: {out}/<groupId>/<jobId>.tar.gz; manifest: {out}/manifest.jsonl")
    raise typer.Exit(summary.exit_status)
