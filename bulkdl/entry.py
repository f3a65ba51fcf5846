"""The process entry point: exit codes that hold whatever moment a signal lands.

- SIGTERM is turned into KeyboardInterrupt from the first line, so it is handled like Ctrl-C
  (during a run, the run's own receiver takes over, cancels and cleans up).
- The process ends with os._exit after flushing: CPython marks a KeyboardInterrupt raised
  inside exec() of a string (dataclasses, lazy imports) as "unhandled" even when it was
  caught, and would then replace our exit status 130 with death by SIGINT at shutdown.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

INTERRUPTED = 130

_argv: list[str] | None = None  # the arguments of this process, when started as bulkdl


def invoked_args() -> list[str] | None:
    """The command-line arguments bulkdl was started with (None when embedded, e.g. tests
    invoking the app in-process), to print the command that resumes a run."""
    return None if _argv is None else list(_argv)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def install_signal_handlers() -> None:
    """SIGTERM behaves like Ctrl-C (again, after a run's receiver put the default back)."""
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers (an embedding program's business)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def main() -> None:
    """Console-script entry point (`bulkdl`, `python -m bulkdl`)."""
    global _argv
    _argv = sys.argv[1:]
    install_signal_handlers()
    status = 0
    try:
        from bulkdl.cli import app  # importing cli registers every command

        app()
    except SystemExit as stop:
        status = _status(stop.code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        status = INTERRUPTED
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)
