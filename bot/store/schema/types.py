"""Column types for revisions, alike on both backends: text compares byte by
byte ("C" collation on PostgreSQL, SQLite's default), integers are 64-bit."""

from __future__ import annotations

import sqlalchemy as sa


def text() -> sa.types.TypeEngine[str]:
    return sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def integer() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")
