"""The PostgreSQL store: a pool of connections, the shared schema history
(Alembic, ``bot.store.schema``) run at start, and transactions that take
turns where instances must.

Locking, across every instance on the database (advisory locks, released
with the transaction):

- A unit of work with a ``key`` (a conversation) holds the desk lock
  *shared* and its key's lock *exclusive*: messages of one conversation run
  one at a time, different conversations side by side.
- A unit of work without a key (staff actions, workers, housekeeping) holds
  the desk lock *exclusive*: it runs alone among writers, as every writer
  does on SQLite, so the code written against SQLite's guarantees keeps
  them. Staff actions are few and short; conversations wait for them at
  most a few milliseconds.
- Read-only units take no lock and see one snapshot (REPEATABLE READ).

Writers run at READ COMMITTED: each statement sees what was committed
before it, so a unit that waited for its lock reads what its predecessor
wrote. Rows that instances claim side by side (the outboxes) are claimed
with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from bot.store.base import Store, StoreError, Transaction, through
from bot.store.postgres.statements import PgStatements, rows
from bot.store.schema import HEAD, upgrade
from bot.store.sql.transaction import SqlTransaction

log = logging.getLogger(__name__)

# Tables that hold personal data: vacuumed after forgetting (``scrub_wal``).
_PERSONAL_TABLES = (
    "conversations, inbound_messages, outbound_messages, requests, request_events, "
    "attachments, attachment_views, notifications, downloads, staff_notes, chat_events, "
    "email_codes, accounts, opt_outs, delivery_events, escalations, upload_tokens, "
    "mail_outbox"
)


def lock_key(name: str) -> int:
    """A name's advisory lock number (64 bits, signed as PostgreSQL's bigint)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


DESK = lock_key("privacybot:desk")
_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_BEGIN_ALONE = f"BEGIN; SELECT pg_advisory_xact_lock({DESK})"


ACTIVITY = "privacybot_activity"  # the channel commits are announced on
BURST = 0.2  # seconds of commits the console takes as one change
_COMMIT_NOTIFY = f"NOTIFY {ACTIVITY}; COMMIT"


def _begin_keyed(key: str) -> str:
    return (
        f"BEGIN; SELECT pg_advisory_xact_lock_shared({DESK}), "
        f"pg_advisory_xact_lock({lock_key(key)})"
    )


