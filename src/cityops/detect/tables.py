"""The detect tables: the one schema definition both stores are made from (migrations in store/alembic)."""

from sqlalchemy import Column, Float, ForeignKey, Index, Table, Text, text

from cityops.store.meta import Int, metadata

detection_log = Table(
    'detection_log', metadata,
    Column('id', Int, primary_key=True),
    Column('at', Int, nullable=False),
    Column('kind', Text, nullable=False),
    Column('key', Text, nullable=False),
    Column('level', Text, nullable=False),
    Column('value', Float),
    Column('datastream', Int),
    Column('case_id', Int),
    Column('detail', Text, nullable=False, server_default=text("'{}'"))
)

detection_case = Table(
    'detection_case', metadata,
    Column('key', Text, primary_key=True),
    Column('case_id', ForeignKey('cases.id'), nullable=False),
    Column('kind', Text, nullable=False),
    Column('level', Text, nullable=False),
    Column('opened_at', Int, nullable=False),
    Column('updated_at', Int, nullable=False),
    Column('detections', Int, nullable=False, server_default=text('1')),
    Column('episode_end', Int),
    Index('detection_case_case', 'case_id'),
    sqlite_with_rowid=False,
)
