"""The data tables: the one schema definition both stores are made from (migrations in store/alembic)."""

from sqlalchemy import Column, Float, ForeignKey, Index, Table, Text, text

from cityops.store.meta import Int, metadata

data_access_log = Table(
    'data_access_log', metadata,
    Column('seq', Int, primary_key=True),
    Column('at', Int, nullable=False),
    Column('actor', Text, nullable=False),
    Column('role', Text, nullable=False),
    Column('action', Text, nullable=False),
    Column('grant_id', Int),
    Column('reason', Text, nullable=False, server_default=text("''")),
    Column('data', Text, nullable=False, server_default=text("'{}'")),
    Column('prev_hash', Text, nullable=False),
    Column('hash', Text, nullable=False)
)

data_report_in = Table(
    'data_report_in', metadata,
    Column('id', Int, primary_key=True),
    Column('sender', Text, nullable=False),
    Column('day', Text, nullable=False),
    Column('mapping', Text, nullable=False),
    Column('body', Text, nullable=False),
    Column('received_at', Int, nullable=False)
)

data_resource = Table(
    'data_resource', metadata,
    Column('id', Int, primary_key=True),
    Column('code', Text, nullable=False, unique=True),
    Column('name', Text, nullable=False),
    Column('description', Text, nullable=False, server_default=text("''")),
    Column('provider', Text, nullable=False),
    Column('provider_code', Text, nullable=False, server_default=text("''")),
    Column('classification', Text, nullable=False, server_default=text("''")),
    Column('theme', Text, nullable=False, server_default=text("''")),
    Column('items', Text, nullable=False, server_default=text("'[]'")),
    Column('sharing', Text, nullable=False),
    Column('sharing_condition', Text, nullable=False, server_default=text("''")),
    Column('openness', Text, nullable=False),
    Column('openness_condition', Text, nullable=False, server_default=text("''")),
    Column('update_cycle', Text, nullable=False, server_default=text("'不定期'")),
    Column('format', Text, nullable=False, server_default=text("'CSV'")),
    Column('keywords', Text, nullable=False, server_default=text("''")),
    Column('published', Text, nullable=False),
    Column('modified', Int, nullable=False),
    Column('source', Text, nullable=False, server_default=text("'registered'")),
    Index('data_resource_modified', 'modified'),
    Index('data_resource_provider', 'provider')
)

data_user = Table(
    'data_user', metadata,
    Column('name', Text, primary_key=True),
    Column('org_name', Text, nullable=False),
    Column('org_code', Text, nullable=False, server_default=text("''")),
    Column('kind', Text, nullable=False, server_default=text("'company'")),
    Column('key_hash', Text, nullable=False, unique=True),
    Column('created_at', Int, nullable=False),
    Column('active', Int, nullable=False, server_default=text('1'))
)

data_application = Table(
    'data_application', metadata,
    Column('id', Int, primary_key=True),
    Column('user_name', ForeignKey('data_user.name'), nullable=False),
    Column('product', Text, nullable=False),
    Column('domain', Text, nullable=False),
    Column('purpose', Text, nullable=False),
    Column('user_product', Text, nullable=False),
    Column('status', Text, nullable=False, server_default=text("'pending'")),
    Column('created_at', Int, nullable=False),
    Column('decided_by', Text),
    Column('decided_at', Int)
)

data_grant = Table(
    'data_grant', metadata,
    Column('id', Int, primary_key=True),
    Column('application_id', ForeignKey('data_application.id'), nullable=False, unique=True),
    Column('user_name', Text, nullable=False),
    Column('product', Text, nullable=False),
    Column('purpose', Text, nullable=False),
    Column('scope', Text, nullable=False),
    Column('mode', Text, nullable=False),
    Column('protection', Text, nullable=False),
    Column('spent', Float, nullable=False, server_default=text('0')),
    Column('credential_hash', Text, nullable=False, unique=True),
    Column('granted_by', Text, nullable=False),
    Column('granted_at', Int, nullable=False),
    Column('expires_at', Int, nullable=False),
    Column('revoked_at', Int)
)
