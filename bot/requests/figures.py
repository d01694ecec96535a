"""The desk's figures for the dashboard: open requests by status, those due
within a working week, those overdue, and the share completed on time over
the last 30 and 90 days.

Every number is counted by the database (``bot.store.interface.desk``), so
the dashboard costs a handful of indexed queries however many requests there
are. Days are the service's: "today" where the desk is, a working week ahead
by the same business-day calendar as every due date
(``bot.domain.business_days``), and overdue as the queue marks it
(``bot.requests.lifecycle.deadline``: open and past the due date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.business_days import add_business_days
from bot.services import Services
from flows.types import OPEN_STATUSES

WORKING_WEEK = 5  # business days ahead that count as "due this week"
WINDOWS = (30, 90)  # days back for the share completed on time


@dataclass(frozen=True)
class OnTime:
    """Requests completed in the last ``days`` days, and how many by their due date."""

    days: int
    completed: int
    on_time: int

    @property
    def percent(self) -> int | None:
        """Whole percent on time; None when nothing was completed (no share to give)."""
        return round(100 * self.on_time / self.completed) if self.completed else None


@dataclass(frozen=True)
class DeskFigures:
    today: date
    week_ends: date  # the last day "due this week" reaches
    open_by_status: tuple[tuple[str, int], ...]  # every open status, in the desk's order
    due_this_week: int
    overdue: int
    on_time: tuple[OnTime, ...]

    @property
    def open_total(self) -> int:
        return sum(count for _, count in self.open_by_status)


async def desk_figures(services: Services, now: datetime | None = None) -> DeskFigures:
    """The figures as of ``now`` (the service's clock by default)."""
    now = now or services.clock()
    zone = ZoneInfo(services.settings.timezone)
    local = now.astimezone(zone)
    today = local.date()
    week_ends = add_business_days(today, WORKING_WEEK)
    offset = local.utcoffset() or timedelta(0)
    statuses = [s.value for s in OPEN_STATUSES]
    async with services.store.transaction(readonly=True) as tx:
        by_status = await tx.count_requests_by_status(statuses)
        due = await tx.count_due_between(statuses, today, week_ends)
        overdue = await tx.count_due_between(statuses, date.min, today - timedelta(days=1))
        windows = []
        for days in WINDOWS:
            completed, on_time = await tx.count_completed_on_time(
                now - timedelta(days=days), int(offset.total_seconds() // 60)
            )
            windows.append(OnTime(days, completed, on_time))
    return DeskFigures(
        today=today,
        week_ends=week_ends,
        open_by_status=tuple((s, by_status.get(s, 0)) for s in statuses),
        due_this_week=due,
        overdue=overdue,
        on_time=tuple(windows),
    )
