"""The SQLite store: ``connection`` opens the database, migrates it and runs
transactions; each aggregate's queries are a mixin of their own module
(``conversations``, ``requests``, ``outbox``, ``staff``, ``chats``, ``codes``,
``forgetting``), composed into one transaction class in ``transaction``."""

from __future__ import annotations

from bot.store.sqlite.connection import SQLiteStore
from bot.store.sqlite.transaction import _SQLiteTransaction

__all__ = ["SQLiteStore", "_SQLiteTransaction"]
