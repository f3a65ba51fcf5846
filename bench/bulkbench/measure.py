"""Time one tool run: wall, CPU and peak RSS of exactly that process (and its children)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

FORKER: Final = Path(__file__).resolve().parent / "forker.py"


@dataclass(frozen=True, slots=True)
class Measured:
    exit_code: int
    wall_s: float  # fork to reap, taken in the forker: the harness's own start-up is not in it
    user_s: float  # wait4: the tool and every child it waited for (the equal-guarantees shell)
    sys_s: float
    rss_kib: int  # wait4's ru_maxrss, forked from the small forker (see forker.py)


def measure(argv: Sequence[str], env: dict[str, str], log: Path, cwd: Path) -> Measured:
    """Run argv through the forker; stdout and stderr of the tool go to `log`.

    cwd is the tool's scratch folder, not the repo: `python -m bulkdl` must import what
    PYTHONPATH names.
    """
    spec = json.dumps({"argv": list(argv), "log": str(log), "cwd": str(cwd)})
    forker = subprocess.Popen(  # noqa: S603 -- the forker, argv built by the harness, no shell
        [sys.executable, "-I", "-S", str(FORKER), spec],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: stopped as a whole below
    )
    try:
        stdout, stderr = forker.communicate()
    except BaseException:  # Ctrl-C or SIGTERM to the harness: the tool must not live on
        os.killpg(forker.pid, signal.SIGTERM)
        forker.wait()
        raise
    if forker.returncode != 0:
        raise RuntimeError(f"the forker failed: {stderr.strip() or forker.returncode}")
    got = json.loads(stdout.splitlines()[-1])
    return Measured(
        exit_code=int(got["exit_code"]),
        wall_s=float(got["wall_s"]),
        user_s=float(got["user_s"]),
        sys_s=float(got["sys_s"]),
        rss_kib=int(got["maxrss_kib"]),
    )


def forker_floor_kib() -> int:
    """The ru_maxrss of `true` run through the forker: no tool can report less than this."""
    m = measure(["true"], dict(os.environ), Path(os.devnull), Path("/"))
    return m.rss_kib
