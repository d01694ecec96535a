"""The schema's history (Alembic, ``bot.store.schema``): one line of
revisions, the newest named in code (so an up-to-date database is told
without loading Alembic), and old SQLite databases brought along."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from bot.store.schema import FOLDER, HEAD, upgrade
from bot.store.schema.sqlite_history import migrations, statements
from bot.store.sqlite import SQLiteStore

pytestmark = pytest.mark.fast


def test_head_is_alembics_and_the_revisions_form_one_line() -> None:
    config = Config()
    config.set_main_option("script_location", str(FOLDER))
    script = ScriptDirectory.from_config(config)
    assert script.get_heads() == [HEAD]
    line = [r.revision for r in script.walk_revisions()]
    assert line == [f"{n:04d}" for n in range(int(HEAD), 18, -1)]


@pytest.mark.sqlite_only
async def test_a_sqlite_database_from_before_alembic_is_brought_up_to_date(
    tmp_path: Path,
) -> None:
    """A database built by the old runner up to 0016 (no alembic_version):
    the baseline applies 0017-0019, then the later revisions."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path, isolation_level=None) as db:
        db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
        for version, script in migrations():
            if version > 16:
                continue
            for statement in statements(script):
                db.execute(statement)
            db.execute("INSERT INTO schema_migrations VALUES (?, '2026-01-01')", (version,))
    store = SQLiteStore(path)
    async with store:
        assert store.applied == [17, 18, 19, *range(20, int(HEAD) + 1)]
        assert await store.schema_version() == int(HEAD)
    assert upgrade(f"sqlite:///{path}") == []  # and once only
