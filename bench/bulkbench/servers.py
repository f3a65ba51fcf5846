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

from .workloads import LINK_RTTS_MS, Workload


@dataclass(frozen=True, slots=True)
class Ports:
    plain: int
    wan: int
    tls: int = 0  # the server's HTTPS port, behind the link (fallback server only)
    links: tuple[tuple[int, int], ...] = ()  # (RTT ms, the link's port) for each RTT

    @classmethod
    def free(cls) -> Ports:
        """Ports the kernel has free (all held at once, so they differ)."""
        socks = [socket.socket() for _ in range(3 + len(LINK_RTTS_MS))]
        try:
            for s in socks:
                s.bind(("127.0.0.1", 0))
            n = [s.getsockname()[1] for s in socks]
        finally:
            for s in socks:
                s.close()
        return cls(n[0], n[1], n[2], tuple(zip(LINK_RTTS_MS, n[3:], strict=True)))

    def base_url(self, workload: Workload) -> str:
        """Where `workload` is served: its listings name this URL in `downloadUrl`."""
        if workload.rtt_ms:
            return f"https://127.0.0.1:{dict(self.links)[workload.rtt_ms]}"
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
    # the link model (link.py) when link workloads run: its process and connection log
    link: subprocess.Popen[bytes] | None = None
    link_log: Path | None = None
    link_offset: int = 0
    ca_file: Path | None = None  # the throwaway CA the HTTPS port's certificate is from

    def stop(self) -> None:
        if self.link is not None and self.link.poll() is None:
            self.link.terminate()
            self.link.wait(10)
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
    if server.link_log is not None:
        server.link_offset = server.link_log.stat().st_size


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
    if server.link_log is not None and server.link_log.stat().st_size > server.link_offset:
        # Through the link: count the TCP connections it accepted (one line each), which
        # includes any connection that never carried a request.
        with server.link_log.open("rb") as f:
            f.seek(server.link_offset)
            accepted = f.read()
        server.link_offset += len(accepted)
        return Traffic(requests, challenges, accepted.count(b"\n"), errors)
    return Traffic(requests, challenges, len(conns), errors)


def server_cpu_s(server: Server) -> float:
    """CPU seconds used so far by the server process and its children (nginx workers)."""
    pid = server.proc.pid
    pids = [pid] + ([server.link.pid] if server.link is not None else [])
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
