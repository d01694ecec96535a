"""Indonesian business days: weekends and public holidays (``holidays``) skipped.

Counting starts the day after the acknowledgement, in the service's time zone,
so a request acknowledged on a Saturday night in Jakarta is due on the same
day as one acknowledged on the Monday after.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays


@lru_cache(maxsize=64)
def _holidays_for(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("ID", years=year, categories=("public",)).keys())


def is_holiday(day: date) -> bool:
    return day in _holidays_for(day.year)


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
    ``end`` is before ``start`` (how many business days it is overdue)."""
    if end == start:
        return 0
    sign, low, high = (1, start, end) if end > start else (-1, end, start)
    count = 0
    current = low
    while current < high:
        current += timedelta(days=1)
        if is_business_day(current):
            count += 1
    return sign * count


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
    if profile == "uu-pdp" and request_type in ("access", "correction", "restriction"):
        return (acknowledged_at + timedelta(hours=72)).astimezone(ZoneInfo(timezone)).date()
    return due_date(acknowledged_at, days, timezone)
