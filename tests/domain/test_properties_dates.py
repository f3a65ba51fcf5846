"""Properties of the API's dates on the wire: what bulkdl writes it reads back, in either form a
server uses (ISO-8601 or epoch milliseconds), and nothing a server sends makes it raise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdl.domain.models import (
    CollectionRange,
    DateForm,
    format_api_date,
    parse_wire_date,
)
from bulkdl.domain.selection import parse_api_date

offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
# From March 1973 (1e11 ms, where numbers start to read as milliseconds) to the year 5000
# (1e11 s would be 5138): the dates either epoch reading can mean.
instants = st.datetimes(
    min_value=datetime(1973, 3, 5), max_value=datetime(5000, 1, 1), timezones=offsets
)
whole_seconds = instants.map(lambda d: d.replace(microsecond=0))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=80, deadline=None)
@given(instants)
def test_the_api_form_is_utc_to_the_second_and_reads_back(when: datetime) -> None:
    text = format_api_date(when)
    assert len(text) == 20
    assert text.endswith("Z")
    expected = when.astimezone(UTC).replace(microsecond=0)
    assert parse_wire_date(text) == expected
    assert parse_api_date(text) == expected


@settings(max_examples=80, deadline=None)
@given(whole_seconds, st.sampled_from(DateForm))
def test_either_wire_form_reads_back_as_the_same_instant(when: datetime, form: DateForm) -> None:
    assert parse_wire_date(form.write(when)) == when
    assert parse_wire_date(form.other().write(when)) == when


@settings(max_examples=80, deadline=None)
@given(whole_seconds)
def test_epoch_seconds_and_milliseconds_mean_the_same_instant(when: datetime) -> None:
    seconds = int(when.timestamp())
    assert parse_wire_date(seconds) == parse_wire_date(seconds * 1000) == when
    assert parse_wire_date(float(seconds)) == when


@settings(max_examples=60, deadline=None)
@given(whole_seconds, st.integers(0, 10**9), st.sampled_from(DateForm))
def test_a_collection_window_survives_the_round_trip(
    start: datetime, length_s: int, form: DateForm
) -> None:
    window = CollectionRange(start, start + timedelta(seconds=length_s))
    back = CollectionRange.from_api(window.to_api(form))
    assert back == window
    assert CollectionRange.from_api(window.to_json()) == window


@settings(max_examples=120, deadline=None)
@given(json_values)
def test_any_value_is_a_utc_aware_date_or_none(value: object) -> None:
    parsed = parse_wire_date(value)
    assert parsed is None or parsed.utcoffset() is not None
    if isinstance(value, bool):
        assert parsed is None  # JSON true is not 1970-01-01T00:00:01Z


@settings(max_examples=80, deadline=None)
@given(st.text())
def test_any_text_is_an_aware_date_or_none(text: str) -> None:
    for parse in (parse_wire_date, parse_api_date):
        parsed = parse(text)
        assert parsed is None or parsed.utcoffset() is not None
