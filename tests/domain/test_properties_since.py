"""Properties of `--since` (and `--from`/`--to`, read the same way): every form it documents
means the instant it says, and anything else is one ConfigError naming the flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdl.domain.errors import ConfigError
from bulkdl.domain.selection import parse_since

NOW = datetime(2026, 11, 25, 8, 30, 15, tzinfo=UTC)
UNITS = {"m": 60, "h": 3600, "d": 86400}
flags = st.sampled_from(["--since", "--from", "--to"])
spaces = st.text(alphabet=" \t", max_size=2)
offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9000, 1, 1))


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 10**5), st.sampled_from(sorted(UNITS)), spaces, spaces, spaces)
def test_a_relative_age_is_that_long_before_now(
    n: int, unit: str, before: str, between: str, after: str
) -> None:
    raw = f"{before}{n}{between}{unit}{after}"
    assert parse_since(raw, NOW) == NOW - timedelta(seconds=n * UNITS[unit])


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(["now", "NOW", "Now", "nOw"]), spaces, spaces)
def test_now_is_now(word: str, before: str, after: str) -> None:
    assert parse_since(before + word + after, NOW) is NOW


@settings(max_examples=80, deadline=None)
@given(instants, offsets, st.booleans())
def test_an_iso_instant_with_an_offset_is_that_instant(
    naive: datetime, tz: timezone, zulu: bool
) -> None:
    when = naive.replace(tzinfo=UTC if zulu else tz)
    raw = when.isoformat().replace("+00:00", "Z") if zulu else when.isoformat()
    assert parse_since(raw, NOW) == when


@settings(max_examples=80, deadline=None)
@given(instants, st.sampled_from(["seconds", "minutes", "hours"]))
def test_an_iso_instant_without_an_offset_is_utc(naive: datetime, spec: str) -> None:
    raw = naive.isoformat(timespec=spec)
    parsed = parse_since(raw, NOW)
    assert parsed.utcoffset() == timedelta(0)
    assert parsed.replace(tzinfo=None) == datetime.fromisoformat(raw)


@settings(max_examples=60, deadline=None)
@given(instants)
def test_a_date_alone_is_its_midnight_utc(naive: datetime) -> None:
    day = naive.date()
    assert parse_since(day.isoformat(), NOW) == datetime(day.year, day.month, day.day, tzinfo=UTC)


relative_like = st.builds(
    lambda n, unit: f"{n}{unit}", st.integers(0, 10**30), st.sampled_from([*sorted(UNITS), "s"])
)


@settings(max_examples=120, deadline=None)
@given(st.one_of(st.text(), relative_like), flags)
def test_anything_is_an_aware_instant_or_one_error_naming_the_flag(raw: str, flag: str) -> None:
    try:
        parsed = parse_since(raw, NOW, flag)
    except ConfigError as exc:
        message = str(exc)
    else:
        assert parsed.utcoffset() is not None
        return
    assert message.startswith(f"{flag}: ")
    assert repr(raw) in message


def test_an_age_before_the_year_1_is_refused_naming_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--from: '99999999d' reaches too far back"):
        parse_since("99999999d", NOW, "--from")
