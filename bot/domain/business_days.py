"""Indonesian business days: weekends and public holidays (``holidays``) skipped.

Counting starts the day after the acknowledgement, in the service's time zone,
so a request acknowledged on a Saturday night in Jakarta is due on the same
day as one acknowledged on the Monday after.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

# The holidays library knows Indonesia's public holidays for a bounded range of
# years (1946-2100 in 0.109); past that range there are none to skip. The cap
# keeps a later library that knows far more years from making the one-off
# table below slow to build.
_LAST_HOLIDAY_YEAR_CAP = 2200


@lru_cache(maxsize=1)
def _holiday_table() -> tuple[frozenset[date], tuple[date, ...]]:
    """Every public holiday the library knows, built once: all of them (for
    ``is_holiday``) and, sorted, those on weekdays (for counting a range with
    two binary searches, so a due date in year 9999 costs what one next week
    does instead of a step per day)."""
    known = holidays.country_holidays("ID", categories=("public",))
    first = int(getattr(known, "start_year", None) or 1946)
    last = min(int(getattr(known, "end_year", None) or 2100), _LAST_HOLIDAY_YEAR_CAP)
    found = holidays.country_holidays("ID", years=range(first, last + 1), categories=("public",))
    every = frozenset(day for day in found if first <= day.year <= last)
    return every, tuple(sorted(day for day in every if day.weekday() < 5))


def is_holiday(day: date) -> bool:
    return day in _holiday_table()[0]


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and not is_holiday(day)


def add_business_days(start: date, days: int) -> date:
    """The ``days``-th business day after ``start`` (``start`` itself not counted)."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_business_day(current):
            remaining -= 1
    return current


@lru_cache(maxsize=32)
def _due_from(local_day: date, days: int) -> date:
    return add_business_days(local_day, days)


def due_date(acknowledged_at: datetime, days: int, timezone: str) -> date:
    local_day = acknowledged_at.astimezone(ZoneInfo(timezone)).date()
    return _due_from(local_day, days)


def business_days_between(start: date, end: date) -> int:
    """Business days after ``start`` up to and including ``end``; negative when
    ``end`` is before ``start`` (how many business days it is overdue).

    Counted arithmetically (weekdays by whole weeks, holidays by binary search),
    never day by day: listings count this for every request on the event loop.
    """
    if end == start:
        return 0
    sign, low, high = (1, start, end) if end > start else (-1, end, start)
    weeks, rest = divmod((high - low).days, 7)
    first = low.weekday() + 1  # weekday of the first day counted, mod 7
    weekdays = weeks * 5 + sum(1 for i in range(rest) if (first + i) % 7 < 5)
    on_weekdays = _holiday_table()[1]
    holidays_in_range = bisect_right(on_weekdays, high) - bisect_right(on_weekdays, low)
    return sign * (weekdays - holidays_in_range)


SLA_PROFILES = ("policy", "uu-pdp")


def due_for(
    request_type: str, acknowledged_at: datetime, profile: str, days: int, timezone: str
) -> date:
    """The due date of a request type under a deadline profile.

    ``policy``: the JOVA POS privacy policy, ``days`` business days for every
    type. ``uu-pdp``: Indonesia's Personal Data Protection Law (UU 27/2022)
    gives 3 x 24 hours for access, correction and restriction; deletion keeps
    the business-day deadline.
    """
    zone = ZoneInfo(timezone)
    return _due_on(
        request_type,
        acknowledged_at.astimezone(zone).date(),
        (acknowledged_at + timedelta(hours=72)).astimezone(zone).date(),
        profile,
        days,
    )


def due_dates(
    request_types: tuple[str, ...],
    acknowledged_at: datetime,
    profile: str,
    days: int,
    timezone: str,
) -> tuple[date, ...]:
    """``due_for`` of several request types at once (every message offers
    them all to the dialogue): the two local days computed once, the rest
    from a cache."""
    zone = ZoneInfo(timezone)
    day = acknowledged_at.astimezone(zone).date()
    in_72_hours = (acknowledged_at + timedelta(hours=72)).astimezone(zone).date()
    return _all_due_on(request_types, day, in_72_hours, profile, days)


@lru_cache(maxsize=16)
def _all_due_on(
    request_types: tuple[str, ...], day: date, in_72_hours: date, profile: str, days: int
) -> tuple[date, ...]:
    return tuple(_due_on(t, day, in_72_hours, profile, days) for t in request_types)


@lru_cache(maxsize=64)
def _due_on(request_type: str, day: date, in_72_hours: date, profile: str, days: int) -> date:
    """A due date from the only two things it depends on: the local day of
    the acknowledgement and the local day 72 hours after it."""
    if profile == "uu-pdp" and request_type in ("access", "correction", "restriction"):
        return in_72_hours
    return _due_from(day, days)
