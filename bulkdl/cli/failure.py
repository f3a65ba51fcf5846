"""How a command that cannot start says so: one line and a hint on stderr, exit 2 (and under
--json, the same as a JSON object on stdout). Imported by the option callbacks as well as by the
commands, so it depends on neither."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, NoReturn

import typer

from bulkdl.domain.errors import BulkdlError, ExitStatus
from bulkdl.domain.printable import shown

if TYPE_CHECKING:
    from rich.console import Console


class _Errors:
    """How fail_to_start reports: under --json (or -o json) also as a JSON object on stdout."""

    as_json = False


def json_errors(on: bool) -> None:
    """Called first by a command that prints JSON, so that even an exit-2 error is JSON."""
    _Errors.as_json = on


def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def show_traceback(exc: BaseException) -> None:
    """--debug: the traceback on stderr (no locals: they hold the API key), before the line."""
    import traceback

    sys.stderr.write("".join(traceback.format_exception(exc)))
    sys.stderr.flush()


def say(console: Console, text: str) -> None:
    """One plain line: no markup, no highlighting, no wrapping mid-word, and the server's
    text in it escaped (`shown`): a name or a `detail` cannot drive the terminal."""
    console.print(shown(text), markup=False, highlight=False, soft_wrap=True)


def fail_to_start(
    exc: BulkdlError, debug: bool, console: Console | None = None, *, hint: str | None = None
) -> NoReturn:
    """Print an expected error as one line (and a hint: a way forward); exit 2.

    Under --json the same error is also a JSON object on stdout, so a runbook reading stdout
    learns why nothing else came. --debug adds the traceback on stderr and changes nothing
    else: the same line, hint, JSON and exit status.
    """
    from bulkdl.report.hints import hint_for

    if debug:
        show_traceback(exc)
    console = console or err_console()
    hint = hint or exc.hint or hint_for(exc)
    say(console, f"error: {exc}")
    if hint:
        say(console, f"hint: {hint}")
    if _Errors.as_json:
        doc = {"error": str(exc), "hint": hint, "exitCode": int(ExitStatus.CANNOT_START)}
        sys.stdout.write(json.dumps(doc) + "\n")
    raise typer.Exit(ExitStatus.CANNOT_START) from None
