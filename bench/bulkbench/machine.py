"""Facts about the machine and the tools' versions, and the CPU the whole machine spends."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Final


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


def disk_stat(path: Path) -> Path | None:
    """The block-layer counters (/sys/dev/block/M:m/stat) of the disk `path` lives on."""
    dev = path.stat().st_dev
    stat = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}/stat")
    return stat if stat.exists() else None


def wait_disk_idle(stat: Path | None, max_wait_s: float, quiet_s: float = 0.15) -> float:
    """Wait until the disk has nothing in flight and its counters stand still for quiet_s;
    return the seconds waited.

    `sync` returns once the data is written, but the disk may still be busy with the previous
    run's deleted output (ext4 mounted with `discard` trims the freed blocks after the journal
    commit) and the next tool would pay for it, fsyncing behind that work.
    """
    if stat is None or max_wait_s <= 0:
        return 0.0
    start = time.monotonic()
    last: list[str] = []
    still_since = start
    while (now := time.monotonic()) - start < max_wait_s:
        fields = stat.read_text().split()
        if fields != last or fields[8] != "0":  # field 9: I/Os in flight
            last, still_since = fields, now
        elif now - still_since >= quiet_s:
            break
        time.sleep(0.02)
    return time.monotonic() - start


def tool_version(argv: list[str], cwd: Path | None = None) -> str:
    """The first line a `--version` prints; on failure the last line of its error output."""
    try:
        p = subprocess.run(  # noqa: S603 -- fixed argv
            argv, capture_output=True, text=True, timeout=10, check=False, cwd=cwd
        )
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    if p.returncode != 0 and p.stderr.strip():
        return f"failed: {p.stderr.strip().splitlines()[-1]}"
    text = (p.stdout or p.stderr).strip().splitlines()
    return text[0] if text else "unknown"


# Versions from the installed distributions' metadata, and where `bulkdl` would be imported
# from, without importing it: works for editable, non-editable and PYTHONPATH copies alike.
STACK_SNIPPET: Final = """\
import sys, importlib.metadata as m, importlib.util as u
def v(name):
    try:
        return m.version(name)
    except m.PackageNotFoundError:
        return "not installed"
spec = u.find_spec("bulkdl")
names = ("bulkdl", "aiohttp", "aiofiles", "anyio")
print("python", sys.version.split()[0], " ".join(f"{n} {v(n)}" for n in names),
      "from", spec.origin if spec else "nowhere")
"""


def python_of(command: tuple[str, ...]) -> list[str]:
    """The interpreter (with any `env X=Y` prefix) that runs a bulkdl command."""
    argv = list(command)
    if "-m" in argv:
        return argv[: argv.index("-m")]
    try:
        first = Path(argv[-1]).read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return [sys.executable]
    return [*argv[:-1], *shlex.split(first[2:])] if first.startswith("#!") else [sys.executable]


def stack_line(command: tuple[str, ...]) -> str:
    return tool_version([*python_of(command), "-c", STACK_SNIPPET], cwd=Path("/"))


# pip compiles a package's bytecode when it installs it; an editable install (or a checkout on
# PYTHONPATH) is compiled on first import, unless PYTHONDONTWRITEBYTECODE is set: then every
# run would compile bulkdl anew (~0.2 s of CPU) and the bench would time the compiler.
COMPILE_SNIPPET: Final = """\
import compileall, importlib.util as u, os
spec = u.find_spec("bulkdl")
ok = spec is not None and spec.origin is not None and compileall.compile_dir(
    os.path.dirname(spec.origin), quiet=1)
print("bytecode of", os.path.dirname(spec.origin) if spec and spec.origin else "nothing",
      "compiled" if ok else "NOT compiled")
"""


def compile_bytecode(command: tuple[str, ...]) -> str:
    """Compile the bytecode of the bulkdl that `command` runs, as pip does at install."""
    return tool_version([*python_of(command), "-c", COMPILE_SNIPPET], cwd=Path("/"))


def machine_facts(work: Path) -> dict[str, str]:
    """nproc, CPU, memory, kernel, OS, the work dir's file system and the peers' versions."""
    from .nginx import nginx_binary

    return {
        "nproc": str(os.cpu_count()),
        "cpu": _first_value(Path("/proc/cpuinfo"), "model name", ":") or "unknown",
        "memory": _memory(),
        "kernel": platform.release(),
        "os": (_first_value(Path("/etc/os-release"), "PRETTY_NAME", "=") or "").strip('"')
        or platform.platform(),
        "workdir": f"{work} ({_filesystem(work)})",
        "python (harness)": platform.python_version(),
        "curl": tool_version(["curl", "--version"]),
        "nginx": tool_version([nginx_binary() or "nginx", "-v"]),
        "aria2c": tool_version(["aria2c", "--version"]),
        "openssl": tool_version(["openssl", "version"]),
        "sha256sum": tool_version(["sha256sum", "--version"]),
    }


def _first_value(path: Path, key: str, sep: str) -> str | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key):
                return line.split(sep, 1)[1].strip()
    except OSError:
        pass
    return None


def _memory() -> str:
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return "unknown"
    return f"{kb / 1024 / 1024:.1f} GiB"


def _filesystem(work: Path) -> str:
    fs, best = "unknown", ""
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mnt, typ = line.split()[:3]
            if str(work).startswith(mnt) and len(mnt) >= len(best):
                best, fs = mnt, f"{typ} on {dev} (mounted at {mnt})"
    except OSError:
        pass
    return fs
