#!/usr/bin/env python3
"""Benchmark `bulkdl download` against `curl --parallel` (and aria2c) over loopback.

    python bench/run.py [--quick] [--runs N] [--workloads 5m 64k 512m list]
                        [--concurrency 16] [--server auto|nginx|emulator] [--auth auto|digest|none]

One run: generate incompressible gzip archives once (reused), start one loopback server (nginx
when installed, else an aiohttp static server with bulkdl's emulator digest), then per
workload run every tool `--runs` times, alternating A B A B, each into a fresh output folder
on the work dir's file system. Every output file is checked byte for byte (size + sha256)
against the fixture; a tool that wrote wrong bytes is FAILED, not timed. Prints machine facts,
one markdown table per workload and the issue's targets; writes the same as JSON.

Only the standard library here; the fallback server (a subprocess of this script) uses
aiohttp and bulkdl.emulator.digest, which bulkdl already depends on / ships.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fcntl
import gzip
import hashlib
import json
import os
import platform
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final

API: Final = "/api/public/v1.0"
PUBLIC_KEY: Final = "benchpub"
PRIVATE_KEY: Final = "bench-private-key-0000"  # a fake credential for a loopback server
MIB: Final = 1024 * 1024
KIB: Final = 1024
GEN_BLOCK: Final = 4 * MIB
HERE: Final = Path(__file__).resolve().parent
NJS_SOURCE: Final = HERE / "nginx_digest.js"
NJS_MODULE: Final = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")
BASE_TIME: Final = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


# ---------------------------------------------------------------- workloads and fixtures


@dataclass(frozen=True, slots=True)
class Workload:
    key: str  # what --workloads names
    title: str
    kind: str  # "download" or "listing"
    jobs: int
    size: int  # bytes of archive payload per job (0 for listing)
    groups: int

    @property
    def name(self) -> str:
        """Fixture folder name; also seeds the ids, so different sizes never share ids."""
        return f"{self.key}-{self.jobs}x{self.size}-g{self.groups}"


FULL: Final = {
    "5m": Workload("5m", "200 x 5 MiB", "download", 200, 5 * MIB, 10),
    "64k": Workload("64k", "2000 x 64 KiB", "download", 2000, 64 * KIB, 20),
    "512m": Workload("512m", "4 x 512 MiB", "download", 4, 512 * MIB, 1),
    "list": Workload("list", "listing 10,000 jobs / 200 groups", "listing", 10_000, 0, 200),
}
QUICK: Final = {
    "5m": Workload("5m", "quick: 4 x 1 MiB", "download", 4, 1 * MIB, 2),
    "64k": Workload("64k", "quick: 10 x 64 KiB", "download", 10, 64 * KIB, 2),
    "512m": Workload("512m", "quick: 1 x 4 MiB", "download", 1, 4 * MIB, 1),
    "list": Workload("list", "quick: listing 100 jobs / 2 groups", "listing", 100, 0, 2),
}


@dataclass(frozen=True, slots=True)
class Archive:
    group: str
    job: str
    size: int
    sha256: str


@dataclass(slots=True)
class Fixture:
    workload: Workload
    groups: list[str]
    jobs: dict[str, list[str]]  # group -> job ids
    archives: list[Archive]  # empty for a listing workload

    @property
    def total_bytes(self) -> int:
        return sum(a.size for a in self.archives)


def object_id(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:24]


def download_path(group: str, job: str) -> str:
    return f"{API}/groups/{group}/logCollectionJobs/{job}/download"


def listing_path(group: str) -> str:
    return f"{API}/groups/{group}/logCollectionJobs"


def write_archive(path: Path, size: int) -> tuple[int, str]:
    """A valid .tar.gz-named gzip member of `size` random bytes, stored (incompressible)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with (
        tmp.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=0, mtime=0) as gz,
    ):
        left = size
        while left > 0:
            n = min(GEN_BLOCK, left)
            gz.write(os.urandom(n))
            left -= n
    digest = hashlib.sha256()
    with tmp.open("rb") as f:
        while block := f.read(GEN_BLOCK):
            digest.update(block)
    tmp.replace(path)
    return path.stat().st_size, digest.hexdigest()


