"""One transaction: every aggregate's queries, composed (both backends)."""

from __future__ import annotations

from bot.store.base import Transaction
from bot.store.sql.chats import SqlChats
from bot.store.sql.codes import SqlCodes
from bot.store.sql.conversations import SqlConversations
from bot.store.sql.desk import SqlDesk
from bot.store.sql.escalations import SqlEscalations
from bot.store.sql.forgetting import SqlForgetting
from bot.store.sql.leases import SqlLeases
from bot.store.sql.outbox import SqlOutbox
from bot.store.sql.requests import SqlRequests
from bot.store.sql.staff import SqlStaff


class SqlTransaction(
    SqlConversations,
    SqlRequests,
    SqlOutbox,
    SqlStaff,
    SqlChats,
    SqlEscalations,
    SqlCodes,
    SqlForgetting,
    SqlDesk,
    SqlLeases,
    Transaction,
):
    """Each mixin implements its aggregate's part of ``Transaction``; the
    interface comes last so that its abstract methods are the ones overridden."""
