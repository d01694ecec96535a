"""Group commit: units of work that queue up for the connection share one
SQLite transaction, and so one COMMIT and one fsync.

One connection serves the process and runs one unit of work at a time. A
unit that ends while others are waiting leaves its transaction open for the
next one instead of committing it; the last of the group (nobody waiting, or
``MAX_UNITS`` reached) commits for all. Each unit runs inside a SAVEPOINT, so
one that fails is undone alone and the others go on. A unit's
``async with`` ends only once the COMMIT that holds its work returned
(``synchronous=FULL``: on disk), so whatever the caller does next (answer a
webhook, send a mail) happens after its work is durable, exactly as with a
transaction of its own. If the shared COMMIT fails, every unit of the group
gets the error, as each would have with its own transaction.

Readers join the group too (they may see the work of earlier units of the
group, which commits before any of them returns). A group begun by a reader
(``BEGIN``, not ``IMMEDIATE``) is committed before a writer starts, so a
writer never has to upgrade a read lock (which SQLite may refuse).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiosqlite

from bot.store.base import StoreError, through
from bot.store.sqlite.trips import Trips

MAX_UNITS = 64  # a group's first unit waits for the others: this bounds it


class _Group:
    def __init__(self, db: aiosqlite.Connection, immediate: bool) -> None:
        self.trips = Trips(db, "BEGIN IMMEDIATE" if immediate else "BEGIN")
        self.immediate = immediate
        self.units = 0
        self.lost: BaseException | None = None  # SQLite rolled it all back
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Units that were cancelled no longer wait for the outcome: not an
        # "exception never retrieved" then.
        self.done.add_done_callback(lambda f: f.cancelled() or f.exception())


class Unit:
    """One unit of work: the connection's turn, a savepoint in the open group
    (or a new group), and at the end the wait for the group's COMMIT. A class
    rather than a generator-based context manager: it is entered for every
    message, and this costs a fraction."""

    __slots__ = ("_commits", "_group", "_mark", "_readonly")

    def __init__(self, commits: GroupCommit, readonly: bool) -> None:
        self._commits = commits
        self._readonly = readonly

    async def __aenter__(self) -> Trips:
        commits = self._commits
        await commits._acquire()
        try:
            group = commits._group
            if group is not None and not self._readonly and not group.immediate:
                await commits._end()  # a reader's group: a writer starts its own
                group = None
            if group is None:
                group = commits._group = _Group(commits._db(), immediate=not self._readonly)
            group.units += 1
            self._mark = group.trips.savepoint()
        except BaseException:
            await commits._release()
            raise
        self._group = group
        return group.trips

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        group = self._group
        try:
            try:
                if exc is None:
                    await group.trips.release(self._mark)
            except BaseException as failed:
                exc = failed
                raise
            finally:
                if exc is not None and not await group.trips.undo(self._mark):
                    group.lost = exc
        finally:
            await self._commits._release()
        if exc is None:
            # Shielded: a unit cancelled while it waits must not cancel the
            # outcome the other units of its group wait for.
            await asyncio.shield(group.done)


class GroupCommit:
    """The connection's lock and its open group of units of work."""

    def __init__(self, db: Callable[[], aiosqlite.Connection], max_units: int = MAX_UNITS) -> None:
        self._db = db
        self.max_units = max_units
        self._held = False
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._group: _Group | None = None

    def unit(self, readonly: bool = False) -> Unit:
        """One unit of work (``async with``); ends once its work is committed."""
        return Unit(self, readonly)

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """The connection outside any transaction (a WAL checkpoint)."""
        await self._acquire()
        try:
            if self._group is not None:
                await self._end()
            yield
        finally:
            await self._release()

    # the lock ---------------------------------------------------------------

    async def _acquire(self) -> None:
        if not self._held:
            self._held = True
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                await self._release()  # handed over just as we were cancelled
            else:
                self._waiters.remove(turn)
            raise

    def _waiting(self) -> bool:
        return any(not turn.done() for turn in self._waiters)

    def _hand_on(self) -> bool:
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return True
        return False

    async def _release(self) -> None:
        """Pass the connection on, with the group open when the next unit
        can continue it, else after committing it."""
        cancelled: asyncio.CancelledError | None = None
        while True:
            group = self._group
            if group is not None and (
                group.lost is not None or group.units >= self.max_units or not self._waiting()
            ):
                try:
                    await self._end()
                except asyncio.CancelledError as exc:
                    cancelled = exc  # it ended all the same: pass the lock on first
            if self._hand_on():
                break
            if self._group is None:
                self._held = False
                break
            # the unit that was to continue the group gave up: end it here
        if cancelled is not None:
            raise cancelled

    async def _end(self) -> None:
        """Commit the open group (seen through even if the caller is cancelled)."""
        group, self._group = self._group, None
        if group is not None:
            await through(_finish(group))


async def _finish(group: _Group) -> None:
    try:
        if group.lost is not None:
            raise group.lost
        await group.trips.commit()
    except BaseException as exc:
        with contextlib.suppress(Exception):
            await group.trips.rollback()  # a failed COMMIT leaves it open
        if not group.done.done():
            group.done.set_exception(_as_store_error(exc, lost=group.lost is not None))
        return
    if not group.done.done():
        group.done.set_result(None)


def _as_store_error(exc: BaseException, lost: bool) -> StoreError:
    if lost:
        return StoreError(f"database error: the transaction was lost ({type(exc).__name__})")
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, sqlite3.Error):
        return StoreError(f"database error: {exc}")
    return StoreError(f"database error: the commit was interrupted ({type(exc).__name__})")
