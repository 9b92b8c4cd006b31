"""blobs in the database: PostgreSQL's default photo store, shared by every server

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("blob",
                    sa.Column("digest", sa.Text(), nullable=False),
                    sa.Column("data", sa.LargeBinary(), nullable=False),
                    sa.Column("created_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
                    sa.PrimaryKeyConstraint("digest", name=op.f("pk_blob")))


def downgrade() -> None:
    op.drop_table("blob")
