"""readings' segments compressed with lz4 on PostgreSQL

PostgreSQL compresses a long text value (a segment of readings) with pglz by default, which
costs more than the rest of storing a batch; lz4 does the same job in about half the time
(100,000 readings over 1,000 datastreams: 118 ms → 54 ms on the development machine). Only
values written from now on are affected; where the server was built without lz4, nothing runs.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if bind.exec_driver_sql("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
                            "AND 'lz4' = ANY(enumvals)").first():
        op.execute("ALTER TABLE observation_segment ALTER COLUMN data SET COMPRESSION lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE observation_segment ALTER COLUMN data SET COMPRESSION default")
