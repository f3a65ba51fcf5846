"""The command line: options -> Settings -> a run -> summary and exit status. No logic of its own.

`app` is built here, and every command is registered here, explicitly; the commands live one
module per group (`download`: download, verify; `listing`: groups, list; `fleet`: collect,
extend, retry, delete; `emulate`: emulate, demo; `config`). They import what they run (the
runner, aiohttp, the emulator, rich) inside their bodies, so `--version` and `--help` stay quick.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from bulkdl.cli import config, download, emulate, fleet, listing, search
from bulkdl.cli.examples import epilog, summary
from bulkdl.cli.failure import json_errors

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals hold the API key
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
    help="Pull MongoDB Cloud Manager / Ops Manager log-collection archives from a whole fleet.",
)


def _show_version(value: bool) -> None:
    if value:
        from bulkdl import __version__

        sys.stdout.write(f"bulkdl {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            metavar="",
            is_eager=True,
            callback=_show_version,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Pull MongoDB Cloud Manager / Ops Manager log-collection archives from a whole fleet."""
    json_errors(False)  # each command says whether it speaks JSON


def _register(name: str, command: Callable[..., Any], *, api: bool = True) -> None:
    app.command(name, short_help=summary(name), epilog=epilog(name, api=api))(command)


_register("groups", listing.groups)
_register("list", listing.list_jobs)
_register("collect", fleet.collect)
_register("extend", fleet.extend)
_register("retry", fleet.retry)
_register("delete", fleet.delete)
app.add_typer(config.config_app, name="config")
_register("download", download.download)
_register("verify", download.verify, api=False)
_register("emulate", emulate.emulate, api=False)
_register("demo", emulate.demo, api=False)
app.command(
    "search",
    short_help=summary("search"),
    epilog=f"{search._EPILOG}\n\n{epilog('search', api=False)}",
)(search.search)
