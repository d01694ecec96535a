"""SQL a test runs on the application's own store, on either backend.

Tests look at rows the product has no reason to show (a column, a count)
or set one up (a time moved back). ``raw(store)`` answers like aiosqlite's
connection did (``await db.execute(...)``, ``async with db.execute(...) as
cur``), each statement in a transaction of its own, committed; the SQL goes
through the store's own statements, so it is written once for both
backends like the product's (``bot.store.sql``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from bot.store import Store
from bot.store.sql.queries import Pending


async def _run(store: Store, sql: str, params: Any) -> Any:
    async with store.transaction() as tx:
        return await tx.db.execute(sql, params)  # type: ignore[attr-defined]


class RawSQL:
    def __init__(self, store: Store) -> None:
        self.store = store

    def execute(self, sql: str, params: Any = ()) -> Pending:
        return Pending(_run(self.store, sql, params))

    async def execute_fetchall(self, sql: str, params: Any = ()) -> list[Any]:
        return list(await (await self.execute(sql, params)).fetchall())

    async def commit(self) -> None:
        """Each statement committed already."""


def raw(store: Store) -> RawSQL:
    return RawSQL(store)


def sql(database: Path, statement: str, params: Any = ()) -> list[tuple[Any, ...]]:
    """One statement, committed, on the test's database as another process
    would run it (the CLI, a staff tool): ``database`` is the SQLite file;
    on the PostgreSQL pass, the database standing for it. Its rows."""
    from tests.conftest import CURRENT

    if not CURRENT:
        with contextlib.closing(sqlite3.connect(database)) as db, db:
            return [tuple(r) for r in db.execute(statement, params).fetchall()]
    import psycopg

    from bot.store.postgres.dialect import postgres_sql

    with psycopg.connect(CURRENT[0].url_for(database)) as conn:
        cursor = conn.execute(postgres_sql(statement), params)
        return [tuple(r) for r in cursor.fetchall()] if cursor.description else []


def dump(database: Path) -> list[str]:
    """Every row of every table of the test's database, one line each:
    ``table: (values...)`` (where a forgotten customer must not appear)."""
    from tests.conftest import CURRENT

    tables = (
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        if not CURRENT
        else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    )
    lines = []
    for (table,) in sql(database, tables):
        lines += [f"{table}: {row!r}" for row in sql(database, f"SELECT * FROM {table}")]
    return lines
