"""The CLI's shape: no import cycle in bulkdl, and commands that load only what they use
(`--version` and `--help` without the HTTP stack, a download without the emulator)."""

from __future__ import annotations

import ast
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulkdl.cli import app
from bulkdl.cli.options import Connection, shared_options
from bulkdl.emulator import EmulatorThread
from bulkdl.process import is_interrupt
from tests.conftest import make_fleet, run_cli, start_download
from tests.proxy import ForwardProxy

PACKAGE = Path(__file__).resolve().parents[2] / "bulkdl"
# What a command that sends no request has no use for.
HEAVY = (
    "aiohttp",
    "bulkdl.api",
    "bulkdl.transport",
    "bulkdl.runner",
    "bulkdl.emulator",
    "rich.progress",
    "tarfile",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import that can run, at any depth (in functions too), but not under TYPE_CHECKING."""
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        todo.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    """bulkdl's modules and the bulkdl modules each one imports (`from a import b` is an
    edge to a.b when b is a module, else to a)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        edges: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _runtime_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in paths)
                continue
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                target = f"{base}.{alias.name}"
                edges.add(target if target in paths else base)
        graph[name] = {e for e in edges if e in paths and e != name}
    return graph


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
    assert "bulkdl.cli" in graph["bulkdl.entry"]
    assert find_cycle(graph) is None


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
    assert {"aiohttp", "bulkdl.runner"} <= imported
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
def test_every_api_command_goes_through_the_proxy_it_is_given(command: list[str]) -> None:
    with ForwardProxy() as proxy, EmulatorThread(make_fleet()) as emu:
        result = run_cli([*command, "--base-url", emu.base_url, "--proxy", proxy.url, "-q"])
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
