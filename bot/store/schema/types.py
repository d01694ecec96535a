"""Column types for revisions, alike on both backends: text compares byte by
byte ("C" collation on PostgreSQL, SQLite's default)."""

from __future__ import annotations

import sqlalchemy as sa


def text() -> sa.types.TypeEngine[str]:
    return sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
