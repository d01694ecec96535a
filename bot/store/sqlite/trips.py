"""One transaction's statements, sent to aiosqlite's thread in as few trips
as the work allows.

Each trip to the connection's thread and back costs tens of microseconds of
thread switching, and the write lock is held across all of them, so a
message's transaction is made of few: ``BEGIN`` goes with the first
statement, a write whose outcome nobody reads (``defer``) goes with the
next statement or with ``COMMIT``, and reads that do not depend on each
other go together (``many``). Statements still run in the order the code
issued them, on the one connection, inside the one transaction.

aiosqlite has no public way to run a function on its thread; every public
method it has is built on ``Connection._execute``, which is used here (and
checked by ``tests/store/test_trips.py``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import Any, TypeVar

import aiosqlite

from bot.store.base import through
from bot.store.sql.queries import Later, Pending, Result

SAVEPOINT = "unit"  # one name: units of work follow each other, never nest
ATTEMPT = "attempt"  # a body tried on the database thread (``run_here``)
Params = Sequence[Any] | Mapping[str, Any]
Statement = tuple[str, Params]
NO_SKIP = ""  # SQLite's writers run one at a time: nothing to skip


Deferred = tuple[str, Params, Later | None]
T = TypeVar("T")


def on_thread(db: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> Awaitable[T]:
    """Run ``fn(connection)`` on ``db``'s thread, after what is queued there."""
    return db._execute(lambda: fn(db._conn))


def _bind(params: Params) -> Params:
    """``params`` with each ``Later`` replaced by its number (known by now:
    statements run in order)."""
    if isinstance(params, Mapping):
        if any(type(v) is Later for v in params.values()):
            return {k: v.value if type(v) is Later else v for k, v in params.items()}
        return params
    if any(type(v) is Later for v in params):
        return [v.value if type(v) is Later else v for v in params]
    return params


def _send(conn: sqlite3.Connection, pending: list[Deferred]) -> None:
    for sql, params, later in pending:
        cursor = conn.execute(sql, _bind(params))
        if later is not None:
            later.value = cursor.lastrowid


def _result(conn: sqlite3.Connection, sql: str, params: Params) -> Result:
    cursor = conn.execute(sql, params)
    rows = cursor.fetchall()
    return Result(rows, cursor.rowcount)


def _run(
    conn: sqlite3.Connection, pending: list[Deferred], statements: list[Statement]
) -> list[Result]:
    _send(conn, pending)
    return [_result(conn, sql, _bind(params)) for sql, params in statements]


def _run_many(
    conn: sqlite3.Connection, pending: list[Deferred], sql: str, rows: list[Params]
) -> Result:
    _send(conn, pending)
    cursor = conn.executemany(sql, rows)
    return Result([], cursor.rowcount)


def _commit(conn: sqlite3.Connection, pending: list[Deferred]) -> None:
    _send(conn, pending)
    conn.execute("COMMIT")


def _run_here(
    conn: sqlite3.Connection,
    pending: list[Deferred],
    make: Callable[[Direct], Coroutine[Any, Any, T]],
) -> tuple[bool, T | None]:
    _send(conn, pending)
    conn.execute(f"SAVEPOINT {ATTEMPT}")
    body = make(Direct(conn))
    try:
        body.send(None)
    except StopIteration as finished:
        conn.execute(f"RELEASE {ATTEMPT}")
        return True, finished.value
    except BaseException:
        pass  # the event loop runs it again and raises its error then
    else:
        # It waited for something only the event loop has (a file written
        # off the loop, a mail server, another transaction).
        with contextlib.suppress(BaseException):
            body.close()
    conn.execute(f"ROLLBACK TO {ATTEMPT}")
    conn.execute(f"RELEASE {ATTEMPT}")
    return False, None


def _rollback(conn: sqlite3.Connection) -> None:
    # Looked at on the thread, after every trip queued before: a trip cut
    # short by a cancellation may still have begun the transaction.
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _undo_unit(conn: sqlite3.Connection) -> bool:
    if not conn.in_transaction:
        return False  # SQLite rolled the whole transaction back (a full disk, I/O)
    try:
        conn.execute(f"ROLLBACK TO {SAVEPOINT}")
        conn.execute(f"RELEASE {SAVEPOINT}")
    except sqlite3.Error:
        return False
    return True


@dataclass(frozen=True)
class Mark:
    """Where a unit of work began in its transaction (``Trips.savepoint``)."""

    index: int  # of its SAVEPOINT among the pending statements
    trips: int  # trips made before it


class _Ready:
    """An awaitable that is done already: awaiting it never suspends."""

    __slots__ = ("value",)

    def __init__(self, value: Result) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Result]:
        return self.value
        yield  # a generator that returns at once

    async def __aenter__(self) -> Result:
        return self.value

    async def __aexit__(self, *exc: object) -> None:
        return None


