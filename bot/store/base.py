"""What the core needs from a database, independent of which one.

SQLite is the embedded default; a PostgreSQL backend for several server
instances is to implement this same interface. Everything that changes state
happens inside ``Store.transaction()``: all of it commits or none of it does.
"""

from __future__ import annotations

import abc
from contextlib import AbstractAsyncContextManager

from bot.store.interface.chats import Chats
from bot.store.interface.codes import Codes
from bot.store.interface.conversations import Conversations
from bot.store.interface.desk import Desk
from bot.store.interface.forgetting import Forgetting
from bot.store.interface.outbox import Outbox
from bot.store.interface.requests import Requests
from bot.store.interface.staff import Staff


class StoreError(Exception):
    """The database could not be used (missing, locked too long, damaged)."""


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
):
    """Everything the core may do inside ``Store.transaction()``: each
    aggregate's interface (``bot.store.interface``) at once."""


class Store(abc.ABC):
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def transaction(self, readonly: bool = False) -> AbstractAsyncContextManager[Transaction]:
        """All or nothing. ``readonly`` views take no write lock, so staff
        listings never wait for (or hold up) conversations."""

    @abc.abstractmethod
    async def schema_version(self) -> int: ...

    @abc.abstractmethod
    async def scrub_wal(self) -> None:
        """Make sure deleted content is not kept in a log beside the database."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StoreError unless the database answers."""

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
