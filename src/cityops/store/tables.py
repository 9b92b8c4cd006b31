"""The store tables: the one schema definition both stores are made from (migrations in store/alembic)."""

from sqlalchemy import Column, Table, Text

from cityops.store.meta import metadata

settings = Table(
    'settings', metadata,
    Column('key', Text, primary_key=True),
    Column('value', Text, nullable=False)
)
