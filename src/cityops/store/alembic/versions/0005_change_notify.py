"""change notifications: every server's dashboard feed learns of another server's writes

PostgreSQL only. A statement-level trigger on the tables the live pages show sends
`NOTIFY cityops_changes` (delivered at COMMIT, once per transaction and table); each server's
change feed LISTENs (store/dialect.py `data_version`). SQLite needs none: its one file says
when it changed (`PRAGMA data_version`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

WATCHED = ("case_history", "cases", "observation_segment", "warnings", "detection_log", "sta_datastream")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE FUNCTION cityops_notify() RETURNS trigger LANGUAGE plpgsql AS "
               "$$ BEGIN PERFORM pg_notify('cityops_changes', TG_TABLE_NAME); RETURN NULL; END $$")
    for table in WATCHED:
        op.execute(f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION cityops_notify()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
        op.execute("DROP FUNCTION IF EXISTS cityops_notify()")
