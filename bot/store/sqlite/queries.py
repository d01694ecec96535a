"""What every aggregate's SQL shares: one transaction's connection, its query
helpers, and stored text read back as times."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from bot.domain.models import FORGOTTEN_EMAIL_PREFIX

# A forgotten customer's requests, in SQL (the prefix has no LIKE wildcards).
FORGOTTEN_LIKE = FORGOTTEN_EMAIL_PREFIX + "%"

Params = Sequence[Any] | Mapping[str, Any]


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class Queries:
    """The base of each aggregate's mixin. The store opens and ends the
    transaction (``SQLiteStore.transaction``); a mixin only runs statements
    inside it."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    # One trip to aiosqlite's thread per query (``execute_fetchall``), not
    # three (execute, fetch, close): under load each trip waits for the event
    # loop, and the write lock is held across all of them.

    async def _one(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        rows = await self.db.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def _all(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        return list(await self.db.execute_fetchall(sql, params))
