"""Persistence behind one interface (``Store``); SQLite is the embedded default."""

from __future__ import annotations

from bot.settings import Settings
from bot.store.base import DuplicateReference, Store, StoreError, Transaction
from bot.store.interface.conversations import MessageContext
from bot.store.sqlite import SQLiteStore

__all__ = [
    "DuplicateReference",
    "MessageContext",
    "Store",
    "StoreError",
    "Transaction",
    "open_store",
]


def open_store(settings: Settings) -> Store:
    """The store the settings name (not yet opened)."""
    return SQLiteStore(settings.database_path, busy_timeout=settings.database_busy_timeout)
