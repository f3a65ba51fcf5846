"""The one escaping rule for server text (issue 18, point 2), as a pure function."""

from __future__ import annotations

import pytest

from bulkdl.domain.printable import shown


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("prod-eu-1", "prod-eu-1"),
        ("café ünïcode 日本", "café ünïcode 日本"),  # printable text is left alone
        ("evil\x1b]0;PWNED\x07", "evil\\x1b]0;PWNED\\x07"),  # OSC title change, BEL
        ("rs\x1b[2J0", "rs\\x1b[2J0"),  # CSI screen clear
        ("a\rb\nc\td", "a\\x0db\\x0ac\\x09d"),  # a line cannot be overwritten or forged
        ("\x7f\x9b\x85", "\\x7f\\x9b\\x85"),  # DEL, C1 CSI, NEL
        ("abc\u202edcba", "abc\\u202edcba"),  # a direction override reorders what is shown
        ("\u2066x\u2069\u200f", "\\u2066x\\u2069\\u200f"),
    ],
)
def test_controls_are_escaped(raw: str, expected: str) -> None:
    assert shown(raw) == expected


def test_escaping_twice_changes_nothing() -> None:
    once = shown("x\x1b[31m\x07\u202e")
    assert shown(once) == once
    assert once.isprintable()
