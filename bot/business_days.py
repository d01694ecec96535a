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


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays_for(day.year)


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
