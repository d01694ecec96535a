"""Estimated completion: Indonesian business days in Jakarta time."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from functools import cache

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.business_days import (
    add_business_days,
    business_days_between,
    due_date,
    is_business_day,
)

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop


def test_weekends_and_public_holidays_are_skipped() -> None:
    assert not is_business_day(date(2026, 11, 28))  # Saturday
    assert not is_business_day(date(2026, 12, 25))  # Christmas
    assert not is_business_day(date(2027, 1, 1))  # New Year
    assert is_business_day(date(2026, 11, 27))


def test_counting_starts_the_next_day() -> None:
    # Friday 27 Nov 2026 + 1 business day = Monday 30 Nov.
    assert add_business_days(date(2026, 11, 27), 1) == date(2026, 11, 30)
    # Across Christmas: Thu 24 Dec + 1 = Mon 28 Dec.
    assert add_business_days(date(2026, 12, 24), 1) == date(2026, 12, 28)


def test_thirty_business_days_from_26_november_2026() -> None:
    # Hand count: 27 Nov (1); 30 Nov-4 Dec (6); 7-11 Dec (11); 14-18 Dec (16);
    # 21-24 Dec (20, 25 Dec Christmas); 28-31 Dec (24, 1 Jan New Year);
    # 4 Jan (25, 5 Jan Isra Mi'raj); 6-8 Jan (28); 11-12 Jan (30).
    assert due_date(datetime(2026, 11, 26, 3, 0, tzinfo=UTC), 30, "Asia/Jakarta") == date(
        2027, 1, 12
    )


def test_the_day_is_taken_in_jakarta() -> None:
    # 20:00 UTC on Thursday is 03:00 Friday in Jakarta: counting starts after Friday.
    late = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
    assert due_date(late, 1, "Asia/Jakarta") == date(2026, 11, 30)
    assert due_date(late, 1, "UTC") == date(2026, 11, 27)


@cache
def _library_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("ID", years=year, categories=("public",)))


def _day_by_day(start: date, end: date) -> int:
    """The obvious count, straight from the holidays library, to check the fast one."""
    sign, low, high = (1, start, end) if end >= start else (-1, end, start)
    count, day = 0, low
    while day < high:
        day += timedelta(days=1)
        count += day.weekday() < 5 and day not in _library_holidays(day.year)
    return sign * count


@settings(max_examples=300, deadline=None)
@given(
    start=st.dates(min_value=date(1940, 1, 1), max_value=date(2110, 12, 31)),
    span=st.integers(min_value=-900, max_value=900),
)
def test_counting_equals_the_day_by_day_count(start: date, span: int) -> None:
    end = start + timedelta(days=span)
    assert business_days_between(start, end) == _day_by_day(start, end)


def test_years_around_holidays_and_the_end_of_the_known_holidays() -> None:
    for start, end in (
        (date(2026, 12, 24), date(2027, 1, 12)),
        (date(2099, 6, 1), date(2102, 3, 1)),  # the library knows holidays up to 2100
        (date(1945, 12, 1), date(1946, 9, 1)),
    ):
        assert business_days_between(start, end) == _day_by_day(start, end)


def test_a_far_due_date_is_counted_in_bounded_time() -> None:
    # A due date in year 9999 once cost a step per day: 3.3 s per listing.
    today = date(2026, 11, 30)
    business_days_between(today, today + timedelta(days=40))  # the table is built once
    began = time.perf_counter()
    left = business_days_between(today, date(9999, 12, 31))
    overdue = business_days_between(date(9999, 12, 31), today)
    assert time.perf_counter() - began < 0.05
    assert left == -overdue > 2_000_000
    # Past the holidays the library knows, every weekday counts: 5 per week
    # from a Sunday to a Sunday.
    assert business_days_between(date(2101, 1, 2), date(9999, 12, 26)) == (
        (date(9999, 12, 26) - date(2101, 1, 2)).days // 7 * 5
    )
