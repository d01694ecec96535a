"""Leases: work one instance at a time may do, when several serve one
database (the hourly housekeeping)."""

from __future__ import annotations

import abc
from datetime import datetime


class Leases(abc.ABC):
    """The lease part of a ``Transaction`` (``bot.store.base``)."""

    @abc.abstractmethod
    async def take_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Hold ``name`` until ``until`` if it is free, expired or ``holder``'s
        already (then renewed); False when another holder has it."""
