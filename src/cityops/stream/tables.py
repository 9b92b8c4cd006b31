"""The stream tables: the one schema definition both stores are made from (migrations in store/alembic)."""

from sqlalchemy import Column, Index, Table, Text, text

from cityops.store.meta import Int, metadata

# The transactional outbox (docs/stream.md): one row per event, written in the change's own
# transaction; ids never reused (the event id of a non-case event is "outbox:<id>").
event_outbox = Table(
    'event_outbox', metadata,
    Column('id', Int, primary_key=True),
    Column('subject', Text, nullable=False),
    Column('key', Text, nullable=False),
    Column('payload', Text, nullable=False),
    Column('created_at', Int, nullable=False),
    Column('published_at', Int),
    Index('event_outbox_unpublished', 'id', sqlite_where=text("published_at IS NULL"),
          postgresql_where=text("published_at IS NULL")),
    sqlite_autoincrement=True,
)
