"""The CLI's shape: no import cycle in bulkdl, and commands that load only what they use
(`--version` and `--help` without the HTTP stack, a download without the emulator)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
from typer.testing import CliRunner

from bulkdl.cli import app
from bulkdl.cli.options import Connection, shared_options
from bulkdl.cli.signals import is_interrupt
from bulkdl.emulator import EmulatorThread
from tests.conftest import make_fleet, run_cli, start_download
from tests.proxy import ForwardProxy

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "bulkdl"
# What a command that sends no request has no use for.
HEAVY = (
    "aiohttp",
    "bulkdl.cloud.client",
    "bulkdl.cloud.transport",
    "bulkdl.run.runner",
    "bulkdl.emulator",
    "rich.progress",
    "tarfile",
)


def import_graph() -> dict[str, set[str]]:
    """bulkdl's modules and the bulkdl modules each one imports, as import-linter's grimp reads
    them (imports under TYPE_CHECKING left out: they never run)."""
    graph = grimp.build_graph("bulkdl", exclude_type_checking_imports=True)
    return {m: graph.find_modules_directly_imported_by(m) - {m} for m in graph.modules}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop (as the list of modules around it), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (loop := visit(nxt)):
                return loop
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (loop := visit(start)):
            return loop
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_bulkdl() -> None:
    graph = import_graph()
    assert "bulkdl.cli.download" in graph["bulkdl.cli"], "the walker sees the CLI's imports"
    assert "bulkdl.cli" in graph["bulkdl.cli.entry"]
    assert find_cycle(graph) is None


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())",
            "--config",
            str(ROOT / "pyproject.toml"),
            "--no-cache",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(root)},
    )


def test_the_layer_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_layer_contract(tmp_path: Path) -> None:
    """The contract can fail: domain importing the run layer is named as broken."""
    shutil.copytree(PACKAGE, tmp_path / "bulkdl", ignore=shutil.ignore_patterns("__pycache__"))
    models = tmp_path / "bulkdl" / "domain" / "models.py"
    models.write_text(models.read_text() + "\nimport bulkdl.run.runner  # noqa: E402\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "bulkdl.domain.models -> bulkdl.run.runner" in result.stdout


def _help(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def _imported(stderr: str) -> set[str]:
    """Module names from `-X importtime` lines on stderr."""
    return {
        line.rpartition("|")[2].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:")
    }


@pytest.mark.parametrize("args", [["--version"], ["-h"], ["download", "--help"]])
def test_version_and_help_load_no_http_stack(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bulkdl", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = _imported(done.stderr)
    assert "typer" in imported, "importtime lines were read"
    assert not [m for m in imported if m.startswith(HEAVY)], sorted(imported)


def test_download_loads_neither_the_emulator_nor_tarfile(
    emulator: EmulatorThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    gid = next(iter(emulator.fleet.groups))
    proc = start_download(emulator.base_url, [gid], tmp_path / "out")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr[-2000:]
    assert list((tmp_path / "out" / gid).glob("*.tar.gz")), "archives were downloaded"
    imported = _imported(stderr)
    assert {"aiohttp", "bulkdl.run.runner"} <= imported
    assert not [m for m in imported if m.startswith(("bulkdl.emulator", "tarfile"))]
    assert os.environ["PYTHONPROFILEIMPORTTIME"] == "1"


API_COMMANDS = [
    ["groups"],
    ["list", "--all-groups"],
    ["extend", "--all-groups", "--days", "7", "--dry-run"],
    ["retry", "--all-groups", "--dry-run"],
    ["delete", "--all-groups", "--dry-run"],
    shlex.split(
        "collect --all-groups --resource-type replicaset --resource-name rs0 --log-types MONGODB"
        " --dry-run"
    ),
]


@pytest.mark.parametrize("command", API_COMMANDS, ids=lambda c: c[0])
def test_every_api_command_takes_the_shared_connection_options(command: list[str]) -> None:
    """--proxy (once only on download) and the rest of the connection group, on every command
    that calls the API, with the same text."""
    text = _help(command[0], "--help")
    for option in ("--config FILE", "--profile NAME", "--base-url URL", "--proxy URL"):
        assert option in text, option
    assert "--insecure" in text
    assert "--debug" in text


@pytest.mark.parametrize("command", API_COMMANDS, ids=lambda c: c[0])
def test_every_api_command_goes_through_the_proxy_it_is_given(
    command: list[str], tmp_path: Path
) -> None:
    out = ["--out", str(tmp_path / "out")] if command[0] == "collect" else []  # collect needs one
    with ForwardProxy() as proxy, EmulatorThread(make_fleet()) as emu:
        result = run_cli([*command, *out, "--base-url", emu.base_url, "--proxy", proxy.url, "-q"])
        served = emu.state.counters.requests
    # The demo fleet's jobs are years old: extending them past 6 months is refused, per job.
    assert result.exit_code == (1 if command[0] == "extend" else 0), result.output
    assert proxy.forwarded == served > 0  # every request went through the proxy


def test_an_interrupt_wrapped_by_class_creation_is_still_an_interrupt() -> None:
    """A signal landing in `__set_name__` during an import reaches us as a RuntimeError."""

    class Interrupting:
        def __set_name__(self, owner: type, name: str) -> None:
            raise KeyboardInterrupt

    try:
        type("Owner", (), {"attr": Interrupting()})
    except (RuntimeError, KeyboardInterrupt) as exc:
        caught: BaseException = exc
    assert is_interrupt(caught)
    assert not is_interrupt(RuntimeError("a bug"))


def test_shared_options_refuse_a_clash_or_an_unknown_omission() -> None:
    def clash(*, conn: Connection, debug: bool = False) -> None: ...

    def typo(*, conn: Connection) -> None: ...

    with pytest.raises(TypeError, match="taken twice"):
        shared_options()(clash)
    with pytest.raises(TypeError, match="statuz"):
        shared_options(omit=("statuz",))(typo)
