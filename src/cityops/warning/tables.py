"""The warning tables: the one schema definition both stores are made from (migrations in store/alembic)."""

from sqlalchemy import Column, Float, ForeignKey, Index, LargeBinary, Table, Text, text

from cityops.store.meta import Int, metadata

cap_incoming = Table(
    'cap_incoming', metadata,
    Column('id', Int, primary_key=True),
    Column('source', Text, nullable=False),
    Column('valid', Int, nullable=False),
    Column('reason', Text, nullable=False),
    Column('identifier', Text),
    Column('sender', Text),
    Column('sent', Text),
    Column('msg_type', Text),
    Column('headline', Text),
    Column('received_at', Int, nullable=False),
    Column('xml', LargeBinary, nullable=False)
)

warning_skill = Table(
    'warning_skill', metadata,
    Column('point', Text, primary_key=True),
    Column('forecast', Text, primary_key=True),
    Column('threshold', Float, nullable=False),
    Column('events', Int, nullable=False),
    Column('warned', Int, nullable=False),
    Column('false_alarms', Int, nullable=False),
    Column('recall', Float, nullable=False),
    Column('precision', Float, nullable=False),
    Column('median_lead_min', Float, nullable=False),
    Column('baselines', Text, nullable=False),
    Column('protocol', Text, nullable=False),
    Column('computed_at', Int, nullable=False),
    sqlite_with_rowid=False,
)

warning_webhooks = Table(
    'warning_webhooks', metadata,
    Column('id', Int, primary_key=True),
    Column('url', Text, nullable=False, unique=True),
    Column('created_at', Int, nullable=False)
)

warnings = Table(
    'warnings', metadata,
    Column('id', Int, primary_key=True),
    Column('identifier', Text, nullable=False, unique=True),
    Column('msg_type', Text, nullable=False),
    Column('status', Text, nullable=False),
    Column('level', Text, nullable=False),
    Column('point', Text),
    Column('districts', Text, nullable=False),
    Column('headline_zh', Text, nullable=False),
    Column('headline_en', Text, nullable=False),
    Column('description_zh', Text, nullable=False),
    Column('description_en', Text, nullable=False),
    Column('onset', Int, nullable=False),
    Column('expires', Int, nullable=False),
    Column('refs', Text, nullable=False, server_default=text("'[]'")),
    Column('replaces', ForeignKey('warnings.id')),
    Column('params', Text, nullable=False, server_default=text("'{}'")),
    Column('sent', Int),
    Column('created_by', Text, nullable=False),
    Column('created_at', Int, nullable=False),
    Column('approved_by', Text),
    Column('approved_at', Int),
    Column('issued_by', Text),
    Column('cap_xml', LargeBinary),
    Index('warnings_status', 'status', 'expires')
)

warning_dispatch = Table(
    'warning_dispatch', metadata,
    Column('warning_id', ForeignKey('warnings.id'), primary_key=True),
    Column('district', Text, primary_key=True),
    Column('due_at', Int, nullable=False),
    Column('acknowledged_at', Int),
    Column('acknowledged_by', Text),
    sqlite_with_rowid=False,
)
