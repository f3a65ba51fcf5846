"""Server-supplied text made safe to print (pure): the one rule every human output follows.

A group name, a resource name, an error `detail` or an archive member path comes from the
server, or from anyone who may name a project. Printed raw, an ESC starts a CSI/OSC sequence
(a title change, a screen clear, colours), a BEL rings, a CR overwrites the line before it.
`shown` writes each control character as an escape instead (`\\x1b`, `\\x07`, `\\x0d`): C0,
DEL, C1, and the invisible direction overrides (U+202A-U+202E, U+2066-U+2069, U+200E/F) that
reorder what a terminal shows. Tables (csv too), plain lines, the live display, errors and
hints pass through it; JSON keeps the real value (json escapes it itself).
"""

from __future__ import annotations

from typing import Final

_BIDI: Final = (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_TABLE: Final = {c: _escape(c) for c in (*range(0x20), *range(0x7F, 0xA0), *_BIDI)}


def shown(text: str) -> str:
    """`text` with every control character escaped; unchanged (the same object) if it has none."""
    if text.isprintable():  # the common case, at C speed: nothing to escape
        return text
    return text.translate(_TABLE)
