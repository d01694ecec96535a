"""The schema's history, one for both backends: Alembic revisions in
``versions/``, run when a store opens and by ``privacybot db upgrade``.

Revision 0019 is the baseline: on SQLite it applies what is missing of the
SQL migrations 0001-0019 that built every SQLite database before (the same
statements, so old and new databases are alike); on PostgreSQL it creates
that schema at once (``postgres_baseline.sql``; ``tests/store`` checks the
two have the same tables, columns and indexes). Every later revision is one
script for both, written with Alembic's operations.

Several instances may start at once: on PostgreSQL the upgrade holds an
advisory lock, so one migrates and the others then find nothing to do; on
SQLite it runs in one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

HEAD = "0021"  # the newest revision (a test checks it is Alembic's head)
FOLDER = Path(__file__).parent
MIGRATIONS_LOCK = 0x7072697662_6F74  # "privbot": the advisory lock migrations hold
# Alembic keeps the running migration's context in a module-level proxy: two
# upgrades at once in one process (two stores opening) must take turns.
_ONE_AT_A_TIME = threading.Lock()


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy URL of a ``sqlite:///`` or ``postgresql://`` URL."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def upgrade(url: str, busy_timeout: float = 30.0) -> list[int]:
    """Bring the database ``url`` names to ``HEAD``; the revisions (and, on
    SQLite, the SQL migrations) it applied, oldest first."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its chatter; ours below
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    postgres = url.startswith(("postgresql://", "postgres://"))
    engine = create_engine(
        sqlalchemy_url(url),
        poolclass=NullPool,
        connect_args={} if postgres else {"timeout": busy_timeout},
    )
    if not postgres:
        # pysqlite's own transaction handling would commit DDL statement by
        # statement; the whole upgrade is one transaction, begun IMMEDIATE.
        @event.listens_for(engine, "connect")
        def _autocommit(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    config = Config()
    config.set_main_option("script_location", str(FOLDER))
    applied: list[int] = []
    config.attributes["applied"] = applied
    try:
        with _ONE_AT_A_TIME, engine.connect() as connection, connection.begin():
            if postgres:
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATIONS_LOCK})")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    return applied
