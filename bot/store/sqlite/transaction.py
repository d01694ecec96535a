"""One SQLite transaction: every aggregate's queries, composed."""

from __future__ import annotations

from bot.store.base import Transaction
from bot.store.sqlite.chats import SQLiteChats
from bot.store.sqlite.codes import SQLiteCodes
from bot.store.sqlite.conversations import SQLiteConversations
from bot.store.sqlite.desk import SQLiteDesk
from bot.store.sqlite.forgetting import SQLiteForgetting
from bot.store.sqlite.outbox import SQLiteOutbox
from bot.store.sqlite.requests import SQLiteRequests
from bot.store.sqlite.staff import SQLiteStaff


class _SQLiteTransaction(
    SQLiteConversations,
    SQLiteRequests,
    SQLiteOutbox,
    SQLiteStaff,
    SQLiteChats,
    SQLiteCodes,
    SQLiteForgetting,
    SQLiteDesk,
    Transaction,
):
    """Each mixin implements its aggregate's part of ``Transaction``; the
    interface comes last so that its abstract methods are the ones overridden."""
