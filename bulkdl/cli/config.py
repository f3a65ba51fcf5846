"""`bulkdl config ...`: what pip-installed users have instead of the repository's files."""

from __future__ import annotations

import sys

import typer

config_app = typer.Typer(
    no_args_is_help=True, help="Print a documented bulkdl config file.", add_completion=False
)


@config_app.command("example")
def example() -> None:
    """Print a documented config (every key, its default, bounds and other sources) to stdout.

    `bulkdl config example > bulkdl.toml` starts a config file.
    """
    from bulkdl.settings.example import render_example

    sys.stdout.write(render_example())
