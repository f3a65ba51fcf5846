"""The loopback server both tools download from, and what it saw (requests, 401s, CPU).

Two ports: `plain` answers at once, `wan` spends WAN_DELAY_MS on every request (401s
included), like a server across a WAN. Both write one access-log line per request,
`<connection> <status>`, which `read_traffic` counts.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .workloads import Workload


@dataclass(frozen=True, slots=True)
class Ports:
    plain: int
    wan: int

    @classmethod
    def free(cls) -> Ports:
        """Two ports the kernel has free (both held at once, so they differ)."""
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            b.bind(("127.0.0.1", 0))
            return cls(a.getsockname()[1], b.getsockname()[1])

    def base_url(self, workload: Workload) -> str:
        """Where `workload` is served: its listings name this URL in `downloadUrl`."""
        return f"http://127.0.0.1:{self.wan if workload.delay_ms else self.plain}"


@dataclass(slots=True)
class Server:
    kind: str  # "nginx" or "emulator"
    auth: str  # "digest" or "none"
    description: str
    ports: Ports
    log_path: Path
    proc: subprocess.Popen[bytes]
    log_offset: int = field(default=0)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM if self.kind == "emulator" else signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass(frozen=True, slots=True)
class Traffic:
    requests: int
    challenges: int  # 401 answers
    connections: int
    other_errors: int  # non-200, non-401 answers


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_listening(ports: Ports, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    """Return once both ports accept connections; exit with the server's log if it died."""
    deadline = time.monotonic() + 15
    waiting = [ports.plain, ports.wan]
    while waiting and time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited at start-up:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", waiting[0]), timeout=0.2):
                waiting.pop(0)
        except OSError:
            time.sleep(0.02)
    if waiting:
        proc.kill()
        raise SystemExit(f"{what} did not listen on 127.0.0.1:{waiting[0]} within 15 s")


def check_wan_delay(server: Server, delay_ms: int) -> float:
    """Time one request on the wan port (a group that does not exist: 401 or 404, after the
    delay); exit if it came back sooner than the delay, so a broken delay cannot pass."""
    conn = http.client.HTTPConnection("127.0.0.1", server.ports.wan, timeout=10)
    try:
        start = time.perf_counter()
        conn.request("GET", "/api/public/v1.0/groups/0/logCollectionJobs")
        status = conn.getresponse().status
        took = time.perf_counter() - start
    finally:
        conn.close()
    if took < delay_ms / 1000:
        raise SystemExit(
            f"the {server.kind} wan port answered {status} in {took * 1000:.0f} ms; "
            f"it should wait {delay_ms} ms"
        )
    return took


def skip_traffic(server: Server) -> None:
    """Forget what is logged so far (the previous run's lines were awaited after it)."""
    server.log_offset = server.log_path.stat().st_size


def read_traffic(server: Server) -> Traffic:
    """Requests logged since the last call (waits for the log to settle: lines land late)."""
    size, still = -1, 0
    while still < 2:
        time.sleep(0.02)
        now = server.log_path.stat().st_size
        still = still + 1 if now == size else 0
        size = now
    with server.log_path.open("rb") as f:
        f.seek(server.log_offset)
        data = f.read()
    server.log_offset += len(data)
    requests = challenges = errors = 0
    conns: set[bytes] = set()
    for line in data.splitlines():
        conn, _, status = line.partition(b" ")
        requests += 1
        conns.add(conn)
        if status == b"401":
            challenges += 1
        elif status != b"200":
            errors += 1
    return Traffic(requests, challenges, len(conns), errors)


def server_cpu_s(server: Server) -> float:
    """CPU seconds used so far by the server process and its children (nginx workers)."""
    pid = server.proc.pid
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            continue
    return total / os.sysconf("SC_CLK_TCK")
