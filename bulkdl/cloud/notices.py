"""Warnings the HTTP layer has to say itself (it has no reporter): one escaped line on stderr.

A live display redirects stderr above its bars, so the line shows there too.
"""

from __future__ import annotations

import sys

from bulkdl.domain.printable import shown


def warn(text: str) -> None:
    """`warning: TEXT` on stderr, the server's part of it escaped."""
    sys.stderr.write(f"warning: {shown(text)}\n")
    sys.stderr.flush()
