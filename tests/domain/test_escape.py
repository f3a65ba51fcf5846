"""escape_control: member names from an archive cannot drive the terminal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bulkdl.domain.escape import escape_control


def test_controls_are_shown_as_hex_escapes() -> None:
    assert escape_control("a\x1b[31mb") == "a\\x1b[31mb"
    assert escape_control("\x00\x07\x7f\x85\x9b") == "\\x00\\x07\\x7f\\x85\\x9b"
    assert escape_control("host/27017/mongodb.log é") == "host/27017/mongodb.log é"
    assert escape_control("a\\x1b") == "a\\\\x1b"  # a literal backslash cannot pass for one


@given(st.text())
def test_no_control_character_survives(text: str) -> None:
    shown = escape_control(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)
