"""CLI conventions: help on every command (-h too) without Python type placeholders, --version,
shell completion, -q and --json where output is printed, one --insecure warning everywhere,
`emulate` failing in one line."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from bulkdl import __version__
from bulkdl.cli import app
from bulkdl.emulator import EmulatorThread
from bulkdl.report.hints import INSECURE_WARNING
from tests.conftest import run_cli

COMMANDS = ["download", "verify", "emulate", "demo", "groups", "list", "collect", "extend", "retry"]
PLACEHOLDER = re.compile(r"<(bool|int|str|float|path)>|list\[|\{out\}|<list")


def _help(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_is_clean(command: str) -> None:
    text = _help(command, "--help")
    assert _help(command, "-h") == text
    assert not PLACEHOLDER.search(text), PLACEHOLDER.search(text)


def test_root_help_version_and_completion() -> None:
    text = _help("-h")
    assert "--install-completion" in text
    assert not PLACEHOLDER.search(text)
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"bulkdl {__version__}"


def test_placeholders_name_what_is_expected() -> None:
    text = _help("download", "--help")
    for option, metavar in [("--group", "ID"), ("--out", "DIR"), ("--since", "WHEN")]:
        assert re.search(rf"{option}\s+{metavar}\b", text), option
    assert "BULKDL_PUBLIC_KEY" in text, "the environment variables are shown"
    assert "BULKDL_PRIVATE_KEY" in _help("list", "--help")


def test_groups_and_list_are_quiet_and_json_on_request(emulator: EmulatorThread) -> None:
    base = ["--base-url", emulator.base_url]
    loud = run_cli(["groups", *base])
    quiet = run_cli(["groups", *base, "-q"])
    assert "3 groups" in loud.stderr
    assert quiet.stderr == ""
    assert quiet.stdout == loud.stdout
    listed = run_cli(["list", *base, "--all-groups", "--quiet"])
    assert listed.exit_code == 0
    assert listed.stderr == ""
    assert len(listed.stdout.splitlines()) == 19
    as_json = run_cli(["groups", *base, "--json"])
    assert {g["id"] for g in json.loads(as_json.stdout)} == set(emulator.fleet.groups)


@pytest.mark.parametrize(
    "command",
    [["groups"], ["list", "--all-groups"], ["retry", "--all-groups", "--dry-run"]],
)
def test_insecure_warns_on_every_command(command: list[str], emulator: EmulatorThread) -> None:
    result = run_cli([*command, "--base-url", emulator.base_url, "--insecure", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines().count(f"warning: {INSECURE_WARNING}") == 1


def test_emulate_on_a_busy_port_is_one_error_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "bulkdl", "emulate", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            env=dict(os.environ),
            check=False,
        )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"error: emulate: cannot listen on 127.0.0.1:{port}: ")
    assert lines[1].startswith("hint: ")
    assert "--port" in lines[1]
    assert len(lines) == 2
    assert "emulate" in _help("emulate", "-h")
    assert "--debug" in _help("emulate", "-h")


def test_emulate_json_says_where_it_listens() -> None:
    """`emulate --json -q`: one JSON line on stdout once ready, no banner; it serves."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkdl", "emulate", "--port", "0", "--json", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        env = {"BULKDL_PUBLIC_KEY": ready["publicKey"], "BULKDL_PRIVATE_KEY": ready["privateKey"]}
        listed = run_cli(["groups", "--base-url", ready["baseUrl"], "--json"], env=env)
        assert listed.exit_code == 0, listed.output
        assert [g["id"] for g in json.loads(listed.stdout)] == ready["groups"]
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, "Ctrl-C is how an emulator stops"
    assert stderr.splitlines() == ["interrupted"]
