"""One SQLite transaction: every aggregate's queries, composed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.store.base import Transaction
from bot.store.sqlite.chats import SQLiteChats
from bot.store.sqlite.codes import SQLiteCodes
from bot.store.sqlite.conversations import SQLiteConversations
from bot.store.sqlite.desk import SQLiteDesk
from bot.store.sqlite.forgetting import SQLiteForgetting
from bot.store.sqlite.leases import SQLiteLeases
from bot.store.sqlite.outbox import SQLiteOutbox
from bot.store.sqlite.requests import SQLiteRequests
from bot.store.sqlite.staff import SQLiteStaff

T = TypeVar("T")


class _SQLiteTransaction(
    SQLiteConversations,
    SQLiteRequests,
    SQLiteOutbox,
    SQLiteStaff,
    SQLiteChats,
    SQLiteCodes,
    SQLiteForgetting,
    SQLiteDesk,
    SQLiteLeases,
    Transaction,
):
    """Each mixin implements its aggregate's part of ``Transaction``; the
    interface comes last so that its abstract methods are the ones overridden."""

    async def run(self, body: Callable[[Transaction], Awaitable[T]]) -> T:
        # On the database thread, the whole body in one trip (its statements
        # on the spot); on the event loop when it needs the loop.
        done, value = await self.db.run_here(lambda direct: body(_SQLiteTransaction(direct)))
        if done:
            return value  # type: ignore[return-value]
        return await body(self)
