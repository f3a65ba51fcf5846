"""bulkdl under a pseudo-terminal: what a user's screen shows, read back as text.

Shared by the live-display and table tests, which need a real terminal (rich draws bars and
sizes tables only there).
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

from tests.conftest import PRIVATE_KEY, PUBLIC_KEY

_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_pty(
    args: list[str], *, columns: int = 140, timeout_s: float = 60, raw: bool = False
) -> tuple[int, str]:
    """Run `python -m bulkdl ARGS` with its stderr and stdout on a pty; the screen text, status.

    raw: every byte as the terminal got it (CSI sequences left in), to look for hostile ones and
    to tell redrawn lines apart."""
    primary, secondary = pty.openpty()
    env = dict(
        os.environ,
        BULKDL_PUBLIC_KEY=PUBLIC_KEY,
        BULKDL_PRIVATE_KEY=PRIVATE_KEY,
        COLUMNS=str(columns),
        LINES="40",
        TERM="xterm-256color",
    )
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkdl", *args],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        close_fds=True,
    )
    os.close(secondary)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.2)
        if ready:
            try:
                data = os.read(primary, 65536)
            except OSError:  # the child closed the pty
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(primary)
    status = proc.wait(timeout=10)
    text = b"".join(chunks).decode("utf-8", "replace")
    return status, text if raw else _CONTROL.sub("", text)


def drawn_lines(raw: str) -> list[str]:
    """Each line as drawn: the raw text split at line ends and at every control code."""
    return [piece for piece in re.split(r"\x1b\[[0-9;?]*[A-Za-z]|\r|\n", raw) if piece.strip()]
