"""Leases."""

from __future__ import annotations

from datetime import datetime

from bot.domain.timestamps import utc_iso as _ts
from bot.store.sql.queries import Queries


class SqlLeases(Queries):
    async def take_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        # One statement, so two instances asking at once cannot both get it:
        # the row is inserted, or updated only where the lease may pass.
        row = await self._one(
            "INSERT INTO leases (name, holder, expires_at) VALUES (:name, :holder, :until) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
            "expires_at = excluded.expires_at "
            "WHERE leases.holder = excluded.holder OR leases.expires_at <= :now "
            "RETURNING holder",
            {"name": name, "holder": holder, "until": _ts(until), "now": _ts(now)},
        )
        return row is not None
