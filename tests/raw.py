"""SQL a test runs on the application's own store, on either backend.

Tests look at rows the product has no reason to show (a column, a count)
or set one up (a time moved back). ``raw(store)`` answers like aiosqlite's
connection did (``await db.execute(...)``, ``async with db.execute(...) as
cur``), each statement in a transaction of its own, committed; the SQL goes
through the store's own statements, so it is written once for both
backends like the product's (``bot.store.sql``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from bot.store import Store


class _Run:
    def __init__(self, store: Store, sql: str, params: Any) -> None:
        self._done = self._run(store, sql, params)

    @staticmethod
    async def _run(store: Store, sql: str, params: Any) -> Any:
        async with store.transaction() as tx:
            return await tx.db.execute(sql, params)  # type: ignore[attr-defined]

    def __await__(self) -> Generator[Any, None, Any]:
        return self._done.__await__()

    async def __aenter__(self) -> Any:
        return await self._done

    async def __aexit__(self, *exc: object) -> None:
        return None


class RawSQL:
    def __init__(self, store: Store) -> None:
        self.store = store

    def execute(self, sql: str, params: Any = ()) -> _Run:
        return _Run(self.store, sql, params)

    async def execute_fetchall(self, sql: str, params: Any = ()) -> list[Any]:
        return list(await (await self.execute(sql, params)).fetchall())

    async def commit(self) -> None:
        """Each statement committed already."""


def raw(store: Store) -> RawSQL:
    return RawSQL(store)
