"""The process entry point: signals are handled before the heavy imports start.

A SIGTERM or Ctrl-C that lands while Python is still importing aiohttp and rich must still end
the process with exit 130 and no traceback, as one that lands mid-download does (there, the run
itself catches it and cleans up).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

INTERRUPTED = 130


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point (`bulkdl`)."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        from bulkdl.cli import app  # importing cli registers every command

        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\\n")
        sys.exit(INTERRUPTED)
