"""The command line: options -> Settings -> a run -> summary and exit status. No logic of its own.

`app` is built here, and every command is registered here, explicitly; the commands live one
module per group (`download`: download, verify; `listing`: groups, list; `fleet`: collect,
extend, retry, delete; `emulate`: emulate, demo; `config`). They import what they run (the
runner, aiohttp, the emulator, rich) inside their bodies, so `--version` and `--help` stay quick.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from bulkdl.cli import config, download, emulate, fleet, listing, search
from bulkdl.cli.common import API_EPILOG
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


app.command(epilog=API_EPILOG)(listing.groups)
app.command("list", epilog=API_EPILOG)(listing.list_jobs)
app.command(epilog=API_EPILOG)(fleet.collect)
app.command(epilog=API_EPILOG)(fleet.extend)
app.command(epilog=API_EPILOG)(fleet.retry)
app.command()(fleet.delete)
app.add_typer(config.config_app, name="config")
app.command(epilog=API_EPILOG)(download.download)
app.command()(download.verify)
app.command()(emulate.emulate)
app.command()(emulate.demo)
app.command(epilog=search._EPILOG)(search.search)
