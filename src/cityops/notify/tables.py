"""The notify tables: the one schema definition both stores are made from (migrations in store/alembic)."""

from sqlalchemy import Column, ForeignKey, Index, Table, Text, UniqueConstraint, text

from cityops.store.meta import Int, metadata

notify_subscriptions = Table(
    'notify_subscriptions', metadata,
    Column('id', Int, primary_key=True),
    Column('case_id', ForeignKey('cases.id'), nullable=False),
    Column('channel', Text, nullable=False),
    Column('address', Text, nullable=False),
    Column('origin', Text, nullable=False),
    Column('lang', Text, nullable=False, server_default=text("'zh'")),
    Column('token', Text, nullable=False, unique=True),
    Column('created_at', Int, nullable=False),
    Column('unsubscribed_at', Int),
    UniqueConstraint('case_id', 'channel', 'address')
)

revisits = Table(
    'revisits', metadata,
    Column('id', Int, primary_key=True),
    Column('case_id', ForeignKey('cases.id'), nullable=False),
    Column('closed_seq', Int, nullable=False),
    Column('mode', Text, nullable=False),
    Column('token', Text, nullable=False, unique=True),
    Column('status', Text, nullable=False, server_default=text("'pending'")),
    Column('created_at', Int, nullable=False),
    Column('window_until', Int, nullable=False),
    Column('answered_at', Int),
    Column('answered_by', Text),
    Column('solved', Int),
    Column('satisfaction', Text),
    Column('comment', Text, nullable=False, server_default=text("''")),
    Column('outcome', Text, nullable=False, server_default=text("''")),
    UniqueConstraint('case_id', 'closed_seq'),
    Index('revisits_case', 'case_id'),
    Index('revisits_status', 'status', 'mode')
)

notify_outbox = Table(
    'notify_outbox', metadata,
    Column('id', Int, primary_key=True),
    Column('case_id', Int, nullable=False),
    Column('seq', Int, nullable=False),
    Column('subscription_id', ForeignKey('notify_subscriptions.id'), nullable=False),
    Column('channel', Text, nullable=False),
    Column('address', Text, nullable=False),
    Column('subject', Text, nullable=False),
    Column('body', Text, nullable=False),
    Column('status', Text, nullable=False, server_default=text("'pending'")),
    Column('attempts', Int, nullable=False, server_default=text('0')),
    Column('next_at', Int, nullable=False),
    Column('lease_owner', Text),
    Column('lease_until', Int),
    Column('created_at', Int, nullable=False),
    Column('sent_at', Int),
    Column('last_error', Text, nullable=False, server_default=text("''")),
    UniqueConstraint('case_id', 'seq', 'subscription_id', 'channel'),
    Index('notify_outbox_due', 'status', 'next_at')
)
