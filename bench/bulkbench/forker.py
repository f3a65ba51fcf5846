"""Run one command and report its own wall time, CPU and peak RSS (run as `python -I -S`).

Why a separate small process: Linux carries the RSS high-water mark of whatever process
calls exec into the new program's `ru_maxrss`. Spawned straight from the harness (tens of
MiB), every tool would inherit the harness's peak. This interpreter forks once at start (the
child's high-water mark is then its current ~7 MiB, not its start-up peak) and that child
spawns the tool (posix_spawn: vfork, no wake-up to wait for inside the timed span). The
tool's `ru_maxrss`, read once from `wait4` when it exits, is then its own peak (never below
~7 MiB): exact, and nothing polls /proc while it runs.

Usage: forker.py '{"argv": [...], "log": PATH, "cwd": DIR}'; prints one JSON line.
"""

import gc
import json
import os
import sys
import time


def spawn_and_wait(spec: dict[str, str | list[str]]) -> dict[str, float | int]:
    """In the forked child: the timed span, from posix_spawn to the tool's reaping."""
    argv = list(spec["argv"])
    os.chdir(str(spec["cwd"]))
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(spec["log"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    gc.collect()  # touch the heap now: its copy-on-write faults stay out of the timed span
    start = time.perf_counter()
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
    except OSError as exc:
        with open(str(spec["log"]), "a") as log:
            log.write(f"cannot run {argv[0]}: {exc}\n")
        return {"exit_code": 127, "wall_s": 0.0, "user_s": 0.0, "sys_s": 0.0, "maxrss_kib": 0}
    _, status, usage = os.wait4(pid, 0)
    return {
        "exit_code": os.waitstatus_to_exitcode(status),
        "wall_s": time.perf_counter() - start,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "maxrss_kib": usage.ru_maxrss,
    }


def main() -> None:
    spec = json.loads(sys.argv[1])
    pid = os.fork()
    if pid == 0:
        result = spawn_and_wait(spec)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
