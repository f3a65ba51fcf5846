"""Properties of the id checks: an id becomes a directory and a file name, so exactly the
24-lowercase-hex shape passes, whatever a server or a user sends instead."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdl.domain.models import (
    RAW_ID_LIMIT,
    GroupId,
    group_id,
    is_object_id,
    job_id,
    parse_groups,
    parse_jobs,
    quote_raw,
)

HEX = "0123456789abcdef"
G = GroupId("5c8100bcf2a30b12ff88258f")

object_ids = st.text(alphabet=HEX, min_size=24, max_size=24)


@st.composite
def near_misses(draw: st.DrawFn) -> str:
    """A valid id with one edit: a character inserted, dropped, replaced or upper-cased."""
    valid = draw(object_ids)
    at = draw(st.integers(0, 23))
    edit = draw(st.sampled_from(["insert", "drop", "replace", "upper", "pad"]))
    other = draw(st.characters(exclude_characters=HEX))
    if edit == "insert":
        return valid[:at] + draw(st.characters()) + valid[at:]
    if edit == "drop":
        return valid[:at] + valid[at + 1 :]
    if edit == "replace":
        return valid[:at] + other + valid[at + 1 :]
    if edit == "upper":
        return valid[:at] + draw(st.sampled_from("ABCDEF")) + valid[at + 1 :]
    pad = draw(st.sampled_from([" ", "\n", "/", "\x00"]))  # around it: a regex without fullmatch
    return pad + valid if draw(st.booleans()) else valid + pad


candidates = st.one_of(object_ids, near_misses(), st.text())


def json_values(*, allow_nan: bool = True) -> st.SearchStrategy[object]:
    """Anything json.loads can return."""
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=allow_nan) | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=8,
    )


def _is_hex24(value: str) -> bool:
    return len(value) == 24 and all(c in HEX for c in value)


@settings(max_examples=120, deadline=None)
@given(candidates)
def test_exactly_24_lowercase_hex_is_an_id(value: str) -> None:
    assert is_object_id(value) is _is_hex24(value)


@settings(max_examples=80, deadline=None)
@given(candidates, st.sampled_from([(group_id, "group id"), (job_id, "job id")]))
def test_an_id_is_returned_as_given_or_refused_naming_it(value: str, check: Any) -> None:
    parse, noun = check
    if _is_hex24(value):
        assert parse(value) == value
    else:
        with pytest.raises(ValueError, match=noun) as refused:
            parse(value)
        assert repr(value) in str(refused.value)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(json_values(), st.builds(lambda i: {"id": i}, candidates)), max_size=6))
def test_a_listing_keeps_good_ids_and_names_every_other_entry_safely(items: list[Any]) -> None:
    for parse in (lambda xs: parse_jobs(G, xs), parse_groups):
        usable, skipped = parse(items)
        assert len(usable) + len(skipped) == len(items)
        assert all(is_object_id(found.id) for found in usable)
        for bad in skipped:  # shown in a terminal and a log line: bounded, printable ASCII
            assert len(bad.raw_id) <= RAW_ID_LIMIT + len("...(cut)")
            assert all(c in string.printable and c not in "\r\n\t\x0b\x0c" for c in bad.raw_id)


@settings(max_examples=80, deadline=None)
@given(json_values(allow_nan=False))
def test_quote_raw_is_the_json_text_unless_cut(value: object) -> None:
    text = quote_raw(value)
    assert text.isascii()
    if len(text) <= RAW_ID_LIMIT:
        assert json.loads(text) == value
    else:
        assert text.endswith("...(cut)")
        assert len(text) == RAW_ID_LIMIT + len("...(cut)")
