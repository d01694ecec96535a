"""What every aggregate's SQL shares: one transaction's connection, its query
helpers, and stored text read back as times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from bot.domain.models import FORGOTTEN_EMAIL_PREFIX

# A forgotten customer's requests, in SQL (the prefix has no LIKE wildcards).
FORGOTTEN_LIKE = FORGOTTEN_EMAIL_PREFIX + "%"


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class Queries:
    """The base of each aggregate's mixin. The store opens and ends the
    transaction (``SQLiteStore.transaction``); a mixin only runs statements
    inside it."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        async with self.db.execute(sql, params) as cur:
            return await cur.fetchone()

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        async with self.db.execute(sql, params) as cur:
            return list(await cur.fetchall())
