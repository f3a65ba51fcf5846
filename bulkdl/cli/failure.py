"""How a command that cannot start says so: one line and a hint on stderr, exit 2 (and under
--json, the same as a JSON object on stdout). Imported by the option callbacks as well as by the
commands, so it depends on neither."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, ClassVar, NoReturn

import typer

from bulkdl.domain.errors import BulkdlError, ExitStatus
from bulkdl.domain.printable import shown

if TYPE_CHECKING:
    from rich.console import Console


class _Errors:
    """How fail_to_start reports: under --json (or -o json) also as a JSON object on stdout."""

    as_json = False
    sources: ClassVar[dict[str, str]] = {}  # where the key halves and the URL came from


def credential_sources(sources: dict[str, str]) -> None:
    """Called once settings are loaded, so an error that blames the key or URL names them."""
    _Errors.sources = sources


def _blame(exc: BulkdlError) -> str | None:
    """The hint of a rejected key pair or a wrong URL path: where each part came from."""
    from bulkdl.domain.errors import AuthError

    src = _Errors.sources
    if isinstance(exc, AuthError) and src:
        return (
            f"the public key came from {src.get('public_key', '?')}, the private key from "
            f"{src.get('private_key', '?')}; check that pair and the key's API access list"
        )
    from bulkdl.report.hints import WRONG_PATH_HINT, hint_for

    if hint_for(exc) == WRONG_PATH_HINT and "base_url" in src:
        return f"{WRONG_PATH_HINT} (base_url came from {src['base_url']})"
    return None


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
    hint = hint or _blame(exc) or exc.hint or hint_for(exc)
    say(console, f"error: {exc}")
    if hint:
        say(console, f"hint: {hint}")
    if _Errors.as_json:
        doc = {"error": str(exc), "hint": hint, "exitCode": int(ExitStatus.CANNOT_START)}
        sys.stdout.write(json.dumps(doc) + "\n")
    raise typer.Exit(ExitStatus.CANNOT_START) from None
