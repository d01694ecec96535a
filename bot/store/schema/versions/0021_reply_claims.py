"""Replies claimed by the instance sending them (``sending_until``), so that
an update delivered to two instances at once is answered once.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema.types import text

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbound_messages", sa.Column("sending_until", text(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("the schema only moves forward")
