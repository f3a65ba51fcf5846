"""This process's own state: the arguments it was started with, and its signal handlers.

Kept apart from the entry point and the CLI so that both can use it without importing each
other. Standard library only: the entry point installs the handlers before anything heavy loads.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

_argv: list[str] | None = None  # the arguments of this process, when started as bulkdl


def started_with(argv: list[str]) -> None:
    """Record the arguments of a process started as bulkdl (not of a program embedding it)."""
    global _argv
    _argv = list(argv)


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


def is_interrupt(exc: BaseException) -> bool:
    """Whether `exc` is, or was caused by, Ctrl-C or SIGTERM.

    Python 3.11 turns an exception raised while a class is being created (`__set_name__`, as in
    many imports) into a RuntimeError caused by it, so a signal that lands during an import
    arrives wrapped.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__
    return False