class PostgresStore(Store):
    def __init__(self, url: str, pool_size: int = 10, timeout: float = 30.0) -> None:
        self.url = url
        self.pool_size = pool_size
        self.timeout = timeout
        self._pool: AsyncConnectionPool[Any] | None = None
        self.applied: list[int] = []

    async def open(self) -> None:
        try:
            if not await self._up_to_date():
                self.applied = await asyncio.to_thread(upgrade, self.url)
            pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                self.url,
                min_size=1,
                max_size=self.pool_size,
                timeout=self.timeout,
                kwargs={"autocommit": True, "row_factory": rows},
                open=False,
                name="privacybot",
            )
            await pool.open(wait=True, timeout=self.timeout)
            self._pool = pool
        except Exception as exc:  # psycopg's, or SQLAlchemy's around them while migrating
            raise StoreError(
                "cannot open the PostgreSQL database of PRIVACYBOT_DATABASE_URL: "
                + first_line(exc).removeprefix("(psycopg.OperationalError) ")
            ) from exc

    async def _up_to_date(self) -> bool:
        """Whether the schema is at the newest revision: one read, without
        loading Alembic (every start but the first after an upgrade)."""
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            try:
                found = await (
                    await conn.execute("SELECT version_num FROM alembic_version")
                ).fetchone()
            except psycopg.errors.UndefinedTable:
                return False
        return found is not None and found[0] == HEAD

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def pool(self) -> AsyncConnectionPool[Any]:
        if self._pool is None:
            raise StoreError("store is not open")
        return self._pool

    def transaction(self, readonly: bool = False, key: str | None = None) -> _PgTransaction:
        if readonly:
            begin = _BEGIN_READ
        elif key is None:
            begin = _BEGIN_ALONE
        else:
            begin = _begin_keyed(key)
        return _PgTransaction(self, begin, notify=not readonly)

    async def schema_version(self) -> int:
        async with self.pool.connection() as conn:
            cursor = await conn.execute("SELECT version_num FROM alembic_version")
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def scrub_wal(self) -> None:
        """Deleted rows leave the tables' pages (VACUUM). PostgreSQL's WAL and
        its archives and backups still hold them until they are recycled:
        the operator's retention of those is what bounds it (README)."""
        try:
            async with self.pool.connection() as conn:
                await conn.execute(f"VACUUM {_PERSONAL_TABLES}")
        except psycopg.Error as exc:
            log.warning("VACUUM after forgetting failed: %s", first_line(exc))

    async def activity(self, every: float) -> AsyncIterator[bool]:
        """LISTEN on a connection of its own: a commit by any instance (or the
        command line) is known at once; ``False`` every ``every`` seconds
        without one."""
        conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        try:
            await conn.execute(f"LISTEN {ACTIVITY}")
            while True:
                changed = False
                async for _ in conn.notifies(timeout=every, stop_after=1):
                    changed = True
                if changed:  # a burst of commits (a busy minute) is one change
                    async for _ in conn.notifies(timeout=BURST):
                        pass
                yield changed
        finally:
            await conn.close()

    async def ping(self) -> None:
        try:
            async with self.pool.connection(timeout=5) as conn:
                await conn.execute("SELECT 1")
        except (psycopg.Error, OSError, Exception) as exc:
            raise StoreError(f"database error: {first_line(exc)}") from exc


def first_line(exc: BaseException) -> str:
    """An error's first line (psycopg's carry details and hints below)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class _PgTransaction:
    """One unit of work on a connection of the pool."""

    __slots__ = ("_begin", "_conn", "_end", "_statements", "_store")

    def __init__(self, store: PostgresStore, begin: str, notify: bool) -> None:
        self._store = store
        self._begin = begin
        # A write tells every instance's console (``activity``) as it commits:
        # NOTIFY is delivered at COMMIT, and goes in the same round trip.
        self._end = _COMMIT_NOTIFY if notify else "COMMIT"
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._statements: PgStatements | None = None

    async def __aenter__(self) -> Transaction:
        pool = self._store.pool
        try:
            conn = await pool.getconn()
        except Exception as exc:
            raise StoreError(f"database error: {first_line(exc)}") from exc
        self._conn = conn
        try:
            await conn.execute(self._begin)
        except BaseException as exc:
            await self._give_back(broken=True)
            if isinstance(exc, psycopg.Error):
                raise StoreError(f"database error: {first_line(exc)}") from exc
            raise
        self._statements = PgStatements(conn)
        return SqlTransaction(self._statements)

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        conn, statements = self._conn, self._statements
        assert conn is not None and statements is not None
        try:
            if exc is None:
                await through(self._commit(conn, statements, self._end))
            else:
                await through(conn.execute("ROLLBACK"))
        except psycopg.Error as failed:
            await self._give_back(broken=True)
            raise StoreError(f"database error: {first_line(failed)}") from failed
        except BaseException:
            await self._give_back(broken=True)
            raise
        await self._give_back(broken=False)
        if isinstance(exc, psycopg.OperationalError):
            raise StoreError(f"database error: {first_line(exc)}") from exc

    @staticmethod
    async def _commit(
        conn: psycopg.AsyncConnection[Any], statements: PgStatements, end: str
    ) -> None:
        try:
            await statements.flush()
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute(end)

    async def _give_back(self, broken: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if broken and not conn.closed:
            # Whatever state it is in, it is not returned half-way through a
            # transaction: the pool would hand that to the next unit of work.
            await conn.close()
        await self._store.pool.putconn(conn)
