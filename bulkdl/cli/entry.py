"""The process entry point: exit codes that hold whatever moment a signal lands.

- SIGTERM is turned into KeyboardInterrupt from the first line, so it is handled like Ctrl-C
  (during a run, the run's own receiver takes over, cancels and cleans up).
- A signal that lands while a module is being imported can arrive wrapped in a RuntimeError
  (`process.is_interrupt`): still an interrupt.
- The process ends with os._exit after flushing: CPython marks a KeyboardInterrupt raised
  inside exec() of a string (dataclasses, lazy imports) as "unhandled" even when it was
  caught, and would then replace our exit status 130 with death by SIGINT at shutdown.
"""

from __future__ import annotations

import os
import sys

from bulkdl.cli.signals import install_signal_handlers, is_interrupt, started_with

INTERRUPTED = 130


def _status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def main() -> None:
    """Console-script entry point (`bulkdl`, `python -m bulkdl`)."""
    started_with(sys.argv[1:])
    install_signal_handlers()
    status = 0
    try:
        from bulkdl.cli import app  # after the handlers: a signal during imports exits 130

        app()
    except SystemExit as stop:
        status = _status(stop.code)
    except (KeyboardInterrupt, RuntimeError) as exc:
        if not is_interrupt(exc):
            raise
        sys.stderr.write("interrupted\n")
        status = INTERRUPTED
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)
