"""Run one command and report its own wall time, CPU and peak RSS (run as `python -I -S`).

Why a separate small process: Linux carries the RSS high-water mark of whatever process
calls exec into the new program's `ru_maxrss`. Spawned straight from the harness (tens of
MiB, and vfork shares its memory), every tool would inherit the harness's peak. Forked from
this ~6 MiB interpreter, `ru_maxrss` is the tool's own peak (never below ~6 MiB), read once
from `wait4` when it exits: exact, and nothing polls /proc while it runs.

Usage: forker.py '{"argv": [...], "log": PATH, "cwd": DIR}'; prints one JSON line.
Only the standard library, and nothing imported beyond what `-S` startup already needs.
"""

import json
import os
import sys
import time


def main() -> None:
    spec = json.loads(sys.argv[1])
    argv = spec["argv"]
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: output to the log, no stdin, then become the tool
        try:
            fd = os.open(spec["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.chdir(spec["cwd"])
            os.execvp(argv[0], argv)  # noqa: S606 -- the harness's argv, no shell
        except OSError as exc:
            os.write(2, f"cannot run {argv[0]}: {exc}\n".encode())
        os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    result = {
        "exit_code": os.waitstatus_to_exitcode(status),
        "wall_s": wall,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "maxrss_kib": usage.ru_maxrss,
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
