"""One PostgreSQL transaction's statements, for the shared queries.

The same calls as SQLite's ``Trips`` (``bot.store.sql.queries.Statements``):
deferred writes go just before the next statement (or the COMMIT), and a
deferred INSERT hands its new ``id`` on through a ``Later``. Each statement
is one round trip to the server; psycopg prepares the frequent ones itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, ClassVar

from psycopg import AsyncConnection, AsyncCursor
from psycopg.errors import UniqueViolation

from bot.store.base import Conflict
from bot.store.postgres.dialect import postgres_sql
from bot.store.sql.queries import Later, Params, Pending, Result, Statement


class Row(tuple[Any, ...]):
    """A result row read by position or by column name, like ``sqlite3.Row``."""

    __slots__ = ()
    _index: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if type(key) is str:
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    return type("Row", (Row,), {"__slots__": (), "_index": {n: i for i, n in enumerate(names)}})


def rows(cursor: AsyncCursor[Any]) -> Any:
    """psycopg row factory: ``Row``s named by the cursor's columns."""
    description = cursor.description
    if description is None:
        return tuple
    return _row_class(tuple(c.name for c in description))


def to_postgres(v: Any) -> Any:
    """A parameter as PostgreSQL takes it (also for ``db copy``)."""
    kind = type(v)
    if kind is str:
        # PostgreSQL's text cannot hold NUL (SQLite's can): what a customer
        # or a form sent with one is kept with U+FFFD in its place.
        return v.replace("\x00", "\ufffd") if "\x00" in v else v
    if kind is Later:
        return v.value
    if kind is bool:  # stored as 0/1, as on SQLite
        return int(v)
    return v


def _bind(params: Params) -> Params:
    if isinstance(params, Mapping):
        return {k: to_postgres(v) for k, v in params.items()}
    return [to_postgres(v) for v in params]


async def _run(cur: AsyncCursor[Any], sql: str, params: Params) -> None:
    try:
        await cur.execute(postgres_sql(sql), _bind(params))
    except UniqueViolation as exc:
        # Only another transaction's row can collide here (the code checks
        # its own first): the unit is undone and may run again (``Conflict``).
        raise Conflict(f"{exc.diag.constraint_name or 'a unique key'} taken meanwhile") from exc


class PgStatements:
    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self.conn = conn
        self._pending: list[tuple[str, Params, Later | None]] = []

    def skip_locked(self, table: str) -> str:
        """The clause that lets instances claim rows of ``table`` side by side."""
        return f" FOR UPDATE OF {table} SKIP LOCKED"

    def defer(self, sql: str, params: Params = ()) -> None:
        self._pending.append((sql, params, None))

    def defer_insert(self, sql: str, params: Params = ()) -> Later:
        later = Later()
        self._pending.append((sql + " RETURNING id", params, later))
        return later

    async def flush(self) -> None:
        """Send the deferred writes (before a statement, or the COMMIT)."""
        while self._pending:
            pending, self._pending = self._pending, []
            async with self.conn.cursor() as cur:
                for sql, params, later in pending:
                    await _run(cur, sql, params)
                    if later is not None:
                        found = await cur.fetchone()
                        later.value = found[0] if found else None

    async def _one(self, sql: str, params: Params) -> Result:
        if self._pending:
            await self.flush()
        async with self.conn.cursor() as cur:
            await _run(cur, sql, params)
            found = await cur.fetchall() if cur.description is not None else []
            return Result(found, cur.rowcount)

    def execute(self, sql: str, params: Params = ()) -> Pending:
        return Pending(self._one(sql, params))

    async def execute_fetchall(self, sql: str, params: Params = ()) -> list[Any]:
        return (await self._one(sql, params)).rows

    async def executemany(self, sql: str, rows: Iterable[Params]) -> Result:
        if self._pending:
            await self.flush()
        batch = [_bind(r) for r in rows]
        if not batch:
            return Result([], 0)
        async with self.conn.cursor() as cur:
            await cur.executemany(postgres_sql(sql), batch)
            return Result([], cur.rowcount)

    async def many(self, statements: Iterable[Statement]) -> list[list[Any]]:
        return [(await self._one(sql, params)).rows for sql, params in statements]


__all__ = ["PgStatements", "Row", "rows"]
