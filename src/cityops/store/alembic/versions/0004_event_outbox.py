"""event outbox: the event stream's transactional outbox (issue 20, cityops.stream)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table("event_outbox",
                    sa.Column("id", _INT, nullable=False),
                    sa.Column("subject", sa.Text(), nullable=False),
                    sa.Column("key", sa.Text(), nullable=False),
                    sa.Column("payload", sa.Text(), nullable=False),
                    sa.Column("created_at", _INT, nullable=False),
                    sa.Column("published_at", _INT, nullable=True),
                    sa.PrimaryKeyConstraint("id", name=op.f("pk_event_outbox")),
                    sqlite_autoincrement=True)
    op.create_index("event_outbox_unpublished", "event_outbox", ["id"], unique=False,
                    sqlite_where=sa.text("published_at IS NULL"), postgresql_where=sa.text("published_at IS NULL"))


def downgrade() -> None:
    op.drop_index("event_outbox_unpublished", table_name="event_outbox")
    op.drop_table("event_outbox")
