"""The desk as a whole: the dashboard's counts and the audit view's lines,
each one query over the whole database (the dashboard must stay fast with
tens of thousands of requests, so nothing is loaded to be counted in Python).
"""

from __future__ import annotations

import abc
from collections.abc import Collection
from datetime import date, datetime

from bot.domain.records_staff import AuditLine

# The audit view's sources, by the ``kind`` its lines carry.
AUDIT_KINDS = (
    "proof_view",
    "download",
    "account",
    "login",
    "login_failed",
    "login_locked",
    "export",
)


class Desk(abc.ABC):
    """The desk-wide part of a ``Transaction`` (``bot.store.base``)."""

    @abc.abstractmethod
    async def count_requests_by_status(self, statuses: Collection[str]) -> dict[str, int]:
        """How many requests are in each of ``statuses`` (those with none are absent)."""

    @abc.abstractmethod
    async def count_due_between(self, statuses: Collection[str], first: date, last: date) -> int:
        """Requests in ``statuses`` due from ``first`` to ``last``, both included."""

    @abc.abstractmethod
    async def count_completed_on_time(
        self, since: datetime, utc_offset_minutes: int
    ) -> tuple[int, int]:
        """Requests completed at or after ``since``, and how many of them on
        or before their due date. A completion's day is its local day: its
        UTC time moved by ``utc_offset_minutes`` (the service's offset)."""

    @abc.abstractmethod
    async def add_access_log(
        self, kind: str, actor: str | None, subject: str, address: str, now: datetime
    ) -> None:
        """A login (``login``, ``login_failed``, ``login_locked``) or a queue
        export (``export``), with where it came from."""

    @abc.abstractmethod
    async def audit_lines(self, kinds: Collection[str], limit: int, offset: int) -> list[AuditLine]:
        """The latest lines of the given ``AUDIT_KINDS`` from every source
        (ID-proof views, data-copy downloads, account changes, the access
        log), newest first, paged."""
