"""Show untrusted names (archive member paths) on a terminal without letting them drive it."""

from __future__ import annotations

import re
from typing import Final

# C0 controls, DEL and C1 controls: an ESC or a CSI in a member name could repaint the screen.
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")


def escape_control(text: str) -> str:
    r"""`text` with every C0, DEL and C1 control character shown as `\xNN` (pure).

    A backslash is doubled first, so an escaped name cannot be confused with a real `\x1b`.
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text.replace("\\", "\\\\"))
