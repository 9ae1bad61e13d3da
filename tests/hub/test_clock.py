"""The one time format of the API and the store: UTC, milliseconds, `Z`, fixed width."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from hub.clock import iso, parse_iso

ZONES = st.builds(
    timezone, st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timedelta(minutes=m))
)


MOMENTS = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1), timezones=ZONES
)


@given(MOMENTS)
def test_iso_is_utc_milliseconds_z_fixed_width(moment: datetime) -> None:
    """Any aware moment, in any zone: the text is what strftime in UTC gives (milliseconds
    truncated), 24 characters, and reads back as the same instant to the millisecond."""
    text = iso(moment)
    expected = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert text == expected
    assert len(text) == 24
    back = parse_iso(text)
    assert back <= moment < back + timedelta(milliseconds=1)


def test_iso_examples() -> None:
    assert iso(datetime(2026, 11, 22, 14, 5, 1, 123999, tzinfo=UTC)) == "2026-11-22T14:05:01.123Z"
    hanoi = timezone(timedelta(hours=7))
    assert iso(datetime(2026, 11, 22, 21, 5, 1, tzinfo=hanoi)) == "2026-11-22T14:05:01.000Z"


def test_equal_instants_in_different_zones_format_alike() -> None:
    """The cache is keyed by the moment: the same instant written in two zones is one text."""
    utc = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert iso(utc.astimezone(timezone(timedelta(hours=7)))) == iso(utc)
