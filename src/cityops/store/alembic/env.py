"""Alembic's environment: one migration history for SQLite and PostgreSQL (store/migrate.py runs it)."""

from __future__ import annotations

from typing import Any

from alembic import context

from cityops.store.schema import hand_made, load


def include_object(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    """Autogenerate leaves alone what the baseline made by hand (full-text index, views)."""
    return not hand_made(name)


config = context.config
connection = config.attributes["connection"]
context.configure(connection=connection, target_metadata=load(), render_as_batch=connection.dialect.name == "sqlite",
                  transaction_per_migration=True, include_object=include_object)
with context.begin_transaction():
    context.run_migrations()
