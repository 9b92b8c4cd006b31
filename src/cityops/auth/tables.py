"""The auth tables: the one schema definition both stores are made from (migrations in store/alembic)."""

from sqlalchemy import Column, ForeignKey, Table, Text, text

from cityops.store.meta import Int, metadata

api_keys = Table(
    'api_keys', metadata,
    Column('name', Text, primary_key=True),
    Column('key_hash', Text, nullable=False, unique=True),
    Column('scope', Text, nullable=False, server_default=text("'report'")),
    Column('created_at', Int, nullable=False),
    Column('revoked_at', Int)
)

users = Table(
    'users', metadata,
    Column('name', Text, primary_key=True),
    Column('role', Text, nullable=False),
    Column('department', Text),
    Column('password_hash', Text, nullable=False),
    Column('created_at', Int, nullable=False),
    Column('active', Int, nullable=False, server_default=text('1'))
)

tokens = Table(
    'tokens', metadata,
    Column('token_hash', Text, primary_key=True),
    Column('user_name', ForeignKey('users.name'), nullable=False),
    Column('created_at', Int, nullable=False),
    Column('expires_at', Int)
)
