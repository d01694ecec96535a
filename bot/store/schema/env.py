"""Alembic's environment: runs on the connection ``bot.store.schema.upgrade``
opened (in its transaction, holding its lock)."""

from __future__ import annotations

from typing import Any

from alembic import context

config = context.config
connection = config.attributes["connection"]
applied: list[int] = config.attributes["applied"]


def _note(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
    if step.is_upgrade:
        version = int(step.up_revision_id)
        if version not in applied:  # the baseline lists SQLite's own steps
            applied.append(version)


context.configure(connection=connection, on_version_apply=_note, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
