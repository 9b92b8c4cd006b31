"""Alembic's environment: one migration history for SQLite and PostgreSQL (store/migrate.py runs it)."""

from __future__ import annotations

from alembic import context

from cityops.store.schema import load

config = context.config
connection = config.attributes["connection"]
context.configure(connection=connection, target_metadata=load(), render_as_batch=connection.dialect.name == "sqlite",
                  transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
