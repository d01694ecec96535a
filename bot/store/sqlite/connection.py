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

import logging
import sqlite3
from importlib import resources
from pathlib import Path

import aiosqlite

from bot.domain.models import Channel
from bot.store.base import Store, StoreError, Transaction
from bot.store.sqlite.batches import GroupCommit, Unit
from bot.store.sqlite.transaction import _SQLiteTransaction

log = logging.getLogger(__name__)

WAL_CHECKPOINT_PAGES = 10_000


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("bot.store").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text("utf-8")))
    return sorted(found)


def _statements(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise StoreError("migration ends in an incomplete statement")
    return statements


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
            await self._db.execute("PRAGMA journal_mode = WAL")
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
        async with self._commits.unit() as trips:
            await trips.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            applied = {
                row[0]
                for row in await trips.execute_fetchall("SELECT version FROM schema_migrations")
            }
            for version, script in _migrations():
                if version in applied:
                    continue
                for statement in _statements(script):
                    await trips.execute(statement)
                self.applied.append(version)
                await trips.execute(
                    "INSERT INTO schema_migrations VALUES (?, datetime('now'))", (version,)
                )

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
        async with self.db.execute("SELECT max(version) FROM schema_migrations") as cur:
            row = await cur.fetchone()
        return int(row[0] or 0)

    def transaction(self, readonly: bool = False) -> _Transaction:
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
