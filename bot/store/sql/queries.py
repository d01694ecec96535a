"""What every aggregate's SQL shares: one transaction's statements, its
query helpers, and stored text read back as times.

The aggregates' SQL is written once for both backends, in what SQLite and
PostgreSQL both speak: ``?`` or ``:name`` parameters, ``ON CONFLICT``,
``RETURNING``, ``IS DISTINCT FROM``; times as ISO text (compared as text:
PostgreSQL's text columns use the "C" collation, as SQLite compares bytes).
The few functions that differ only in name (``instr``, ``group_concat``,
``json_extract`` of one key) are renamed for PostgreSQL as it prepares a
statement (``bot.store.postgres.dialect``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Generator, Iterable, Iterator
from datetime import datetime
from typing import Any, Protocol

from bot.domain.models import FORGOTTEN_EMAIL_PREFIX

# A forgotten customer's requests, in SQL (the prefix has no LIKE wildcards).
FORGOTTEN_LIKE = FORGOTTEN_EMAIL_PREFIX + "%"
# "No limit" as a LIMIT both databases take.
NO_LIMIT = 2**62

Params = Any  # a sequence for ``?`` parameters, a mapping for ``:name`` ones
Statement = tuple[str, Params]


class Later:
    """The row number a deferred INSERT will get (``Statements.defer_insert``):
    usable as a parameter of the statements after it, and read as
    ``value`` once it was sent."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: int | None = None


class Row(Protocol):
    """A result row: by position or by column name, and unpacked."""

    def __getitem__(self, key: int | str) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...

    def keys(self) -> list[str]: ...


class Result:
    """A statement's outcome, read whole where it ran: its rows and the
    cursor's ``rowcount`` (both backends)."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    async def fetchall(self) -> list[Any]:
        return self.rows

    async def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None

    async def __aenter__(self) -> Result:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class Pending:
    """``statements.execute(...)``: awaited, or used as ``async with`` like a
    driver's cursor context."""

    __slots__ = ("_run",)

    def __init__(self, run: Awaitable[Result]) -> None:
        self._run = run

    def __await__(self) -> Generator[Any, None, Result]:
        return self._run.__await__()

    async def __aenter__(self) -> Result:
        return await self._run

    async def __aexit__(self, *exc: object) -> None:
        return None


class Statements(Protocol):
    """One transaction's statements, as each backend sends them
    (``bot.store.sqlite.trips``, ``bot.store.postgres.statements``)."""

    def defer(self, sql: str, params: Params = ()) -> None:
        """A write whose outcome the code does not read: sent with the next
        statement at the latest."""

    def defer_insert(self, sql: str, params: Params = ()) -> Any:
        """An INSERT deferred like ``defer``; its new row's ``id`` may be a
        parameter of later statements."""

    def execute(self, sql: str, params: Params = ()) -> Any:
        """Awaited, or used as ``async with``: a ``Result``."""

    async def execute_fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def executemany(self, sql: str, rows: Iterable[Params]) -> Any: ...

    async def many(self, statements: Iterable[Statement]) -> list[list[Row]]:
        """Each statement's rows (sent together where the backend can)."""

    def skip_locked(self, table: str) -> str:
        """What ends a SELECT that claims rows of ``table`` (alias) for this
        transaction, skipping rows other instances are claiming (PostgreSQL:
        ``FOR UPDATE OF table SKIP LOCKED``; SQLite: nothing)."""


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class Queries:
    """The base of each aggregate's mixin. The store opens and ends the
    transaction; a mixin only runs statements inside it."""

    def __init__(self, db: Statements) -> None:
        self.db = db

    async def _one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.db.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def _all(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self.db.execute_fetchall(sql, params))