class Direct:
    """``Trips``' methods run at once on the connection, by code that runs on
    the database thread itself (``Trips.run_here``): nothing to defer, no
    trip to make, and awaiting them never suspends."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # No ``Later`` here: a row's number is known at once (``defer_insert``),
    # so parameters go to SQLite as they are.

    def skip_locked(self, table: str) -> str:
        return NO_SKIP

    def defer(self, sql: str, params: Params = ()) -> None:
        self._conn.execute(sql, params)

    def defer_insert(self, sql: str, params: Params = ()) -> int | None:
        return self._conn.execute(sql, params).lastrowid

    def execute(self, sql: str, params: Params = ()) -> _Ready:
        return _Ready(_result(self._conn, sql, params))

    async def execute_fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, params).fetchall()

    async def many(self, statements: Iterable[Statement]) -> list[list[sqlite3.Row]]:
        return [self._conn.execute(sql, params).fetchall() for sql, params in statements]

    async def executemany(self, sql: str, rows: Iterable[Params]) -> Result:
        return _run_many(self._conn, [], sql, list(rows))

    async def run_here(
        self, make: Callable[[Direct], Coroutine[Any, Any, T]]
    ) -> tuple[bool, T | None]:
        return True, await make(self)


class Trips:
    """The statements of one transaction, begun by ``begin`` with the first
    of them. Used by one task at a time (the store's lock)."""

    def __init__(self, db: aiosqlite.Connection, begin: str) -> None:
        self._db = db
        self._pending: list[Deferred] = [(begin, (), None)]
        self._trips = 0

    def _take(self) -> list[Deferred]:
        pending, self._pending = self._pending, []
        self._trips += 1
        return pending

    def savepoint(self) -> Mark:
        """Begin a unit of work that can be undone alone (``undo``)."""
        self._pending.append((f"SAVEPOINT {SAVEPOINT}", (), None))
        return Mark(len(self._pending) - 1, self._trips)

    async def release(self, mark: Mark) -> None:
        """Keep the unit of work begun at ``mark`` (with the transaction).
        Its writes still deferred are sent now, so that their errors are its
        own; only the RELEASE (which cannot fail in a live transaction) waits
        for the next trip."""
        if mark.trips == self._trips and len(self._pending) == mark.index + 1:
            del self._pending[mark.index :]  # it ran nothing: no savepoint needed
            return
        own = len(self._pending) > (0 if mark.trips != self._trips else mark.index + 1)
        self.defer(f"RELEASE {SAVEPOINT}")
        if own:
            pending = self._take()
            await on_thread(self._db, lambda c: _send(c, pending))

    async def undo(self, mark: Mark) -> bool:
        """Undo the unit of work begun at ``mark``; False when SQLite had
        rolled the whole transaction back (everything in it is lost)."""
        if mark.trips == self._trips:  # none of it was sent: forget it
            del self._pending[mark.index :]
            return True
        self._pending = []  # the unit's own deferred writes
        return await through(on_thread(self._db, _undo_unit))

    def skip_locked(self, table: str) -> str:
        return NO_SKIP

    def defer(self, sql: str, params: Params = ()) -> None:
        """A write whose outcome the code does not read: it goes with the
        next trip. Its error, if any, is raised there (the transaction
        fails as a whole either way)."""
        self._pending.append((sql, params, None))

    def defer_insert(self, sql: str, params: Params = ()) -> Later:
        """An INSERT deferred like ``defer``, whose new row's number later
        statements may take as a parameter (``Later``)."""
        later = Later()
        self._pending.append((sql, params, later))
        return later

    async def many(self, statements: Iterable[Statement]) -> list[list[sqlite3.Row]]:
        """Each statement's rows, all in one trip."""
        pending = self._take()
        results = await on_thread(self._db, lambda c: _run(c, pending, list(statements)))
        return [r.rows for r in results]

    def execute(self, sql: str, params: Params = ()) -> Pending:
        return Pending(self._one(sql, params))

    async def _one(self, sql: str, params: Params) -> Result:
        pending = self._take()
        (result,) = await on_thread(self._db, lambda c: _run(c, pending, [(sql, params)]))
        return result

    async def execute_fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return (await self._one(sql, params)).rows

    async def executemany(self, sql: str, rows: Iterable[Params]) -> Result:
        pending, batch = self._take(), list(rows)
        return await on_thread(self._db, lambda c: _run_many(c, pending, sql, batch))

    async def run_here(
        self, make: Callable[[Direct], Coroutine[Any, Any, T]]
    ) -> tuple[bool, T | None]:
        """Run a unit of work's body on the database thread in one trip, its
        statements on the spot (``Direct``): (True, its result) when it
        needed nothing but the database; else (False, None), with what it did
        undone, for the caller to run it on the event loop, which then has
        the last word (its errors included)."""
        pending = self._take()
        return await on_thread(self._db, lambda c: _run_here(c, pending, make))

    async def commit(self) -> None:
        """Send what is deferred and COMMIT, in one trip; nothing at all if
        the transaction never ran a statement."""
        if not self._trips:
            self._pending = []
            return
        pending = self._take()
        await through(on_thread(self._db, lambda c: _commit(c, pending)))

    async def rollback(self) -> None:
        self._pending = []
        await through(on_thread(self._db, _rollback))
