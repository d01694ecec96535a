"""SQLite store on ``aiosqlite``: WAL, a busy timeout, migrations at start.

Write transactions begin with ``BEGIN IMMEDIATE`` so a second process waits
for the lock up front (within the busy timeout) instead of failing half-way
when a read lock cannot be upgraded. The connection runs with
``isolation_level=None`` so Python's sqlite3 module never opens or commits
transactions behind our back. One connection is shared by the coroutines of
a process: their units of work run one at a time, and those that queue up
share a transaction and its COMMIT (``batches``).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import aiosqlite

from bot.domain.models import Channel
from bot.store.base import Store, StoreError, Transaction
from bot.store.schema import HEAD, upgrade
from bot.store.sqlite.batches import GroupCommit, Unit
from bot.store.sqlite.transaction import _SQLiteTransaction

log = logging.getLogger(__name__)

WAL_CHECKPOINT_PAGES = 10_000


def _casefold(value: object) -> object:
    """SQL ``casefold(text)``: Python's ``str.casefold``, which folds any
    script where SQLite's ``lower()`` folds ASCII only."""
    return value.casefold() if isinstance(value, str) else value


class SQLiteStore(Store):
    def __init__(self, path: Path, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._db: aiosqlite.Connection | None = None
        self._commits = GroupCommit(lambda: self.db)
        self.applied: list[int] = []  # migrations the last ``open`` applied

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = await aiosqlite.connect(
                self.path, isolation_level=None, timeout=self.busy_timeout
            )
            self._db.row_factory = aiosqlite.Row
            await self._db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            await self._wal()
            await self._db.execute("PRAGMA synchronous = FULL")
            await self._db.execute("PRAGMA foreign_keys = ON")
            # Copy the WAL into the database every 10,000 pages (40 MB) rather
            # than SQLite's 1,000: with a large history each group of messages
            # dirties pages all over the message-id index, and checkpointing
            # ten times as often cost a tenth of the throughput (measured with
            # ``scripts/bench.py --history 100000``). Forgetting still empties
            # the WAL at once (``scrub_wal``).
            await self._db.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
            # Deleted personal data is overwritten, not left in free pages.
            await self._db.execute("PRAGMA secure_delete = ON")
            # Case-insensitive search as Python does it (``list_requests``).
            await self._db.create_function("casefold", 1, _casefold, deterministic=True)
            await self._migrate()
        except (sqlite3.Error, OSError) as exc:
            await self.close()
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc

    async def _wal(self) -> None:
        """Switch to WAL. Processes starting together on a new file race to
        switch it, and SQLite answers the loser "locked" at once rather than
        through the busy timeout: asked again until the timeout."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.busy_timeout
        while True:
            try:
                await self.db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or loop.time() > give_up:
                    raise
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("store is not open")
        return self._db

    async def _migrate(self) -> None:
        """Bring the schema to the newest revision (``bot.store.schema``).
        An up-to-date database (every start but the first after an
        upgrade) is told by one read, without loading Alembic."""
        try:
            async with self.db.execute("SELECT version_num FROM alembic_version") as cur:
                row = await cur.fetchone()
        except sqlite3.OperationalError:  # no such table: never migrated by Alembic
            row = None
        if row is not None and row[0] == HEAD:
            return
        try:
            self.applied = await asyncio.to_thread(
                upgrade, f"sqlite:///{self.path}", self.busy_timeout
            )
        except Exception as exc:  # SQLAlchemy's and Alembic's errors, SQLite's inside
            raise StoreError(f"cannot bring database {self.path} up to date: {exc}") from exc

    async def scrub_wal(self) -> None:
        """Copy the WAL into the database and empty it, so old page images
        (with deleted content) do not stay on disk. With ``secure_delete`` on
        (set when the store opens, on this same connection) the database file
        keeps no copy either: both are needed, as measured by the tests."""
        async with (
            self._commits.exclusive(),
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cur,
        ):
            row = await cur.fetchone()
        if row is not None and row[0]:
            # Another process was reading throughout the busy timeout; the next
            # scrub (each forgetting step and each wiped notice runs one) finishes.
            log.warning("the WAL could not be emptied now: a reader held it")

    async def ping(self) -> None:
        async with self.transaction(readonly=True) as tx:
            await tx.find_inbound(Channel.TERMINAL, "")

    async def schema_version(self) -> int:
        async with self.db.execute("SELECT version_num FROM alembic_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    def transaction(self, readonly: bool = False, key: str | None = None) -> _Transaction:
        return _Transaction(self._commits.unit(readonly))


class _Transaction:
    """A unit of work as the ``Store`` interface gives it: SQLite's
    operational errors (locked too long, disk full) become ``StoreError``."""

    __slots__ = ("_unit",)

    def __init__(self, unit: Unit) -> None:
        self._unit = unit

    async def __aenter__(self) -> Transaction:
        try:
            return _SQLiteTransaction(await self._unit.__aenter__())
        except sqlite3.OperationalError as exc:
            raise StoreError(f"database error: {exc}") from exc

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            await self._unit.__aexit__(exc_type, exc, tb)
        except sqlite3.OperationalError as failed:
            raise StoreError(f"database error: {failed}") from failed
        if isinstance(exc, sqlite3.OperationalError):
            raise StoreError(f"database error: {exc}") from exc
