"""The SQL migrations 0001-0019 that built SQLite databases before the
history moved to Alembic: revision 0019 (the baseline) applies those a
database lacks, recorded in its ``schema_migrations`` table as before."""

from __future__ import annotations

import sqlite3
from importlib import resources


def migrations() -> list[tuple[int, str]]:
    folder = resources.files("bot.store").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text("utf-8")))
    return sorted(found)


def statements(script: str) -> list[str]:
    """A migration's statements, one by one (``executescript`` would commit)."""
    found, pending = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            found.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError("migration ends in an incomplete statement")
    return found
