"""The command line: set up, run every workload, print the tables and targets, write JSON."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import statistics
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from .console import emit, say
from .fixtures import PRIVATE_KEY, Fixture, ensure_fixture
from .machine import compile_bytecode, disk_stat, machine_facts, stack_line
from .measure import forker_floor_kib, measure
from .report import ToolSummary, summarise, table
from .runner import Plan, RunResult, run_workload
from .servers import Ports, Server
from .setup import Setup, parse_args, plan_setup, prepare_workdir, start_server
from .targets import Target, targets
from .tools import Tool, prepare_command


def emit_header(setup: Setup, server: Server, facts: dict[str, str]) -> None:
    emit("## bulkdl benchmark" + (" (--quick smoke)" if setup.args.quick else ""))
    emit()
    emit(f"- server: {server.kind} on 127.0.0.1:{server.ports.plain}: {server.description}")
    emit(
        f"- concurrency {setup.args.concurrency} for every tool; {setup.runs} run(s) per tool, "
        f"alternating {' '.join(t.name for t in setup.tools)} ..."
    )
    emit(
        "- bulkdl lists every group itself (requests include the listings); curl/aria2c "
        "get the URL list (no listing); bulkdl runs --quiet, curl -s"
    )
    emit(
        "- bulkdl fsyncs every archive before rename; curl and aria2c do not fsync "
        "(each run starts after sync, so earlier writeback is not billed to it)"
    )
    emit("- MB = 10^6 bytes; 'vs X' = X's median wall / the tool's median wall")
    emit(
        "- wall, CPU and peak RSS (ru_maxrss) from wait4 of the tool, spawned by a small helper "
        f"process: nothing below its {forker_floor_kib() / 1024:.1f} MiB can show"
    )
    for n in setup.notes:
        emit(f"- {n}")
    emit()
    for key, value in facts.items():
        emit(f"- {key}: {value}")


def emit_workload(fixture: Fixture, sums: list[ToolSummary]) -> None:
    wl = fixture.workload
    size = (
        f"{len(fixture.archives)} archives, {fixture.total_bytes / 1e6:,.1f} MB"
        if fixture.archives
        else f"{wl.jobs} jobs in {wl.groups} groups, nothing downloadable"
    )
    emit()
    emit(f"### {wl.title} ({size})")
    emit()
    emit(table(sums))
    if wl.kind == "listing":
        emit()
        emit("curl / aria2c: n/a (they do not list); bulkdl writes one manifest line per job")
    for s in sums:
        for e in s.errors:
            emit(f"- {s.tool} FAILED {e}")


def time_version(tool: Tool, runs: int, work: Path) -> tuple[float | None, str | None]:
    """Median wall of `bulkdl --version` (start-up alone), or why it could not be timed."""
    walls = []
    scratch = work / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    for _ in range(runs):
        m = measure([*tool.argv, "--version"], dict(os.environ), scratch / "version.log", scratch)
        if m.exit_code != 0:
            return None, f"FAILED (exit {m.exit_code})"
        walls.append(m.wall_s)
    return statistics.median(walls), None


def emit_targets(goals: list[Target], quick: bool) -> None:
    emit()
    emit("### Targets" + (" (quick: not the issue's sizes; informational)" if quick else ""))
    emit()
    emit("| target | measured | |")
    emit("|---|---|---|")
    for g in goals:
        emit(f"| {g.text} | {g.value} | {g.verdict} |")


def write_json(path: Path, setup: Setup, server: Server, **parts: object) -> None:
    doc = {
        "quick": setup.args.quick,
        "runs": setup.runs,
        "concurrency": setup.args.concurrency,
        "server": {"kind": server.kind, "auth": server.auth, "about": server.description},
        "tools": [asdict(t) for t in setup.tools],
        **parts,
    }
    path.write_text(json.dumps(doc, indent=2))


def run_all(setup: Setup, server: Server, fixtures: list[Fixture]) -> int:
    """Every workload, then the start-up timing, the targets and the JSON; 1 if a run FAILED."""
    started = datetime.now(UTC).isoformat()
    facts = machine_facts(setup.work)
    bulkdls = [t for t in setup.tools if t.kind == "bulkdl"]
    facts |= {f"{t.name} stack": stack_line(t.argv) for t in bulkdls}
    facts |= {f"{t.name} bytecode": compile_bytecode(t.argv) for t in bulkdls}
    emit_header(setup, server, facts)
    disk_wait = 0.0 if setup.args.quick else max(5.0, setup.args.settle)
    conc = setup.args.concurrency
    plan = Plan(server, setup.work, conc, setup.args.settle, disk_stat(setup.work), disk_wait)
    done: dict[str, list[ToolSummary]] = {}
    results: dict[str, list[RunResult]] = {}
    for fixture in fixtures:
        tools = [t for t in setup.tools if t.runs_on(fixture)]
        results[fixture.workload.key] = run_workload(fixture, tools, setup.runs, plan)
        done[fixture.workload.key] = summarise(fixture, results[fixture.workload.key], tools)
        emit_workload(fixture, done[fixture.workload.key])
    version_runs = 3 if setup.args.quick else 10
    version_wall, version_error = time_version(setup.tools[0], version_runs, setup.work)
    groups = {fx.workload.key: fx.workload.groups for fx in fixtures}
    goals = targets(done, version_wall, version_error, groups, conc)
    emit_targets(goals, setup.args.quick)
    result_path = (setup.args.json or setup.work / "results.json").resolve()
    write_json(
        result_path,
        setup,
        server,
        started=started,
        machine=facts,
        workloads={
            fx.workload.key: {
                "workload": asdict(fx.workload),
                "archives": len(fx.archives),
                "bytes": fx.total_bytes,
                "summary": [asdict(s) for s in done[fx.workload.key]],
                "runs": [asdict(r) for r in results[fx.workload.key]],
            }
            for fx in fixtures
        },
        version_wall_median=version_wall,
        targets=[asdict(g) for g in goals],
    )
    emit()
    emit(f"results: {result_path}")
    if any(not r.ok for rs in results.values() for r in rs):
        say("FAILED: a tool exited non-zero or wrote wrong bytes (see the tables)")
        return 1
    return 0


def serve_only(setup: Setup, server: Server, fixtures: list[Fixture]) -> int:
    """Keep the server up and say how to point bulkdl at each workload."""
    emit(f"server: {server.kind} on 127.0.0.1:{server.ports.plain}: {server.description}")
    emit(f"export BULKDL_PRIVATE_KEY={PRIVATE_KEY}")
    serve = setup.work / "serve"
    for fx in fixtures:
        out = setup.work / "serve-out" / fx.workload.key
        scratch = serve / fx.workload.key
        scratch.mkdir(parents=True, exist_ok=True)
        base_url = server.ports.base_url(fx.workload)
        conc = setup.args.concurrency
        argv, _ = prepare_command(setup.tools[0], fx, base_url, out, scratch, conc, server.ca_file)
        emit(f"# {fx.workload.title} (rm -rf {out} between runs)")
        emit(shlex.join(argv))
    emit("Ctrl-C stops the server")
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()
    return 0


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    # Background jobs start with SIGINT ignored; make both signals unwind through `finally`
    # so the server is always stopped.
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)
    setup = plan_setup(parse_args(argv))
    lock = prepare_workdir(setup)
    ports = Ports.free()
    fixtures = [
        ensure_fixture(w, setup.work / "www", setup.work / "meta", ports.base_url(w))
        for w in setup.workloads
    ]
    server = start_server(setup, ports)
    try:
        if setup.args.serve_only:
            return serve_only(setup, server, fixtures)
        return run_all(setup, server, fixtures)
    finally:
        server.stop()
        shutil.rmtree(setup.work / "out", ignore_errors=True)
        shutil.rmtree(server.log_path.parent, ignore_errors=True)
        if lock is not None:
            lock.close()


def run() -> int:
    """The entry point: exit 130 on Ctrl-C or SIGTERM, as bulkdl does."""
    try:
        return main()
    except KeyboardInterrupt:
        say("interrupted")
        return 130
