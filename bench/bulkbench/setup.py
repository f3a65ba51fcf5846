"""Everything decided before the first run: arguments, work dir, server, tools."""

from __future__ import annotations

import argparse
import fcntl
import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .console import say
from .fallback import start_fallback
from .link import start_link
from .nginx import has_njs, nginx_binary, start_nginx
from .servers import Ports, Server, check_wan_delay, wait_listening
from .tlsca import make_tls
from .tools import EQUAL, Tool, fastest_hasher
from .workloads import CHOICES, DEFAULT, LINK_RATE_MBIT, WAN_DELAY_MS, Workload, select


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
    if kind == "nginx" and any(w.rtt_ms for w in workloads):
        workloads = [w for w in workloads if not w.rtt_ms]
        notes.append("link workloads skipped: they run on the built-in server (--server emulator)")
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
    www = setup.work / "www"
    if setup.kind == "nginx":
        server = start_nginx(server_dir, www, ports, setup.auth)
    elif any(w.rtt_ms for w in setup.workloads):
        tls = make_tls(server_dir / "tls")
        server = start_fallback(server_dir, www, ports, setup.auth, tls.cert_chain)
        server.ca_file = tls.ca
        server.link, server.link_log = start_link(
            server_dir, ports.links, ports.tls, LINK_RATE_MBIT
        )
        try:
            for _, port in ports.links:
                wait_listening(Ports(port, port), server.link, "the link", server_dir / "link.err")
        except BaseException:
            server.stop()
            raise
        server.description += (
            f"; link: user-space asyncio proxy, RTT {'/'.join(str(r) for r, _ in ports.links)} ms"
            f" (RTT/2 each way per chunk, 1 RTT before a connection's first byte), "
            f"{LINK_RATE_MBIT} Mbit/s downstream per connection"
        )
    else:
        server = start_fallback(server_dir, www, ports, setup.auth)
    if any(w.delay_ms for w in setup.workloads):
        try:
            check_wan_delay(server, WAN_DELAY_MS)
        except BaseException:
            server.stop()
            raise
    return server
