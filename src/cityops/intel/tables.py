"""The intel tables: the one schema definition both stores are made from (migrations in store/alembic)."""

from sqlalchemy import Column, Float, ForeignKey, Index, Table, Text, text

from cityops.store.meta import Int, metadata

intel_corrections = Table(
    'intel_corrections', metadata,
    Column('id', Int, primary_key=True),
    Column('at', Int, nullable=False),
    Column('text', Text, nullable=False),
    Column('matter_code', Text, nullable=False),
    Column('predicted', Text),
    Column('confidence', Float),
    Column('actor', Text, nullable=False),
    Column('origin', Text, nullable=False)
)

intel_models = Table(
    'intel_models', metadata,
    Column('version', Int, primary_key=True),
    Column('created_at', Int, nullable=False),
    Column('file', Text, nullable=False),
    Column('n_train', Int, nullable=False),
    Column('n_corrections', Int, nullable=False),
    Column('active', Int, nullable=False, server_default=text('0')),
    Column('note', Text, nullable=False, server_default=text("''"))
)

intel_triage = Table(
    'intel_triage', metadata,
    Column('id', Int, primary_key=True),
    Column('created_at', Int, nullable=False),
    Column('text', Text, nullable=False),
    Column('lon', Float),
    Column('lat', Float),
    Column('source', Text, nullable=False),
    Column('address', Text, nullable=False, server_default=text("''")),
    Column('reporter', Text, nullable=False, server_default=text("''")),
    Column('suggested', Text),
    Column('confidence', Float, nullable=False),
    Column('top_k', Text, nullable=False),
    Column('model_version', Int),
    Column('reason', Text, nullable=False),
    Column('status', Text, nullable=False, server_default=text("'open'")),
    Column('matter_code', Text),
    Column('case_id', ForeignKey('cases.id')),
    Column('decided_by', Text),
    Column('decided_at', Int),
    Column('attributes', Text, nullable=False, server_default=text("'{}'")),
    Index('intel_triage_open', 'status', 'id'),
    Index('intel_triage_source', 'source')
)

intel_triage_photos = Table(
    'intel_triage_photos', metadata,
    Column('triage_id', ForeignKey('intel_triage.id'), primary_key=True),
    Column('id', Text, nullable=False, unique=True),
    Column('stage', Text, nullable=False),
    Column('sha256', Text, nullable=False),
    Column('thumb_sha256', Text, nullable=False),
    Column('media_type', Text, nullable=False),
    Column('size', Int, nullable=False),
    Column('width', Int, nullable=False),
    Column('height', Int, nullable=False),
    Column('taken_at', Int),
    Column('photo_lon', Float),
    Column('photo_lat', Float),
    Column('distance_m', Float),
    Column('flags', Text, nullable=False, server_default=text("'[]'")),
    Column('uploaded_by', Text, nullable=False),
    Column('uploaded_at', Int, nullable=False),
    Column('duration_s', Float),
    Index('intel_triage_photos_sha', 'sha256'),
    Index('intel_triage_photos_thumb', 'thumb_sha256')
)
