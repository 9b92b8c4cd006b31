"""The intake tables: the one schema definition both stores are made from (migrations in store/alembic)."""

from sqlalchemy import Column, ForeignKey, Table, Text

from cityops.store.meta import metadata

open311_tokens = Table(
    'open311_tokens', metadata,
    Column('token', Text, primary_key=True),
    Column('case_id', ForeignKey('cases.id'), nullable=False, unique=True),
    sqlite_with_rowid=False,
)
