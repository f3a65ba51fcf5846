"""The `search` workload: `bulkdl search` over a pull of realistic mongod JSON logs, against
`tar -xzOf A | grep -F P` over every archive (and zgrep, `rg -z`), wall, CPU and peak RSS.

    python bench/search.py            # >= 1 GB of logs in >= 100 archives, plus a 24 h pull
    python bench/search.py --quick    # small, seconds: a smoke run

Two fixtures, built once into --work and reused (their content is mongolog.py's, the emulator's
generator: one archive's members are rendered once and every archive carries them under its
own ids, so building stays in seconds; each archive is gzipped on its own):
- `plain`: N archives of 3 hosts x one mongod.log each, the tar|grep comparison (tar sees
  every line: no member is compressed inside);
- `day`: archives of a 24 h pull rotated hourly (mongod.log.<time>, the older ones .gz inside,
  as numUncompressed=5 leaves them): the same search with and without a 15-minute window.
Besides the tools: inflate alone (stdlib zlib and the fastest installed), MB/s of output per
CPU second, in this process: what limits the search.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import sys
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .console import emit
from .measure import Measured, measure

PATTERN = "Heartbeat failed"
DAY_START = datetime(2026, 10, 2, tzinfo=UTC)
WINDOW = ("2026-10-02T12:30:00Z", "2026-10-02T12:45:00Z")  # holds the 12:36 incident


def _ids(n: int) -> tuple[str, str]:
    return f"{0x5A71B4C4 + n // 50:08x}{'0' * 16}", f"{0x6A000000 + n:08x}{'1' * 16}"


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), int(DAY_START.timestamp())
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)


def _logs(hours: int, per_host: int, rotated: bool) -> list[tuple[str, bytes]]:
    from bulkdl.emulator.mongolog import Window, mongod_log

    hosts = [f"node{k}.bench.example.net" for k in range(3)]
    members = []
    for k, host in enumerate(hosts):
        for h in range(hours):
            start = DAY_START + timedelta(hours=h)
            w = Window(start, start + timedelta(hours=1), hosts, k)
            rng = random.Random(f"{k}:{h}")  # noqa: S311 -- test data
            data = mongod_log(w, rng, per_host // hours, realistic=None)
            if not rotated:
                members.append((f"{host}/27017/mongodb/mongodb.log", data))
                continue
            end = start + timedelta(hours=1)
            name = f"{host}/27017/mongodb/mongodb.log.{end:%Y-%m-%dT%H-%M-%S}"
            if h < hours - 5:  # numUncompressed=5: the older files are compressed
                members.append((f"{name}.gz", gzip.compress(data, 6, mtime=0)))
            else:
                members.append((name, data))
    return members


def build(folder: Path, archives: int, per_host: int, rotated: bool) -> tuple[int, int]:
    """OUT with a manifest and `archives` archives; (uncompressed log bytes, archive bytes)."""
    stamp = folder / "done.json"
    if stamp.exists():
        got = json.loads(stamp.read_text())
        return got["logs"], got["archives"]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    members = _logs(24 if rotated else 1, per_host, rotated)
    # every archive is one day of the same three hosts; the incident sits at 60% of each hour
    body = _tar(members)
    logs = sum(len(gzip.decompress(d)) if n.endswith(".gz") else len(d) for n, d in members)
    lines = []
    for i in range(archives):
        gid, job = _ids(i)
        (folder / gid).mkdir(exist_ok=True)
        (folder / gid / f"{job}.tar.gz").write_bytes(body)
        lines.append(json.dumps({
            "runId": "bench", "groupId": gid, "jobId": job, "status": "SUCCESS",
            "outcome": "downloaded", "path": f"{gid}/{job}.tar.gz", "bytes": len(body),
            "sha256": hashlib.sha256(body).hexdigest(), "attempts": 1,
        }))  # fmt: skip
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    stamp.write_text(json.dumps({"logs": logs * archives, "archives": len(body) * archives}))
    return logs * archives, len(body) * archives


def _archives(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.glob("*/*.tar.gz"))


def _row(name: str, m: Measured, logs: int, base: float | None) -> dict[str, object]:
    cpu = m.user_s + m.sys_s
    return {
        "tool": name,
        "exit": m.exit_code,
        "wall_s": round(m.wall_s, 3),
        "cpu_s": round(cpu, 3),
        "rss_mib": round(m.rss_kib / 1024, 1),
        "MB/s wall": round(logs / m.wall_s / 1e6),
        "MB/s per CPU s": round(logs / cpu / 1e6) if cpu else None,
        "vs tar|grep": round(base / m.wall_s, 2) if base else None,
    }


def _run(argv: list[str], work: Path, runs: int) -> Measured:
    best = None
    for _ in range(runs):
        m = measure(argv, dict(os.environ), work / "tool.log", work)
        if best is None or m.wall_s < best.wall_s:
            best = m
    assert best is not None
    return best


def inflate_rate(paths: list[str], lib_name: str) -> float:
    """MB/s of output per CPU second of inflating the archives' outer gzip, in this process."""
    from bulkdl.search.inflate import backend, gunzip, read_chunks

    _, lib = backend(lib_name)
    out = 0
    start = time.process_time()
    for p in paths:
        with open(p, "rb") as f:
            out += sum(len(b) for b in gunzip(read_chunks(f), lib=lib))
    return out / (time.process_time() - start) / 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/search.py", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--work", type=Path, default=Path("/tmp/bulkbench-search"))  # noqa: S108
    p.add_argument("--runs", type=int, default=2, help="best of N per tool")
    args = p.parse_args(argv)
    n, per_host, day_n = (6, 2_000_000, 4) if args.quick else (110, 3_300_000, 72)
    args.work.mkdir(parents=True, exist_ok=True)
    plain, day = args.work / f"plain-{n}", args.work / f"day-{day_n}"
    logs, size = build(plain, n, per_host, rotated=False)
    day_logs, day_size = build(day, day_n, per_host * 3, rotated=True)
    bulkdl = [sys.executable, "-m", "bulkdl", "search"]
    paths = _archives(plain)
    shell = " ; ".join(f"tar -xzOf {a} | grep -F '{PATTERN}'" for a in paths)
    tools: list[tuple[str, list[str]]] = [
        ("tar -xzOf | grep -F (loop)", ["sh", "-c", f"{{ {shell} ; }} > /dev/null"]),
        ("bulkdl search -F (processes)", [*bulkdl, "-F", PATTERN, str(plain)]),
        ("bulkdl search -F (threads)", [*bulkdl, "--pool", "thread", "-F", PATTERN, str(plain)]),
        ("bulkdl search -F -j 1", [*bulkdl, "-j", "1", "-F", PATTERN, str(plain)]),
        ("bulkdl search -F -j 1 (stdlib zlib)",
         [*bulkdl, "-j", "1", "--inflater", "zlib", "-F", PATTERN, str(plain)]),
    ]  # fmt: skip
    if shutil.which("zgrep"):
        tools.append(
            (
                "zgrep -F (loop)",
                ["sh", "-c", f"zgrep -F -a '{PATTERN}' {' '.join(paths)} > /dev/null"],
            )
        )
    if shutil.which("rg"):
        tools.append(("rg -z -F", ["rg", "-z", "-a", "-F", "-j", "2", PATTERN, str(plain)]))
    env_note = f"{os.cpu_count()} CPUs; bulkdl inflater: {_backend()}"
    emit(f"## search workload ({env_note})\n")
    emit(f"- plain: {n} archives, {logs / 1e9:.2f} GB of mongod JSON logs, {size / 1e6:.0f} MB")
    rows = []
    base = None
    for name, cmd in tools:
        m = _run(cmd, args.work, args.runs)
        base = base or m.wall_s
        rows.append(_row(name, m, logs, base))
    day_rows = []
    for name, extra in (
        ("no window", []),
        ("15-minute window", ["--from", WINDOW[0], "--to", WINDOW[1]]),
    ):
        m = _run([*bulkdl, *extra, "-F", PATTERN, str(day)], args.work, args.runs)
        day_rows.append(_row(f"24 h pull, {name}", m, day_logs, None))
    emit(
        f"- day: {day_n} archives of a 24 h pull (hourly rotation, 19 of 24 files .gz "
        f"inside), {day_logs / 1e9:.2f} GB of logs, {day_size / 1e6:.0f} MB"
    )
    _table(rows + day_rows)
    rates = {lib: round(inflate_rate(paths[:8], lib)) for lib in ("zlib", _backend())}
    emit(f"\n- inflate alone, MB/s of output per CPU second (one core): {rates}")
    speed = day_rows[0]["wall_s"] / day_rows[1]["wall_s"]  # type: ignore[operator]
    emit(f"- window speed-up: {speed:.1f}x")
    (args.work / "results.json").write_text(
        json.dumps({"plain": rows, "day": day_rows, "inflate": rates}, indent=2)
    )
    return 0 if all(r["exit"] in (0, 1) for r in rows + day_rows) else 1


def _backend() -> str:
    from bulkdl.search.inflate import BACKEND

    return BACKEND


def _table(rows: list[dict[str, object]]) -> None:
    keys = list(rows[0])
    emit("\n| " + " | ".join(keys) + " |")
    emit("|" + "---|" * len(keys))
    for r in rows:
        emit("| " + " | ".join(str(r[k]) for k in keys) + " |")
