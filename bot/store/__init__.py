"""Persistence behind one interface (``Store``): SQLite, the embedded default,
or PostgreSQL for several server instances."""

from __future__ import annotations

from bot.settings import Settings
from bot.store.base import (
    Conflict,
    DuplicateReference,
    Store,
    StoreError,
    Transaction,
    claiming,
)
from bot.store.interface.conversations import MessageContext
from bot.store.sqlite import SQLiteStore

__all__ = [
    "Conflict",
    "DuplicateReference",
    "MessageContext",
    "Store",
    "StoreError",
    "Transaction",
    "claiming",
    "open_store",
]


def open_store(settings: Settings) -> Store:
    """The store the settings name (not yet opened)."""
    if settings.postgres:
        from bot.store.postgres.store import PostgresStore  # psycopg: only when used

        return PostgresStore(settings.database_url, timeout=settings.database_busy_timeout)
    return SQLiteStore(settings.database_path, busy_timeout=settings.database_busy_timeout)
