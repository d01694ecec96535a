"""What every aggregate's SQL shares: one transaction's connection, its query
helpers, and stored text read back as times."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from bot.domain.models import FORGOTTEN_EMAIL_PREFIX
from bot.store.sqlite.trips import Params, Trips

# A forgotten customer's requests, in SQL (the prefix has no LIKE wildcards).
FORGOTTEN_LIKE = FORGOTTEN_EMAIL_PREFIX + "%"


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class Queries:
    """The base of each aggregate's mixin. The store opens and ends the
    transaction (``SQLiteStore.transaction``); a mixin only runs statements
    inside it."""

    def __init__(self, db: Trips) -> None:
        self.db = db

    # One trip to aiosqlite's thread per query at most (``Trips``): under
    # load each trip waits for the event loop, and the write lock is held
    # across all of them.

    async def _one(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        rows = await self.db.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def _all(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        return list(await self.db.execute_fetchall(sql, params))
