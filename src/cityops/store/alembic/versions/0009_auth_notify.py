"""auth notifications: every server forgets its remembered credential answers when users, tokens or API keys change

PostgreSQL only. Row changes that can take a right away (a token deleted, a user disabled,
given a new role or password, removed, an Open311 API key revoked) send `NOTIFY cityops_auth`
at COMMIT; each server's credential cache (auth/tokencache.py) LISTENs and forgets everything
it remembered. A statement that
changed no row (the minute's purge of expired tokens, mostly) sends nothing.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("users", "tokens", "api_keys")
EVENTS = ("update", "delete")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE FUNCTION cityops_auth_notify() RETURNS trigger LANGUAGE plpgsql AS "
               "$$ BEGIN IF EXISTS (SELECT 1 FROM changed) THEN PERFORM pg_notify('cityops_auth', TG_TABLE_NAME); "
               "END IF; RETURN NULL; END $$")
    for table in TABLES:
        for event in EVENTS:
            op.execute(f"CREATE TRIGGER {table}_auth_{event} AFTER {event.upper()} ON {table} "
                       "REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION cityops_auth_notify()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_auth_{event} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS cityops_auth_notify()")
