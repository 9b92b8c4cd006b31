"""The cases tables: the one schema definition both stores are made from (migrations in store/alembic)."""

from sqlalchemy import Column, Float, ForeignKey, Index, Table, Text, text

from cityops.store.meta import Int, metadata

cases = Table(
    'cases', metadata,
    Column('id', Int, primary_key=True),
    Column('status', Text, nullable=False),
    Column('source', Text, nullable=False),
    Column('matter_code', Text, nullable=False),
    Column('description', Text, nullable=False),
    Column('lon', Float),
    Column('lat', Float),
    Column('district', Text, nullable=False),
    Column('grid', Text, nullable=False),
    Column('area_class', Text, nullable=False),
    Column('reported_at', Int, nullable=False),
    Column('address', Text, nullable=False, server_default=text("''")),
    Column('reporter', Text, nullable=False, server_default=text("''")),
    Column('department', Text),
    Column('registered_at', Int),
    Column('dispatched_at', Int),
    Column('accepted_at', Int),
    Column('due_at', Int),
    Column('disposed_at', Int),
    Column('overdue_disposed', Int),
    Column('closed_at', Int),
    Column('rework_count', Int, nullable=False, server_default=text('0')),
    Column('return_count', Int, nullable=False, server_default=text('0')),
    Column('extension_count', Int, nullable=False, server_default=text('0')),
    Column('pending_extension', Text),
    Column('suspended_from', Text),
    Column('suspended_at', Int),
    Column('merged_into', ForeignKey('cases.id')),
    Column('report_count', Int, nullable=False, server_default=text('1')),
    Column('escalated', Int, nullable=False, server_default=text('0')),
    Column('updated_at', Int),
    Column('version', Int, nullable=False, server_default=text('0')),
    Column('history_count', Int, nullable=False, server_default=text('0')),
    Column('history_head', Text, nullable=False, server_default=text("''")),
    Column('attributes', Text, nullable=False, server_default=text("'{}'")),
    Index('cases_department', 'department', 'status'),
    Index('cases_district', 'district'),
    Index('cases_due', 'due_at', sqlite_where=text("due_at IS NOT NULL"), postgresql_where=text("due_at IS NOT NULL")),
    Index('cases_grid', 'grid'),
    Index('cases_matter', 'matter_code'),
    Index('cases_reported', 'reported_at'),
    Index('cases_status', 'status')
)

case_history = Table(
    'case_history', metadata,
    Column('case_id', ForeignKey('cases.id'), primary_key=True),
    Column('seq', Int, primary_key=True),
    Column('at', Int, nullable=False),
    Column('actor', Text, nullable=False),
    Column('role', Text, nullable=False),
    Column('action', Text, nullable=False),
    Column('from_status', Text),
    Column('to_status', Text, nullable=False),
    Column('reason', Text, nullable=False, server_default=text("''")),
    Column('data', Text, nullable=False, server_default=text("'{}'")),
    Column('prev_hash', Text, nullable=False),
    Column('hash', Text, nullable=False),
    Index('case_history_at', 'at'),
    sqlite_with_rowid=False,
)

idempotency = Table(
    'idempotency', metadata,
    Column('key', Text, primary_key=True),
    Column('case_id', ForeignKey('cases.id'), nullable=False),
    Column('created_at', Int, nullable=False)
)
