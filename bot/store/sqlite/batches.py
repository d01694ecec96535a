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

from bot.store.base import StoreError
from bot.store.sqlite.trips import Trips, through

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


class GroupCommit:
    """The connection's lock and its open group of units of work."""

    def __init__(self, db: Callable[[], aiosqlite.Connection], max_units: int = MAX_UNITS) -> None:
        self._db = db
        self.max_units = max_units
        self._held = False
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._group: _Group | None = None

    @asynccontextmanager
    async def unit(self, readonly: bool = False) -> AsyncIterator[Trips]:
        """One unit of work; ends once its work is committed."""
        await self._acquire()
        try:
            if self._group is not None and not readonly and not self._group.immediate:
                await self._end()  # a reader's group: a writer starts its own
            if self._group is None:
                self._group = _Group(self._db(), immediate=not readonly)
            group = self._group
            group.units += 1
            mark = group.trips.savepoint()
            try:
                yield group.trips
                await group.trips.release(mark)
            except BaseException as exc:
                if not await group.trips.undo(mark):
                    group.lost = exc
                raise
        finally:
            await self._release()
        # Shielded: a unit cancelled while it waits must not cancel the
        # outcome the other units of its group wait for.
        await asyncio.shield(group.done)

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
