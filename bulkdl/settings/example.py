"""`config.example.toml` and the README's settings table, generated from the declarations.

`bulkdl config example` prints the example from the installed package; `python -m
bulkdl.settings.example` rewrites both files in the current folder (a test checks they match).
"""

from __future__ import annotations

import json
import sys
import textwrap
from dataclasses import MISSING
from pathlib import Path
from typing import Final

from bulkdl.settings.spec import Declared, declared

README_START: Final = "<!-- settings-table:start (generated: python -m bulkdl.settings.example) -->"
README_END: Final = "<!-- settings-table:end -->"

_HEADER: Final = """\
# bulkdl configuration: copy to ./bulkdl.toml (read by default) or pass --config FILE.
# Generated from bulkdl's settings declarations: `bulkdl config example` prints it.
# Precedence: flags > BULKDL_* variables > MCLI_* / MONGODB_ATLAS_* variables >
# --profile NAME (mongocli's or atlas's config file) > this file > defaults.
# Unknown keys are an error. There is no private_key key on purpose: export
# BULKDL_PRIVATE_KEY, use a mongocli profile, or name a private_key_file.
"""


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return "[\n" + "".join(f"    {json.dumps(v)},\n" for v in value) + "]"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value))


def _sources(d: Declared, quote: str = "") -> list[str]:
    """Where else the setting comes from: flag, variables, mongocli/atlas profile key."""
    q = quote
    out = []
    if d.spec.flag:
        out.append(f"flag {q}{d.spec.flag}{q}")
    if d.spec.env:
        out.append(f"{q}{d.spec.env}{q}")
    if d.spec.eco:
        var = d.spec.eco.upper()
        out.append(f"{q}MCLI_{var}{q}, profile key {q}{d.spec.eco}{q}")
    return out


def _comment(text: str) -> list[str]:
    return [f"# {line}" for line in textwrap.wrap(text, 96)]


def _default_text(d: Declared) -> str:
    if d.spec.shown_default is not None:
        return d.spec.shown_default
    if d.default is None or d.default is MISSING:
        return ""
    return _toml_value(d.default)


def _bounds_text(d: Declared) -> str:
    s = d.spec
    parts = []
    if s.above is not None:
        parts.append(f"> {_toml_value(s.above)}")
    if s.low is not None:
        parts.append(f">= {_toml_value(s.low)}")
    if s.high is not None:
        parts.append(f"<= {_toml_value(s.high)}")
    return " and ".join(parts)


def render_example() -> str:
    """The documented example config: every key bulkdl's TOML accepts."""
    blocks = [_HEADER]
    for d in declared():
        if not d.spec.toml:
            continue
        lines = _comment(d.spec.doc)
        if d.spec.more:
            lines += _comment(d.spec.more)
        notes = _sources(d)
        default = _default_text(d)
        bounds = _bounds_text(d)
        if bounds:
            notes.append(f"allowed {bounds}")
        if default:
            notes.append(f"default {default}")
        if notes:
            lines += _comment(f"({'; '.join(notes)})")
        example = d.spec.example
        if example is None:
            lines.append(f"{d.name} = {_toml_value(d.default)}")
        elif d.default is MISSING or d.default == ():
            lines.append(f"{d.name} = {_toml_value(example)}")
        else:
            lines.append(f"# {d.name} = {_toml_value(example)}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def render_table() -> str:
    """The README's table of every setting: key, default, bounds, where else it comes from."""
    rows = [
        "| key | default | allowed | also set by | meaning |",
        "|---|---|---|---|---|",
    ]
    for d in declared():
        key = f"`{d.name}`" if d.spec.toml else f"({d.name})"
        also = ", ".join(_sources(d, quote="`"))
        default = _default_text(d)
        rows.append(f"| {key} | {default} | {_bounds_text(d)} | {also} | {d.spec.doc} |")
    return "\n".join(rows) + "\n"


def replace_table(readme: str) -> str:
    """`readme` with the text between the two markers replaced by the current table."""
    start = readme.index(README_START) + len(README_START)
    end = readme.index(README_END)
    return readme[:start] + "\n" + render_table() + readme[end:]


def main() -> None:
    """Rewrite config.example.toml and the README table in the current folder."""
    Path("config.example.toml").write_text(render_example(), encoding="utf-8")
    readme = Path("README.md")
    readme.write_text(replace_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
    sys.stderr.write("wrote config.example.toml and the README settings table\n")


if __name__ == "__main__":
    main()