def job_doc(base_url: str, group: str, job: str, status: str, index: int) -> dict[str, Any]:
    """One job as the real API lists it (keys alphabetical, as Cloud Manager sends them)."""
    created = BASE_TIME - timedelta(hours=index)
    return {
        "creationDate": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "downloadUrl": f"{base_url}{download_path(group, job)}",
        "expirationDate": (created + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "groupId": group,
        "id": job,
        "logTypes": ["AUTOMATION_AGENT", "MONGODB", "FTDC"],
        "redacted": False,
        "resourceName": f"rs-{group[8:14]}",
        "resourceType": "replicaset",
        "rootResourceName": f"rs-{group[8:14]}",
        "rootResourceType": "replicaset",
        "sizeRequestedPerFileBytes": 10_000_000,
        "status": status,
        "uncompressedSizeTotalBytes": 3 * 10_000_000,
        "userId": "5c80f75fcf09a246878f67a4",
    }


def ensure_fixture(workload: Workload, www: Path, meta_dir: Path, base_url: str) -> Fixture:
    """Generate (or reuse) the archives, and (re)write each group's listing for `base_url`."""
    wl = workload
    groups = [object_id(wl.name, "group", g) for g in range(wl.groups)]
    jobs: dict[str, list[str]] = {g: [] for g in groups}
    for i in range(wl.jobs):
        g = groups[i % wl.groups]
        jobs[g].append(object_id(wl.name, "job", i))
    if max(len(v) for v in jobs.values()) > 500:
        raise SystemExit(f"{wl.name}: more than 500 jobs in a group would need a second page")
    meta_path = meta_dir / f"{wl.name}.json"
    archives: list[Archive] = []
    if wl.kind == "download":
        cached: dict[str, Archive] = {}
        if meta_path.exists():
            for item in json.loads(meta_path.read_text())["archives"]:
                a = Archive(**item)
                p = www / download_path(a.group, a.job).lstrip("/")
                if p.is_file() and p.stat().st_size == a.size:
                    cached[a.job] = a
        todo = [(g, j) for g in groups for j in jobs[g] if j not in cached]
        if todo:
            say(f"generating {len(todo)} archive(s) for {wl.title} ...")

            def make(gj: tuple[str, str]) -> Archive:
                g, j = gj
                size, sha = write_archive(www / download_path(g, j).lstrip("/"), wl.size)
                return Archive(g, j, size, sha)

            with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
                for a in pool.map(make, todo):
                    cached[a.job] = a
        archives = [cached[j] for g in groups for j in jobs[g]]
        meta_dir.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(json.dumps({"archives": [asdict(a) for a in archives]}))
    statuses = ("SUCCESS",) if wl.kind == "download" else ("IN_PROGRESS", "EXPIRED")
    for g in groups:
        path = listing_path(g)
        doc = {
            "links": [
                {"href": f"{base_url}{path}?pageNum=1&itemsPerPage=500", "rel": "self"},
            ],
            "results": [
                job_doc(base_url, g, j, statuses[i % len(statuses)], i)
                for i, j in enumerate(jobs[g])
            ],
            "totalCount": len(jobs[g]),
        }
        index = www / path.lstrip("/") / "index.json"
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_text(json.dumps(doc, separators=(",", ":")))
    return Fixture(wl, groups, jobs, archives)


# ---------------------------------------------------------------- servers


@dataclass(slots=True)
class Server:
    kind: str  # "nginx" or "emulator"
    auth: str  # "digest" or "none"
    description: str
    base_url: str
    log_path: Path
    proc: subprocess.Popen[bytes]
    log_offset: int = 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM if self.kind == "emulator" else signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy so far (all cores, from /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    except (OSError, ValueError):
        return 0.0
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def settle(max_wait_s: float, threshold: float = 0.15) -> float:
    """Wait (up to max_wait_s) until the machine is idle; return the busy fraction last seen.

    Busy = CPU used by anything over a 0.5 s window, as a fraction of one core. Other people's
    test suites on a shared box otherwise land in one tool's runs and not the other's.
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        before = machine_busy_s()
        time.sleep(0.5)
        busy = (machine_busy_s() - before) / 0.5
        if busy <= threshold or time.monotonic() >= deadline:
            return busy


def server_cpu_s(server: Server) -> float:
    """CPU seconds used so far by the server process and its children (nginx workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [server.proc.pid]
    try:
        children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text()
        pids += [int(p) for p in children.split()]
    except OSError:
        pass
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            continue
    return total / tick


@dataclass(frozen=True, slots=True)
class Traffic:
    requests: int
    challenges: int  # 401 answers
    connections: int
    other_errors: int  # non-200, non-401 answers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_listening(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited at start-up:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{what} did not listen on 127.0.0.1:{port} within 15 s")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def nginx_conf(work: Path, www: Path, port: int, auth: str, log: Path) -> str:
    njs = ""
    guard = ""
    if auth == "digest":
        js = work / "nginx_digest.js"
        src = NJS_SOURCE.read_text()
        for name, value in (
            ("USER", PUBLIC_KEY),
            ("PASS", PRIVATE_KEY),
            ("SECRET", secrets.token_hex(16)),
        ):
            src = src.replace(f"@{name}@", json.dumps(value))
        js.write_text(src)
        js.chmod(0o644)
        njs = (
            f"    js_import digest from {js};\n"
            "    js_set $digest_verdict digest.verdict;\n"
            "    js_set $digest_challenge digest.challenge;\n"
        )
        guard = (
            "            if ($digest_verdict != ok) {\n"
            "                add_header WWW-Authenticate $digest_challenge always;\n"
            "                return 401;\n"
            "            }\n"
        )
    tmp = work / "nginx-tmp"
    return f"""\
{"load_module " + str(NJS_MODULE) + ";" if auth == "digest" else ""}
daemon off;
master_process on;
worker_processes 2;
pid {work / "nginx.pid"};
error_log {work / "nginx-error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    types {{ }}
    default_type application/octet-stream;
    log_format bench '$connection $status';
    access_log {log} bench;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    server_tokens off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{njs}
    server {{
        listen 127.0.0.1:{port} reuseport;
        root {www};
        location ~ /logCollectionJobs$ {{
{guard}            default_type application/json;
            try_files $uri/index.json =404;
        }}
        location ~ /download$ {{
{guard}            default_type application/gzip;
        }}
        location / {{ return 404; }}
    }}
}}
"""


def start_nginx(work: Path, www: Path, port: int, auth: str) -> Server:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    log = work / "access.log"
    log.write_text("")
    (work / "nginx-tmp").mkdir(exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(nginx_conf(work, www, port, auth, log))
    check = subprocess.run(  # noqa: S603 -- a fixed argv, no shell
        [nginx, "-t", "-q", "-e", str(work / "nginx-error.log"), "-c", str(conf)],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0:
        raise SystemExit(f"nginx rejected {conf}:\n{check.stderr}{tail(work / 'nginx-error.log')}")
    proc = subprocess.Popen(  # noqa: S603 -- a fixed argv, no shell
        [nginx, "-e", str(work / "nginx-error.log"), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_listening(port, proc, "nginx", work / "nginx-error.log")
    version = tool_version([nginx, "-v"])
    how = (
        "digest auth (njs, realm MMS Public API, qop=auth)"
        if auth == "digest"
        else "NO auth ("
        + ("--auth none" if NJS_MODULE.exists() else "no libnginx-mod-http-js for digest")
        + "): curl --digest and bulkdl see no 401"
    )
    return Server(
        "nginx",
        auth,
        f"{version}, static files, sendfile, 2 workers, {how}",
        f"http://127.0.0.1:{port}",
        log,
        proc,
    )


def start_emulator(work: Path, www: Path, port: int, auth: str) -> Server:
    log = work / "access.log"
    log.write_text("")
    err = work / "emulator.log"
    with err.open("wb") as errf:
        proc = subprocess.Popen(  # noqa: S603 -- this script, a fixed argv
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--serve-emulator",
                json.dumps({"www": str(www), "port": port, "auth": auth, "log": str(log)}),
            ],
            stdout=subprocess.DEVNULL,
            stderr=errf,
        )
    wait_listening(port, proc, "the emulator server", err)
    how = "digest auth from bulkdl.emulator.digest" if auth == "digest" else "NO auth (--auth none)"
    return Server(
        "emulator",
        auth,
        f"built-in fallback: aiohttp static files (sendfile), 1 process, {how}",
        f"http://127.0.0.1:{port}",
        log,
        proc,
    )


def serve_emulator(spec: str) -> None:
    """The fallback server (a subprocess): aiohttp static files behind the emulator's digest."""
    import asyncio

    from aiohttp import web

    from bulkdl.emulator.digest import (
        NonceStore,
        Verdict,
        challenge_header,
        check_credentials,
        parse_authorization,
    )

    conf = json.loads(spec)
    www = Path(conf["www"]).resolve()
    nonces = NonceStore()
    keys = {PUBLIC_KEY: PRIVATE_KEY}
    log = open(conf["log"], "a", buffering=1)  # noqa: SIM115 -- lives as long as the server

    def note(request: web.Request, status: int) -> None:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        log.write(f"{peer[1] if peer else 0} {status}\n")

    async def handle(request: web.Request) -> web.StreamResponse:
        if conf["auth"] == "digest":
            verdict = check_credentials(
                parse_authorization(request.headers.get("Authorization")),
                method=request.method,
                uris={request.raw_path, request.path_qs},
                keys=keys,
                nonce_state=nonces.state,
            )
            if verdict is not Verdict.OK:
                note(request, 401)
                header = challenge_header(nonces.issue(), stale=verdict is Verdict.STALE)
                return web.Response(status=401, headers={"WWW-Authenticate": header})
        path = request.path
        if ".." in path or not path.startswith(API + "/groups/"):
            note(request, 404)
            return web.Response(status=404)
        if path.endswith("/logCollectionJobs"):
            file, ctype = www / path.lstrip("/") / "index.json", "application/json"
        elif path.endswith("/download"):
            file, ctype = www / path.lstrip("/"), "application/gzip"
        else:
            note(request, 404)
            return web.Response(status=404)
        if not file.is_file():
            note(request, 404)
            return web.Response(status=404)
        note(request, 200)
        return web.FileResponse(file, headers={"Content-Type": ctype})

    async def main() -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", conf["port"]).start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())


def read_traffic(server: Server) -> Traffic:
    """Requests logged since the last call (waits for the log to settle: lines land late)."""
    size, still = -1, 0
    while still < 3:
        time.sleep(0.05)
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


# ---------------------------------------------------------------- tools


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    kind: str  # "bulkdl", "curl" or "aria2c"
    argv: tuple[str, ...]  # the program (bulkdl: its command, maybe `env PYTHONPATH=... python -m`)


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
    rss_mib: float
    ru_maxrss_mib: float
    exit_code: int
    requests: int
    challenges: int
    connections: int
    other_errors: int
    files: int
    bytes: int
    error: str | None = None


def prepare_command(
    tool: Tool,
    fixture: Fixture,
    server: Server,
    out: Path,
    scratch: Path,
    concurrency: int,
) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if tool.kind == "bulkdl":
        cfg = scratch / "bulkdl.toml"
        groups = ", ".join(f'"{g}"' for g in fixture.groups)
        cfg.write_text(
            f'base_url = "{server.base_url}"\n'
            f'public_key = "{PUBLIC_KEY}"\n'
            f"groups = [{groups}]\n"
            f'out_dir = "{out}"\n'
            f"concurrency = {concurrency}\n"
            f"per_group_concurrency = {concurrency}\n"
        )
        env["BULKDL_PRIVATE_KEY"] = PRIVATE_KEY
        return [*tool.argv, "download", "--config", str(cfg), "--quiet"], env
    urls = [
        (f"{server.base_url}{download_path(a.group, a.job)}", out / a.group / f"{a.job}.tar.gz")
        for a in fixture.archives
    ]
    if tool.kind == "curl":
        cfg = scratch / "curl.cfg"
        cfg.write_text("".join(f'url = "{u}"\noutput = "{p}"\n' for u, p in urls))
        return [
            *tool.argv,
            "--parallel",
            "--parallel-max",
            str(concurrency),
            "--digest",
            "-u",
            f"{PUBLIC_KEY}:{PRIVATE_KEY}",
            "-s",
            "-S",
            "--fail",
            "--create-dirs",
            "-K",
            str(cfg),
        ], env
    lst = scratch / "aria2.list"
    lst.write_text("".join(f"{u}\n  out={p.relative_to(out)}\n" for u, p in urls))
    return [
        *tool.argv,
        "-j",
        str(concurrency),
        "-x1",
        "-i",
        str(lst),
        "-d",
        str(out),
        "--auto-file-renaming=false",
        "--allow-overwrite=true",
        "--file-allocation=none",
        "--console-log-level=warn",
        "--summary-interval=0",
        "--download-result=hide",
        "-q",
    ], env


def vm_hwm_kib(pid: int) -> int | None:
    """The process's own peak RSS since its exec (VmHWM), while it runs."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass(slots=True)
class Measured:
    exit_code: int
    wall_s: float
    user_s: float
    sys_s: float
    rss_kib: int  # peak RSS of the tool itself (VmHWM sampled every 5 ms)
    ru_maxrss_kib: int  # wait4's figure: includes the harness's RSS inherited at fork/exec


def measure(argv: Sequence[str], env: dict[str, str], log: Path, cwd: Path) -> Measured:
    """Run argv; wall time, CPU and peak RSS of exactly that process.

    ru_maxrss alone would over-report a small tool: Linux carries the forking parent's
    (this harness's) RSS into the child's maxrss at exec. VmHWM counts only after exec; a
    thread samples it (it is a high-water mark, so sampling misses only the last few ms).
    """
    peak = 0
    stop = threading.Event()

    def watch(pid: int) -> None:
        nonlocal peak
        while not stop.is_set():
            hwm = vm_hwm_kib(pid)
            if hwm is not None:
                peak = max(peak, hwm)
            stop.wait(0.005)

    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(  # noqa: S603 -- argv built above, no shell
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,  # not the repo: `python -m bulkdl` must import what PYTHONPATH says
        )
        watcher = threading.Thread(target=watch, args=(proc.pid,), daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        stop.set()
        watcher.join()
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped by wait4: tell Popen so it does not wait again
    return Measured(
        exit_code=code,
        wall_s=wall,
        user_s=usage.ru_utime,
        sys_s=usage.ru_stime,
        rss_kib=peak or usage.ru_maxrss,
        ru_maxrss_kib=usage.ru_maxrss,
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(GEN_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def verify_download(fixture: Fixture, out: Path) -> str | None:
    """None when every archive is on disk byte-exact and nothing else is; else what is wrong."""
    expected = {out / a.group / f"{a.job}.tar.gz": a for a in fixture.archives}
    bookkeeping = {"manifest.jsonl", ".bulkdl.lock"}
    found = {p for p in out.rglob("*") if p.is_file() and p.name not in bookkeeping}
    extra = sorted(found - set(expected))
    if extra:
        return f"{len(extra)} unexpected file(s), e.g. {extra[0]}"

    def check(item: tuple[Path, Archive]) -> str | None:
        path, a = item
        if not path.is_file():
            return f"missing {path}"
        if path.stat().st_size != a.size:
            return f"{path}: {path.stat().st_size} bytes, expected {a.size}"
        if sha256_file(path) != a.sha256:
            return f"{path}: sha256 differs from the served archive"
        return None

    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        problems = [p for p in pool.map(check, expected.items()) if p]
    if problems:
        return f"{len(problems)} bad file(s): {problems[0]}"
    return None


def verify_listing(fixture: Fixture, out: Path) -> str | None:
    manifest = out / "manifest.jsonl"
    try:
        lines = manifest.read_text().splitlines()
    except OSError as exc:
        return f"no manifest: {exc}"
    outcomes = [json.loads(line).get("outcome") for line in lines]
    bad = [o for o in outcomes if o != "not_downloadable"]
    if len(outcomes) != fixture.workload.jobs or bad:
        return (
            f"manifest has {len(outcomes)} lines ({len(bad)} not 'not_downloadable'), "
            f"expected {fixture.workload.jobs}"
        )
    return None


def run_once(
    tool: Tool,
    index: int,
    fixture: Fixture,
    server: Server,
    work: Path,
    concurrency: int,
    settle_s: float,
) -> RunResult:
    out = work / "out" / f"{tool.name}-{index}"
    scratch = work / "scratch" / tool.name
    for d in (out, scratch):
        shutil.rmtree(d, ignore_errors=True)
    out.mkdir(parents=True)
    scratch.mkdir(parents=True)
    argv, env = prepare_command(tool, fixture, server, out, scratch, concurrency)
    os.sync()  # start from no dirty pages: the previous run's writeback must not land on us
    read_traffic(server)  # skip anything logged before this run
    log = scratch / "output.log"
    idle_before = settle(settle_s) if settle_s > 0 else None
    server_before = server_cpu_s(server)
    machine_before = machine_busy_s()
    m = measure(argv, env, log, scratch)
    machine_cpu = machine_busy_s() - machine_before
    traffic = read_traffic(server)
    server_cpu = server_cpu_s(server) - server_before
    other_cpu = max(0.0, machine_cpu - server_cpu - m.user_s - m.sys_s)
    error: str | None = None
    if m.exit_code != 0:
        error = f"exit {m.exit_code}: {tail(log, 5)}"
    elif fixture.workload.kind == "download":
        error = verify_download(fixture, out)
    else:
        error = verify_listing(fixture, out)
    shutil.rmtree(out, ignore_errors=True)
    os.sync()
    return RunResult(
        tool=tool.name,
        run=index,
        ok=error is None,
        wall_s=m.wall_s,
        cpu_s=m.user_s + m.sys_s,
        user_s=m.user_s,
        sys_s=m.sys_s,
        server_cpu_s=server_cpu,
        other_cpu_s=other_cpu,
        busy_before=idle_before,
        rss_mib=m.rss_kib / 1024,
        ru_maxrss_mib=m.ru_maxrss_kib / 1024,
        exit_code=m.exit_code,
        requests=traffic.requests,
        challenges=traffic.challenges,
        connections=traffic.connections,
        other_errors=traffic.other_errors,
        files=len(fixture.archives),
        bytes=fixture.total_bytes,
        error=error,
    )


# ---------------------------------------------------------------- report


@dataclass(slots=True)
class ToolSummary:
    tool: str
    runs: int
    failed: int
    wall_median: float | None = None
    wall_min: float | None = None
    wall_max: float | None = None
    mb_s: float | None = None
    files_s: float | None = None
    cpu_median: float | None = None
    cpu_max: float | None = None
    server_cpu_median: float | None = None
    other_cpu_median: float | None = None
    rss_max: float | None = None
    requests: float | None = None
    challenges: float | None = None
    connections: float | None = None
    vs_curl: float | None = None
    errors: list[str] = field(default_factory=list)


def summarise(fixture: Fixture, results: list[RunResult], tools: list[Tool]) -> list[ToolSummary]:
    out: list[ToolSummary] = []
    for tool in tools:
        mine = [r for r in results if r.tool == tool.name]
        good = [r for r in mine if r.ok]
        s = ToolSummary(tool.name, len(mine), len(mine) - len(good))
        s.errors = [f"run {r.run}: {r.error}" for r in mine if r.error]
        if good:
            walls = [r.wall_s for r in good]
            s.wall_median = statistics.median(walls)
            s.wall_min, s.wall_max = min(walls), max(walls)
            if fixture.archives:
                s.mb_s = fixture.total_bytes / 1e6 / s.wall_median
                s.files_s = len(fixture.archives) / s.wall_median
            s.cpu_median = statistics.median(r.cpu_s for r in good)
            s.cpu_max = max(r.cpu_s for r in good)
            s.server_cpu_median = statistics.median(r.server_cpu_s for r in good)
            s.other_cpu_median = statistics.median(r.other_cpu_s for r in good)
            s.rss_max = max(r.rss_mib for r in good)
            s.requests = statistics.median(r.requests for r in good)
            s.challenges = statistics.median(r.challenges for r in good)
            s.connections = statistics.median(r.connections for r in good)
        out.append(s)
    curl = next((s for s in out if s.tool == "curl" and s.wall_median), None)
    for s in out:
        if curl is not None and curl.wall_median and s.wall_median:
            s.vs_curl = curl.wall_median / s.wall_median
    return out


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def table(fixture: Fixture, summaries: list[ToolSummary]) -> str:
    head = (
        "| tool | runs | wall s median [min-max] | MB/s | files/s | CPU s median | "
        "server CPU s | other CPU s | peak RSS MiB | requests/run | 401s/run | conns/run | "
        "vs curl |"
    )
    rows = [head, "|" + "---|" * 13]
    for s in summaries:
        if s.wall_median is None:
            rows.append(f"| {s.tool} | {s.runs} | FAILED ({s.failed}/{s.runs}) |" + " |" * 10)
            continue
        wall = f"{s.wall_median:.3f} [{s.wall_min:.3f}-{s.wall_max:.3f}]"
        failed = f" ({s.failed} FAILED)" if s.failed else ""
        rows.append(
            f"| {s.tool} | {s.runs}{failed} | {wall} | {fmt(s.mb_s, '.0f')} | "
            f"{fmt(s.files_s, ',.0f')} | {fmt(s.cpu_median, '.2f')} | "
            f"{fmt(s.server_cpu_median, '.2f')} | {fmt(s.other_cpu_median, '.2f')} | "
            f"{fmt(s.rss_max, '.1f')} | "
            f"{fmt(s.requests, '.0f')} | {fmt(s.challenges, '.0f')} | "
            f"{fmt(s.connections, '.0f')} | {fmt(s.vs_curl, '.2f') + 'x' if s.vs_curl else 'n/a'} |"
        )
    return "\n".join(rows)


@dataclass(frozen=True, slots=True)
class Target:
    text: str
    value: str
    passed: bool | None  # None: not measured in this run


def targets(done: dict[str, tuple[Fixture, list[ToolSummary]]]) -> list[Target]:
    def bulk(key: str) -> ToolSummary | None:
        got = done.get(key)
        return next((s for s in got[1] if s.tool == "bulkdl"), None) if got else None

    out: list[Target] = []
    for key, need, what in (
        ("5m", 1.1, "throughput >= 1.1x curl on 200 x 5 MiB"),
        ("512m", 1.1, "throughput >= 1.1x curl on 4 x 512 MiB"),
        ("64k", 1.0, "files/s >= 1.0x curl on 2000 x 64 KiB"),
    ):
        s = bulk(key)
        ratio = s.vs_curl if s else None
        shown = "n/a" if ratio is None else f"{ratio:.2f}x"
        out.append(Target(what, shown, None if ratio is None else ratio >= need))
    for key, what in (("512m", "4 x 512 MiB"), ("list", "10,000 jobs")):
        s = bulk(key)
        rss = s.rss_max if s else None
        out.append(
            Target(
                f"peak RSS <= 64 MiB on {what}",
                "n/a" if rss is None else f"{rss:.1f} MiB",
                None if rss is None else rss <= 64,
            )
        )
    s = bulk("list")
    cpu = s.cpu_median if s else None
    out.append(
        Target(
            "listing 10,000 jobs in <= 2 s client CPU",
            "n/a" if cpu is None else f"{cpu:.2f} s",
            None if cpu is None else cpu <= 2.0,
        )
    )
    challenges = [
        s.challenges
        for _, sums in done.values()
        for s in sums
        if s.tool == "bulkdl" and s.challenges is not None
    ]
    worst = max(challenges) if challenges else None
    out.append(
        Target(
            "<= 1 401 challenge per run (one connection pool)",
            "n/a" if worst is None else f"{worst:.0f} (worst workload)",
            None if worst is None else worst <= 1,
        )
    )
    return out


def tool_version(argv: list[str], cwd: Path | None = None) -> str:
    try:
        p = subprocess.run(  # noqa: S603 -- fixed argv
            argv, capture_output=True, text=True, timeout=10, check=False, cwd=cwd
        )
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (p.stdout or p.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def machine_facts(work: Path, tools: list[Tool]) -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    fs = "unknown"
    try:
        best = ""
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mnt, typ = line.split()[:3]
            if str(work).startswith(mnt) and len(mnt) >= len(best):
                best, fs = mnt, f"{typ} on {dev} (mounted at {mnt})"
    except OSError:
        pass
    facts = {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "os": _os_name(),
        "workdir": f"{work} ({fs})",
        "python (harness)": platform.python_version(),
        "curl": tool_version(["curl", "--version"]),
        "nginx": tool_version([shutil.which("nginx") or "/usr/sbin/nginx", "-v"]),
        "aria2c": tool_version(["aria2c", "--version"]),
    }
    for tool in tools:
        if tool.kind == "bulkdl":
            facts[f"{tool.name} stack"] = tool_version(
                [*_python_of(tool), "-c", _VERSIONS_SNIPPET], cwd=Path("/")
            )
    return facts


_VERSIONS_SNIPPET: Final = (
    "import sys, importlib.metadata as m, bulkdl;"
    "print('python', sys.version.split()[0], ' '.join("
    "f'{p} {m.version(p)}' for p in ('bulkdl','aiohttp','aiofiles','anyio')),"
    "'from', bulkdl.__file__)"
)


def _python_of(tool: Tool) -> list[str]:
    """The interpreter (with any `env X=Y` prefix) that runs a bulkdl command."""
    argv = list(tool.argv)
    if "-m" in argv:
        return argv[: argv.index("-m")]
    exe = Path(argv[-1])
    try:
        first = exe.read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return [sys.executable]
    return [*argv[:-1], first[2:].strip()] if first.startswith("#!") else [sys.executable]


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


# ---------------------------------------------------------------- main


def say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def default_bulkdl() -> tuple[str, ...]:
    beside = Path(sys.executable).parent / "bulkdl"
    if beside.exists():
        return (str(beside),)
    found = shutil.which("bulkdl")
    return (found,) if found else (sys.executable, "-m", "bulkdl")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark bulkdl download against curl --parallel (and aria2c).",
    )
    p.add_argument("--quick", action="store_true", help="tiny workloads, 1 run: the CI smoke")
    p.add_argument("--runs", type=int, help="runs per tool and workload (default 5; quick 1)")
    p.add_argument(
        "--workloads", nargs="+", choices=sorted(FULL), default=["5m", "64k", "512m", "list"]
    )
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
    p.add_argument("--no-aria2", action="store_true", help="skip aria2c even when installed")
    p.add_argument(
        "--serve-only",
        action="store_true",
        help="start the server with the fixtures, print a bulkdl command per workload and "
        "wait (Ctrl-C stops): for profiling bulkdl by hand",
    )
    p.add_argument("--serve-emulator", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def choose_server(want: str, quick: bool) -> str:
    have_nginx = shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists()
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


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Background jobs start with SIGINT ignored; make both signals unwind through `finally`
    # so the server is always stopped.
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)
    if args.serve_emulator:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness stops us with SIGTERM
        serve_emulator(args.serve_emulator)
        return 0
    runs = args.runs or (1 if args.quick else 5)
    catalogue = QUICK if args.quick else FULL
    workloads = [catalogue[k] for k in dict.fromkeys(args.workloads)]
    work = (
        args.workdir or Path("/tmp/bulkdl-bench" + ("-quick" if args.quick else ""))  # noqa: S108
    ).resolve()
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # nginx workers (nobody) read the fixtures below
    www = work / "www"
    kind = choose_server(args.server, args.quick)
    auth = args.auth
    if auth == "auto":
        auth = "digest" if kind == "emulator" or NJS_MODULE.exists() else "none"
    if kind == "nginx" and auth == "digest" and not NJS_MODULE.exists():
        raise SystemExit("--auth digest with nginx needs libnginx-mod-http-js (apt-get install)")

    bulkdl_cmd = tuple(shlex.split(args.bulkdl)) if args.bulkdl else default_bulkdl()
    tools: list[Tool] = [Tool("bulkdl", "bulkdl", bulkdl_cmd)]
    for spec in args.variant:
        name, _, cmd = spec.partition("=")
        if not name or not cmd or name in ("bulkdl", "curl", "aria2c"):
            raise SystemExit(f"--variant {spec!r}: expected NAME=COMMAND with a new name")
        tools.append(Tool(name, "bulkdl", tuple(shlex.split(cmd))))
    notes: list[str] = []
    if not args.no_curl:
        if shutil.which("curl"):
            tools.append(Tool("curl", "curl", ("curl",)))
        else:
            notes.append("curl not installed (apt-get install -y curl): no baseline")
    if not args.no_aria2:
        if not shutil.which("aria2c"):
            notes.append("aria2c not installed (apt-get install -y aria2): not compared")
        elif auth != "none":
            notes.append("aria2c skipped: it has no HTTP Digest auth (run with --auth none)")
        else:
            tools.append(Tool("aria2c", "aria2c", ("aria2c",)))

    if not args.serve_only:
        lock = (work / ".lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SystemExit(f"another bench run is using {work} (use --workdir)") from None
        for d in ("out", "scratch"):
            shutil.rmtree(work / d, ignore_errors=True)
    usage = shutil.disk_usage(work)
    need = sum(w.jobs * w.size for w in workloads) * (2 if not args.quick else 1)
    if usage.free < need:
        raise SystemExit(
            f"{work}: {usage.free / 2**30:.1f} GiB free, need about {need / 2**30:.1f} GiB"
        )
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    fixtures = [ensure_fixture(w, www, work / "meta", base_url) for w in workloads]
    server_dir = work / f"server-{os.getpid()}"  # config and logs of this invocation's server
    server_dir.mkdir(exist_ok=True)
    server = (start_nginx if kind == "nginx" else start_emulator)(server_dir, www, port, auth)
    if args.serve_only:
        return serve_only(server, fixtures, work, args.concurrency, bulkdl_cmd)
    started = datetime.now(UTC)
    done: dict[str, tuple[Fixture, list[ToolSummary]]] = {}
    all_results: dict[str, list[RunResult]] = {}
    any_wrong = False
    try:
        facts = machine_facts(work, tools)
        emit("## bulkdl benchmark" + (" (--quick smoke)" if args.quick else ""))
        emit("")
        emit(f"- server: {server.kind} on {server.base_url}: {server.description}")
        emit(
            f"- concurrency {args.concurrency} for every tool; {runs} run(s) per tool, "
            f"alternating {' '.join(t.name for t in tools)} ..."
        )
        emit(
            "- bulkdl lists every group itself (requests include the listings); curl/aria2c "
            "get the URL list (no listing); bulkdl runs --quiet, curl -s"
        )
        emit(
            "- bulkdl fsyncs every archive before rename; curl and aria2c do not fsync "
            "(each run starts after sync, so earlier writeback is not billed to it)"
        )
        emit("- MB = 10^6 bytes; 'vs curl' = curl median wall / tool median wall")
        for n in notes:
            emit(f"- {n}")
        emit("")
        for key, value in facts.items():
            emit(f"- {key}: {value}")
        for fixture in fixtures:
            wl = fixture.workload
            wl_tools = [t for t in tools if wl.kind == "download" or t.kind == "bulkdl"]
            results: list[RunResult] = []
            say(f"{wl.title}: {runs} x {', '.join(t.name for t in wl_tools)}")
            for i in range(runs):
                for tool in wl_tools:
                    r = run_once(tool, i, fixture, server, work, args.concurrency, args.settle)
                    results.append(r)
                    say(
                        f"  {tool.name} run {i}: {'ok' if r.ok else 'FAILED'} "
                        f"{r.wall_s:.3f}s cpu {r.cpu_s:.2f}s rss {r.rss_mib:.1f}MiB "
                        f"req {r.requests} 401 {r.challenges} conns {r.connections} "
                        f"server {r.server_cpu_s:.2f}s other {r.other_cpu_s:.2f}s"
                        + (f" -- {r.error}" if r.error else "")
                    )
                    any_wrong = any_wrong or not r.ok
            sums = summarise(fixture, results, wl_tools)
            done[wl.key] = (fixture, sums)
            all_results[wl.key] = results
            size = (
                f"{len(fixture.archives)} archives, {fixture.total_bytes / 1e6:,.1f} MB"
                if fixture.archives
                else f"{wl.jobs} jobs in {wl.groups} groups, nothing downloadable"
            )
            emit("")
            emit(f"### {wl.title} ({size})")
            emit("")
            emit(table(fixture, sums))
            if wl.kind == "listing":
                emit("")
                emit(
                    "curl / aria2c: n/a (they do not list); bulkdl writes one manifest line per job"
                )
            for s in sums:
                for e in s.errors:
                    emit(f"- {s.tool} FAILED {e}")
    finally:
        server.stop()
        shutil.rmtree(work / "out", ignore_errors=True)
        shutil.rmtree(server_dir, ignore_errors=True)
    goals = targets(done)
    emit("")
    emit("### Targets" + (" (quick: not the issue's sizes; informational)" if args.quick else ""))
    emit("")
    emit("| target | measured | |")
    emit("|---|---|---|")
    for g in goals:
        verdict = "n/a" if g.passed is None else ("PASS" if g.passed else "MISS")
        emit(f"| {g.text} | {g.value} | {verdict} |")
    result_path = (args.json or work / "results.json").resolve()
    result_path.write_text(
        json.dumps(
            {
                "started": started.isoformat(),
                "quick": args.quick,
                "runs": runs,
                "concurrency": args.concurrency,
                "server": {"kind": server.kind, "auth": server.auth, "about": server.description},
                "machine": facts,
                "tools": [asdict(t) for t in tools],
                "workloads": {
                    key: {
                        "title": fx.workload.title,
                        "workload": asdict(fx.workload),
                        "archives": len(fx.archives),
                        "bytes": fx.total_bytes,
                        "summary": [asdict(s) for s in sums],
                        "runs": [asdict(r) for r in all_results[key]],
                    }
                    for key, (fx, sums) in done.items()
                },
                "targets": [asdict(g) for g in goals],
            },
            indent=2,
        )
    )
    emit("")
    emit(f"results: {result_path}")
    if any_wrong:
        say("FAILED: a tool exited non-zero or wrote wrong bytes (see the tables)")
        return 1
    return 0


def serve_only(
    server: Server,
    fixtures: list[Fixture],
    work: Path,
    concurrency: int,
    bulkdl_cmd: tuple[str, ...],
) -> int:
    """Keep the server up and say how to point bulkdl at each workload."""
    emit(f"server: {server.kind} on {server.base_url}: {server.description}")
    emit(f"export BULKDL_PRIVATE_KEY={PRIVATE_KEY}")
    (work / "serve").mkdir(exist_ok=True)
    for fx in fixtures:
        out = work / "serve-out" / fx.workload.key
        tool = Tool("bulkdl", "bulkdl", bulkdl_cmd)
        argv, _ = prepare_command(tool, fx, server, out, work / "serve", concurrency)
        cfg = work / "serve" / f"{fx.workload.key}.toml"
        (work / "serve" / "bulkdl.toml").replace(cfg)
        argv[argv.index("--config") + 1] = str(cfg)
        emit(f"# {fx.workload.title} (rm -rf {out} between runs)")
        emit(shlex.join(argv))
    emit("Ctrl-C stops the server")
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        shutil.rmtree(server.log_path.parent, ignore_errors=True)
    return 0


def emit(line: str, stream: IO[str] | None = None) -> None:
    (stream or sys.stdout).write(line + "\n")
    (stream or sys.stdout).flush()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(130)
