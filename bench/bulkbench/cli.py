"""The command line: parse, set up (fixtures, server, tools), run every workload, report."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shlex
import shutil
import signal
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from .console import emit, say
from .fallback import start_fallback
from .fixtures import PRIVATE_KEY, Fixture, ensure_fixture
from .machine import machine_facts, stack_line
from .measure import measure
from .nginx import has_njs, nginx_binary, start_nginx
from .report import ToolSummary, summarise, table
from .runner import Plan, RunResult, run_workload
from .servers import Ports, Server
from .targets import Target, targets
from .tools import EQUAL, Tool, fastest_hasher, prepare_command
from .workloads import CHOICES, DEFAULT, Workload, select


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Benchmark bulkdl download against curl --parallel (and aria2c).",
    )
    p.add_argument("--quick", action="store_true", help="tiny workloads, 1 run: the CI smoke")
    p.add_argument("--runs", type=int, help="runs per tool and workload (default 5; quick 1)")
    p.add_argument("--workloads", nargs="+", choices=CHOICES, default=list(DEFAULT))
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--server", choices=["auto", "nginx", "emulator"], default="auto")
    p.add_argument(
        "--auth",
        choices=["auto", "digest", "none"],
        default="auto",
        help="auto: digest when the server can (nginx needs libnginx-mod-http-js)",
    )
    p.add_argument(
        "--workdir", type=Path, help="fixtures and outputs (default /tmp/bulkdl-bench[-quick])"
    )
    p.add_argument("--json", type=Path, help="results file (default WORKDIR/results.json)")
    p.add_argument("--bulkdl", help="the bulkdl command (default: the one beside this python)")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="another bulkdl command to time alongside, e.g. "
        "'proto=env PYTHONPATH=/tmp/proto python -m bulkdl'",
    )
    p.add_argument(
        "--settle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each run wait up to this long for the machine to go idle (shared boxes)",
    )
    p.add_argument("--no-curl", action="store_true", help="skip curl")
    p.add_argument("--no-equal", action="store_true", help=f"skip the {EQUAL} peer")
    p.add_argument("--no-aria2", action="store_true", help="skip aria2c even when installed")
    p.add_argument(
        "--serve-only",
        action="store_true",
        help="start the server with the fixtures, print a bulkdl command per workload and "
        "wait (Ctrl-C stops): for profiling bulkdl by hand",
    )
    return p.parse_args(argv)


@dataclass(slots=True)
class Setup:
    """Everything decided before the first run."""

    args: argparse.Namespace
    runs: int
    work: Path
    kind: str  # server: "nginx" or "emulator"
    auth: str
    workloads: list[Workload]
    tools: list[Tool]
    notes: list[str]


def choose_server(want: str) -> str:
    have_nginx = nginx_binary() is not None
    if want == "nginx" and not have_nginx:
        raise SystemExit(
            "nginx is not installed: apt-get update && apt-get install -y nginx-light "
            "libnginx-mod-http-js (or use --server emulator)"
        )
    if want == "auto":
        if not have_nginx:
            say(
                "hint: nginx not found, using the built-in emulator server; for the real "
                "benchmark: apt-get install -y nginx-light libnginx-mod-http-js"
            )
        return "nginx" if have_nginx else "emulator"
    return want


def default_bulkdl() -> tuple[str, ...]:
    beside = Path(sys.executable).parent / "bulkdl"
    if beside.exists():
        return (str(beside),)
    found = shutil.which("bulkdl")
    return (found,) if found else (sys.executable, "-m", "bulkdl")


def choose_tools(args: argparse.Namespace, auth: str, notes: list[str]) -> list[Tool]:
    """bulkdl and its variants first, then the peers that are installed and fit the auth."""
    bulkdl_cmd = tuple(shlex.split(args.bulkdl)) if args.bulkdl else default_bulkdl()
    tools = [Tool("bulkdl", "bulkdl", bulkdl_cmd)]
    for spec in args.variant:
        name, _, cmd = spec.partition("=")
        if not name or not cmd or name in ("bulkdl", "curl", "aria2c", EQUAL):
            raise SystemExit(f"--variant {spec!r}: expected NAME=COMMAND with a new name")
        tools.append(Tool(name, "bulkdl", tuple(shlex.split(cmd))))
    if not shutil.which("curl"):
        notes.append("curl not installed (apt-get install -y curl): no baseline")
    else:
        if not args.no_curl:
            tools.append(Tool("curl", "curl", ("curl",)))
        if not args.no_equal:
            hasher = fastest_hasher()
            tools.append(Tool(EQUAL, "equal", hasher))
            notes.append(f"{EQUAL}: curl, then sync, then `{shlex.join(hasher)}` of every file")
    if not args.no_aria2:
        if not shutil.which("aria2c"):
            notes.append("aria2c not installed (apt-get install -y aria2): not compared")
        elif auth != "none":
            notes.append("aria2c skipped: it has no HTTP Digest auth (run with --auth none)")
        else:
            tools.append(Tool("aria2c", "aria2c", ("aria2c",)))
    return tools


def plan_setup(args: argparse.Namespace) -> Setup:
    runs = args.runs or (1 if args.quick else 5)
    default_work = Path("/tmp/bulkdl-bench" + ("-quick" if args.quick else ""))  # noqa: S108
    work = (args.workdir or default_work).resolve()
    kind = choose_server(args.server)
    auth = args.auth
    if auth == "auto":
        auth = "digest" if kind == "emulator" or has_njs() else "none"
    if kind == "nginx" and auth == "digest" and not has_njs():
        raise SystemExit("--auth digest with nginx needs libnginx-mod-http-js (apt-get install)")
    notes: list[str] = []
    workloads = select(args.workloads, args.quick)
    if kind == "nginx" and not has_njs() and any(w.delay_ms for w in workloads):
        workloads = [w for w in workloads if not w.delay_ms]
        notes.append("wan workloads skipped: nginx needs libnginx-mod-http-js to delay requests")
    tools = choose_tools(args, auth, notes)
    return Setup(args, runs, work, kind, auth, workloads, tools, notes)


def prepare_workdir(setup: Setup) -> IO[str] | None:
    """Create the work dir, check its free space and lock it; returns the held lock."""
    work = setup.work
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # nginx workers (nobody) read the fixtures below
    lock = None
    if not setup.args.serve_only:
        lock = (work / ".lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SystemExit(f"another bench run is using {work} (use --workdir)") from None
        for d in ("out", "scratch"):
            shutil.rmtree(work / d, ignore_errors=True)
    free = shutil.disk_usage(work).free
    need = sum(w.jobs * w.size for w in setup.workloads) * (1 if setup.args.quick else 2)
    if free < need:
        raise SystemExit(f"{work}: {free / 2**30:.1f} GiB free, need about {need / 2**30:.1f} GiB")
    return lock


def start_server(setup: Setup, ports: Ports) -> Server:
    server_dir = setup.work / f"server-{os.getpid()}"  # this invocation's config and logs
    server_dir.mkdir(exist_ok=True)
    start = start_nginx if setup.kind == "nginx" else start_fallback
    return start(server_dir, setup.work / "www", ports, setup.auth)


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
    emit("- wall, CPU and peak RSS from wait4 of the tool, forked by a small helper process")
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
        "started": datetime.now(UTC).isoformat(),
        "quick": setup.args.quick,
        "runs": setup.runs,
        "concurrency": setup.args.concurrency,
        "server": {"kind": server.kind, "auth": server.auth, "about": server.description},
        "tools": [asdict(t) for t in setup.tools],
        **parts,
    }
    path.write_text(json.dumps(doc, indent=2, default=asdict))


def run_all(setup: Setup, server: Server, fixtures: list[Fixture]) -> int:
    """Every workload, then the start-up timing, the targets and the JSON; 1 if a run FAILED."""
    facts = machine_facts(setup.work)
    facts |= {f"{t.name} stack": stack_line(t.argv) for t in setup.tools if t.kind == "bulkdl"}
    emit_header(setup, server, facts)
    plan = Plan(server, setup.work, setup.args.concurrency, setup.args.settle)
    done: dict[str, list[ToolSummary]] = {}
    results: dict[str, list[RunResult]] = {}
    for fixture in fixtures:
        tools = [t for t in setup.tools if t.runs_on(fixture)]
        results[fixture.workload.key] = run_workload(fixture, tools, setup.runs, plan)
        done[fixture.workload.key] = summarise(fixture, results[fixture.workload.key], tools)
        emit_workload(fixture, done[fixture.workload.key])
    version_runs = 3 if setup.args.quick else 10
    version_wall, version_error = time_version(setup.tools[0], version_runs, setup.work)
    goals = targets(done, version_wall, version_error)
    emit_targets(goals, setup.args.quick)
    result_path = (setup.args.json or setup.work / "results.json").resolve()
    write_json(
        result_path,
        setup,
        server,
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
        argv, _ = prepare_command(setup.tools[0], fx, base_url, out, scratch, conc)
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
