"""parse_content_range: the whole header checked, each defect named (properties + examples)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkdl.domain.content_range import BadContentRange, ContentRange, parse_content_range

offsets = st.integers(min_value=0, max_value=2**53)


@given(start=offsets, length=st.integers(min_value=1, max_value=2**40), extra=offsets)
def test_a_consistent_range_is_returned_whole(start: int, length: int, extra: int) -> None:
    end = start + length - 1
    total = end + 1 + extra
    for header, known in (
        (f"bytes {start}-{end}/{total}", total),
        (f"bytes {start}-{end}/*", None),
    ):
        got = parse_content_range(header, asked_from=start, content_length=length)
        assert got == ContentRange(start, end, known)
        assert got.length == length
    assert parse_content_range(header, asked_from=start, content_length=None).end == end


@given(asked=offsets, start=offsets, length=st.integers(min_value=1, max_value=2**30))
def test_another_first_byte_is_refused(asked: int, start: int, length: int) -> None:
    end = start + length - 1
    header = f"bytes {start}-{end}/{end + 1}"
    if start == asked:
        assert parse_content_range(header, asked_from=asked, content_length=length).start == asked
    else:
        with pytest.raises(BadContentRange, match=f"starts at byte {start}, not at byte {asked}"):
            parse_content_range(header, asked_from=asked, content_length=length)


@given(start=st.integers(min_value=1, max_value=2**53), back=st.integers(min_value=1))
def test_an_end_before_the_start_is_refused(start: int, back: int) -> None:
    end = max(0, start - back)
    with pytest.raises(BadContentRange, match="before it starts"):
        parse_content_range(
            f"bytes {start}-{end}/{start + 10}", asked_from=start, content_length=None
        )


@given(start=offsets, length=st.integers(min_value=1, max_value=2**30), short=st.integers(0, 2**30))
def test_a_total_not_past_the_end_is_refused(start: int, length: int, short: int) -> None:
    end = start + length - 1
    total = max(0, end - short)
    with pytest.raises(BadContentRange, match="past the archive's"):
        parse_content_range(f"bytes {start}-{end}/{total}", asked_from=start, content_length=length)


@given(start=offsets, length=st.integers(min_value=1, max_value=2**30), said=offsets)
def test_a_length_that_disagrees_with_content_length_is_refused(
    start: int, length: int, said: int
) -> None:
    end = start + length - 1
    header = f"bytes {start}-{end}/{end + 1}"
    if said == length:
        parse_content_range(header, asked_from=start, content_length=said)
    else:
        with pytest.raises(BadContentRange, match=f"spans {length} bytes but Content-Length says"):
            parse_content_range(header, asked_from=start, content_length=said)


@given(st.text(max_size=40))
def test_any_text_is_parsed_or_refused_never_crashes(text: str) -> None:
    try:
        got = parse_content_range(text, asked_from=0, content_length=None)
    except BadContentRange:
        return
    assert got.start == 0 <= got.end
    assert got.total is None or got.total > got.end


@pytest.mark.parametrize(
    "header", [None, "", "bytes 1-2", "items 0-1/2", "bytes=0-1/2", "bytes -1-2/3"]
)
def test_malformed_or_missing_headers_are_refused(header: str | None) -> None:
    with pytest.raises(BadContentRange):
        parse_content_range(header, asked_from=0, content_length=None)
