"""No class over 250 lines and no function over 60 in bulkdl/ (the emulator included): a unit
that size has grown a second job. Walks the source with ast and names every offender."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import bulkdl

MAX_CLASS_LINES: Final = 250
MAX_FUNCTION_LINES: Final = 60
ROOT: Final = Path(bulkdl.__file__).parent

# Units allowed over the limits: none. Kept (empty) so that a unit ever let through must be
# named here, and the test below fails on an entry that is no longer too long.
ALLOWED: Final[frozenset[str]] = frozenset()


def _units(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, str, int]]:
    """(kind, qualified name, lines) of every class and function, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            assert node.end_lineno is not None
            yield kind, prefix + node.name, node.end_lineno - node.lineno + 1
            yield from _units(node, f"{prefix}{node.name}.")
        else:
            yield from _units(node, prefix)


@functools.cache
def _too_long() -> dict[str, int]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for kind, name, lines in _units(tree):
            limit = MAX_CLASS_LINES if kind == "class" else MAX_FUNCTION_LINES
            if lines > limit:
                found[f"{path.relative_to(ROOT).as_posix()}: {kind} {name}"] = lines
    return found


def test_no_class_over_250_lines_no_function_over_60() -> None:
    offenders = {unit: lines for unit, lines in _too_long().items() if unit not in ALLOWED}
    assert not offenders, "too long (lines): " + ", ".join(
        f"{unit} ({lines})" for unit, lines in sorted(offenders.items())
    )


def test_the_allow_list_names_only_units_still_too_long() -> None:
    fixed = sorted(ALLOWED - _too_long().keys())
    assert not fixed, f"no longer too long, remove from ALLOWED: {', '.join(fixed)}"


def test_the_walker_sees_nested_and_async_units() -> None:
    body = "\n".join(f"            x{i} = {i}" for i in range(61))
    source = f"class A:\n    async def f(self):\n        def g():\n{body}\n"
    found = {name: lines for _, name, lines in _units(ast.parse(source))}
    assert found == {"A": 64, "A.f": 63, "A.f.g": 62}
