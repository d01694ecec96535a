"""When staff are at work: support days and hours in the service's time zone,
Indonesian public holidays off.

A customer handed to a person outside these hours is told when a reply can be
expected, so silence over a weekend does not look like being ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.business_days import is_holiday

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SupportHoursError(ValueError):
    pass


@dataclass(frozen=True)
class SupportHours:
    days: frozenset[int]  # weekday numbers, Monday 0
    opens: time
    closes: time
    zone: ZoneInfo
    always: bool = False  # a desk staffed around the clock, holidays included

    @classmethod
    def parse(cls, text: str, timezone: str) -> SupportHours:
        """``"mon-fri 09:00-17:00"``; days as a range or a comma list (``mon,wed,sat``);
        ``"always"`` for a desk that never closes."""
        if text.strip().lower() == "always":
            return cls(frozenset(range(7)), time.min, time.max, ZoneInfo(timezone), always=True)
        try:
            days_part, hours_part = text.strip().lower().split()
            days: set[int] = set()
            for item in days_part.split(","):
                first, _, last = item.partition("-")
                a = DAY_NAMES.index(first)
                b = DAY_NAMES.index(last) if last else a
                if b < a:
                    raise ValueError(item)
                days.update(range(a, b + 1))
            start, end = (time.fromisoformat(t) for t in hours_part.split("-"))
        except ValueError:
            raise SupportHoursError(
                f"{text!r}: expected days and hours like 'mon-fri 09:00-17:00'"
            ) from None
        if start >= end:
            raise SupportHoursError(f"{text!r}: the day must open before it closes")
        return cls(frozenset(days), start, end, ZoneInfo(timezone))

    def _working_day(self, local: datetime) -> bool:
        return local.weekday() in self.days and not is_holiday(local.date())

    def next_opening(self, now: datetime) -> datetime | None:
        """None while staff are at work; else the moment they next are."""
        if self.always:
            return None
        local = now.astimezone(self.zone)
        if self._working_day(local) and self.opens <= local.time() < self.closes:
            return None
        day = local if local.time() < self.opens else local + timedelta(days=1)
        for _ in range(60):  # holidays never close more than a few weeks in a row
            if self._working_day(day):
                return datetime.combine(day.date(), self.opens, tzinfo=self.zone)
            day += timedelta(days=1)
        return None
