"""Moving a SQLite deployment's data into PostgreSQL (``privacybot db copy``).

The source is read in one read transaction (a consistent picture, even if
something still wrote meanwhile); the target, brought to the same schema
revision first, must be empty; every table goes across with PostgreSQL's
COPY, parents before children, in one transaction that commits only when
each table's row count matches. ID-proof files are not in the database:
they stay in the blob folder, which the instances share.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.store.base import StoreError

# Tables of the schema history's own bookkeeping, not the product's data.
_BOOKKEEPING = {"schema_migrations", "alembic_version"}


def _tables_in_order(source: sqlite3.Connection) -> list[str]:
    """The product's tables, each after those its rows refer to."""
    names = [
        r[0]
        for r in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
        if r[0] not in _BOOKKEEPING
    ]
    parents = {
        name: {r[2] for r in source.execute(f"PRAGMA foreign_key_list({name})")} - {name}
        for name in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= set(ordered)]
        if not ready:
            raise StoreError("the tables' references form a cycle")
        ordered += ready
    return ordered


def copy_database(source_path: Path, target_url: str) -> dict[str, int]:
    """Copy every row of the SQLite database at ``source_path`` into the
    empty PostgreSQL database ``target_url`` (migrated here first); each
    table's row count. Blocking: run it off the event loop."""
    import psycopg

    from bot.store.postgres.statements import to_postgres
    from bot.store.schema import upgrade

    upgrade(target_url)
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, isolation_level=None)
    try:
        source.execute("BEGIN")  # one picture of the source throughout
        tables = _tables_in_order(source)
        counts: dict[str, int] = {}
        with psycopg.connect(target_url) as target:
            for table in tables:
                (rows,) = target.execute(f"SELECT count(*) FROM {table}").fetchone()  # type: ignore[misc]
                if rows:
                    raise StoreError(
                        f"the target database is not empty (table {table} has {rows} rows)"
                    )
            for table in tables:
                columns = [r[1] for r in source.execute(f"PRAGMA table_info({table})")]
                names = ", ".join(columns)
                copied = 0
                with target.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in source.execute(f"SELECT {names} FROM {table}"):
                        copy.write_row([to_postgres(v) for v in row])
                        copied += 1
                (landed,) = target.execute(f"SELECT count(*) FROM {table}").fetchone()  # type: ignore[misc]
                (expected,) = source.execute(f"SELECT count(*) FROM {table}").fetchone()
                if not landed == copied == expected:
                    raise StoreError(
                        f"table {table}: {expected} rows in SQLite, {landed} in PostgreSQL"
                    )
                if "id" in columns and copied:
                    # New rows continue after the copied ones.
                    target.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                counts[table] = copied
            target.commit()
        return counts
    finally:
        source.close()
