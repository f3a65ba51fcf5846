"""Two output streams: the report on stdout (pasteable markdown), progress on stderr."""

from __future__ import annotations

import sys


def say(text: str) -> None:
    """Progress and hints, kept off stdout so the report stays clean."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def emit(line: str = "") -> None:
    """One line of the report."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
