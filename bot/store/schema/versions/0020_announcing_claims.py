"""Hand-overs claimed by the instance announcing them (``announcing_until``).

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema.types import text

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("escalations", sa.Column("announcing_until", text(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("the schema only moves forward")
