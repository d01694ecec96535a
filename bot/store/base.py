"""What the core needs from a database, independent of which one.

SQLite is the embedded default; PostgreSQL serves several server instances
on one database. Both run the same queries (``bot.store.sql``). Everything that changes state
happens inside ``Store.transaction()``: all of it commits or none of it does.
"""

from __future__ import annotations

import abc
import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from bot.store.interface.chats import Chats
from bot.store.interface.codes import Codes
from bot.store.interface.conversations import Conversations
from bot.store.interface.desk import Desk
from bot.store.interface.forgetting import Forgetting
from bot.store.interface.leases import Leases
from bot.store.interface.outbox import Outbox
from bot.store.interface.requests import Requests
from bot.store.interface.staff import Staff

T = TypeVar("T")


def claiming() -> str:
    """The ``key`` of a unit of work that only claims rows for this worker
    (``FOR UPDATE SKIP LOCKED``): a key no other unit has, so it runs beside
    conversations and other instances' claims, which skip its rows."""
    return f"claim:{uuid.uuid4().hex}"


class StoreError(Exception):
    """The database could not be used (missing, locked too long, damaged)."""


class Conflict(StoreError):
    """Another unit of work wrote the same unique row at the same time (two
    instances, one message id): this unit was undone and may run again,
    when it will see the other's row."""


class DuplicateReference(StoreError):
    """A request reference collided with an existing one; retry with another."""


class Transaction(
    Conversations,
    Requests,
    Outbox,
    Staff,
    Chats,
    Codes,
    Forgetting,
    Desk,
    Leases,
):
    """Everything the core may do inside ``Store.transaction()``: each
    aggregate's interface (``bot.store.interface``) at once."""

    async def run(self, body: Callable[[Transaction], Awaitable[T]]) -> T:
        """``body(tx)``, in this transaction. A backend may run it where its
        statements cost least (SQLite: on the database's own thread, when it
        needs nothing else), and then run it again here if it could not: so
        ``body`` changes nothing but the database until it returns."""
        return await body(self)


class Store(abc.ABC):
    applied: list[int]  # the schema versions the last ``open`` applied

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def transaction(
        self, readonly: bool = False, key: str | None = None
    ) -> AbstractAsyncContextManager[Transaction]:
        """All or nothing. ``readonly`` views take no write lock, so staff
        listings never wait for (or hold up) conversations. ``key`` names
        what a unit of work that writes must not share with another at the
        same time, across every instance on the database (a conversation):
        units with the same key run one at a time, with different keys side
        by side; a unit without a key runs alone among those that write.
        (On SQLite every unit that writes runs alone anyway.)"""

    @abc.abstractmethod
    async def schema_version(self) -> int: ...

    @abc.abstractmethod
    async def scrub_wal(self) -> None:
        """Make sure deleted content is not kept in a log beside the database."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StoreError unless the database answers."""

    async def activity(self, every: float) -> AsyncIterator[bool]:
        """Every ``every`` seconds at most: whether what the console shows may
        have changed meanwhile, written by any process on the database (the
        console's live updates). Here: the activity mark, compared each
        time; a backend that is told of commits (PostgreSQL's LISTEN/NOTIFY)
        answers as soon as one is."""
        async with self.transaction(readonly=True) as tx:
            last = await tx.activity_mark()
        while True:
            await asyncio.sleep(every)
            async with self.transaction(readonly=True) as tx:
                mark = await tx.activity_mark()
            changed, last = mark != last, mark
            yield changed

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def through(trip: Awaitable[T]) -> T:
    """A COMMIT or ROLLBACK seen through to the end even when the task is
    cancelled meanwhile (a worker stopped, a shutdown): the driver goes on
    with it whatever becomes of the awaiting task, so giving up the wait
    would leave the connection in a state the code does not know of. The
    cancellation is passed on once it finished."""
    step = asyncio.ensure_future(trip)
    try:
        return await asyncio.shield(step)
    except asyncio.CancelledError:
        await asyncio.wait({step})
        raise
