"""The field tables: the one schema definition both stores are made from (migrations in store/alembic)."""

from sqlalchemy import Column, Float, ForeignKey, Index, LargeBinary, Table, Text, text

from cityops.store.meta import Int, metadata

patrol_tracks = Table(
    'patrol_tracks', metadata,
    Column('id', Int, primary_key=True),
    Column('inspector', Text, nullable=False),
    Column('patrol_grid', Text, nullable=False),
    Column('day', Text, nullable=False),
    Column('started_at', Int, nullable=False),
    Column('ended_at', Int, nullable=False),
    Column('length_m', Float, nullable=False),
    Column('points', Text, nullable=False),
    Column('uploaded_at', Int, nullable=False),
    Column('client_key', Text, unique=True),
    Index('patrol_tracks_day', 'day', 'patrol_grid')
)

attachments = Table(
    'attachments', metadata,
    Column('id', Text, primary_key=True),
    Column('case_id', ForeignKey('cases.id'), nullable=False),
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
    Index('attachments_case', 'case_id', 'stage'),
    Index('attachments_sha', 'sha256'),
    Index('attachments_thumb', 'thumb_sha256')
)

drone_detections = Table(
    'drone_detections', metadata,
    Column('key', Text, primary_key=True),
    Column('flight', Text, nullable=False),
    Column('label', Text, nullable=False),
    Column('matter_code', Text, nullable=False),
    Column('confidence', Float, nullable=False),
    Column('lon', Float, nullable=False),
    Column('lat', Float, nullable=False),
    Column('seen_at', Int, nullable=False),
    Column('case_id', ForeignKey('cases.id')),
    sqlite_with_rowid=False,
)

# Photos and videos kept in the database (field/blobs.py DatabaseBlobs: PostgreSQL's default).
blob = Table(
    'blob', metadata,
    Column('digest', Text, primary_key=True),
    Column('data', LargeBinary, nullable=False),
    Column('created_at', Int, nullable=False),
)
