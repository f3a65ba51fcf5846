"""One timed run of one tool on one workload, and the A B A B rotation over runs."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .console import say
from .fixtures import Fixture
from .machine import machine_busy_s, settle, wait_disk_idle
from .measure import Measured, measure
from .servers import Server, read_traffic, server_cpu_s, skip_traffic, tail
from .tools import Tool, prepare_command
from .verify import verify_download, verify_listing, verify_sums


@dataclass(frozen=True, slots=True)
class Plan:
    """What every run shares."""

    server: Server
    work: Path
    concurrency: int
    settle_s: float
    disk: Path | None  # the work dir's disk counters, to wait for it to go idle
    disk_wait_s: float  # at most this long (0: do not wait, the quick smoke)


@dataclass(slots=True)
class RunResult:
    tool: str
    run: int
    ok: bool
    wall_s: float
    cpu_s: float
    user_s: float
    sys_s: float
    server_cpu_s: float
    other_cpu_s: float  # the rest of the machine meanwhile: other processes, kernel writeback
    busy_before: float | None  # cores busy just before the run (with --settle)
    disk_wait_s: float  # waited for the disk to go idle before the run
    rss_mib: float
    exit_code: int
    requests: int
    challenges: int
    connections: int
    other_errors: int
    files: int
    bytes: int
    error: str | None = None


def run_workload(fixture: Fixture, tools: list[Tool], runs: int, plan: Plan) -> list[RunResult]:
    """Every tool `runs` times, alternating (A B A B ...), so drift hits all tools alike."""
    results: list[RunResult] = []
    say(f"{fixture.workload.title}: {runs} x {', '.join(t.name for t in tools)}")
    for i in range(runs):
        for tool in tools:
            r = run_once(tool, i, fixture, plan)
            results.append(r)
            say(
                f"  {tool.name} run {i}: {'ok' if r.ok else 'FAILED'} "
                f"{r.wall_s:.3f}s cpu {r.cpu_s:.2f}s rss {r.rss_mib:.1f}MiB "
                f"req {r.requests} 401 {r.challenges} conns {r.connections} "
                f"server {r.server_cpu_s:.2f}s other {r.other_cpu_s:.2f}s"
                + (f" -- {r.error}" if r.error else "")
            )
    return results


def run_once(tool: Tool, index: int, fixture: Fixture, plan: Plan) -> RunResult:
    """A fresh output folder, `sync`, an idle disk, (settle), the timed run, then the
    byte-for-byte check."""
    out = plan.work / "out" / f"{tool.name}-{index}"
    scratch = plan.work / "scratch" / tool.name
    for d in (out, scratch):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True, mode=0o700)  # private, as bulkdl wants its OUT (else it warns)
    base_url = plan.server.ports.base_url(fixture.workload)
    argv, env = prepare_command(
        tool, fixture, base_url, out, scratch, plan.concurrency, plan.server.ca_file
    )
    os.sync()  # start from no dirty pages: the previous run's writeback must not land on us
    disk_wait = wait_disk_idle(plan.disk, plan.disk_wait_s)
    skip_traffic(plan.server)  # e.g. the wan port's check at start
    log = scratch / "output.log"
    busy_before = settle(plan.settle_s) if plan.settle_s > 0 else None
    server_before = server_cpu_s(plan.server)
    machine_before = machine_busy_s()
    m = measure(argv, env, log, scratch)
    machine_cpu = machine_busy_s() - machine_before
    server_cpu = server_cpu_s(plan.server) - server_before
    traffic = read_traffic(plan.server)
    error = check_run(tool, fixture, m, out, scratch)
    shutil.rmtree(out, ignore_errors=True)
    return RunResult(
        tool=tool.name,
        run=index,
        ok=error is None,
        wall_s=m.wall_s,
        cpu_s=m.user_s + m.sys_s,
        user_s=m.user_s,
        sys_s=m.sys_s,
        server_cpu_s=server_cpu,
        other_cpu_s=max(0.0, machine_cpu - server_cpu - m.user_s - m.sys_s),
        busy_before=busy_before,
        disk_wait_s=disk_wait,
        rss_mib=m.rss_kib / 1024,
        exit_code=m.exit_code,
        requests=traffic.requests,
        challenges=traffic.challenges,
        connections=traffic.connections,
        other_errors=traffic.other_errors,
        files=len(fixture.archives),
        bytes=fixture.total_bytes,
        error=error,
    )


def check_run(tool: Tool, fixture: Fixture, m: Measured, out: Path, scratch: Path) -> str | None:
    """None when the run is good; else why it is FAILED."""
    if m.exit_code != 0:
        return f"exit {m.exit_code}: {tail(scratch / 'output.log', 5)}"
    if fixture.workload.kind == "listing":
        return verify_listing(fixture, out)
    return verify_download(fixture, out) or (
        verify_sums(fixture, scratch / "sums") if tool.kind == "equal" else None
    )
