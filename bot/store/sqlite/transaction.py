"""A SQLite transaction: the shared queries, and a unit of work's body run
on the database's own thread when it can be."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.store.base import Transaction
from bot.store.sql.transaction import SqlTransaction

T = TypeVar("T")


class _SQLiteTransaction(SqlTransaction):
    async def run(self, body: Callable[[Transaction], Awaitable[T]]) -> T:
        # On the database thread, the whole body in one trip (its statements
        # on the spot); on the event loop when it needs the loop.
        done, value = await self.db.run_here(lambda direct: body(_SQLiteTransaction(direct)))
        if done:
            return value  # type: ignore[return-value]
        return await body(self)
