"""Baseline: the schema SQLite's migrations 0001-0019 built, on both backends.

Revision ID: 0019
Revises:
"""

from __future__ import annotations

from alembic import op

from bot.store.schema import FOLDER, casefold
from bot.store.schema.sqlite_history import migrations, statements

revision = "0019"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(casefold.function_sql())
        connection.exec_driver_sql((FOLDER / "postgres_baseline.sql").read_text("utf-8"))
        return
    applied_now: list[int] = op.get_context().config.attributes["applied"]
    connection.exec_driver_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {r[0] for r in connection.exec_driver_sql("SELECT version FROM schema_migrations")}
    for version, script in migrations():
        if version in done:
            continue
        for statement in statements(script):
            connection.exec_driver_sql(statement)
        connection.exec_driver_sql(
            "INSERT INTO schema_migrations VALUES (?, datetime('now'))", (version,)
        )
        applied_now.append(version)


def downgrade() -> None:
    raise NotImplementedError("the schema only moves forward")
