"""Estimated completion: Indonesian business days in Jakarta time."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot.business_days import add_business_days, due_date, is_business_day


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
