"""The sensing tables: the one schema definition both stores are made from (migrations in store/alembic)."""

from sqlalchemy import Column, Float, ForeignKey, Index, Table, Text, text

from cityops.store.meta import Int, metadata


def _segments(name: str) -> Table:
    """A table of reading segments (sensing/store.py): one row per datastream and batch."""
    return Table(
        name, metadata,
        Column('id', Int, primary_key=True),
        Column('datastream', Int, nullable=False),
        Column('t0', Int, nullable=False),
        Column('t1', Int, nullable=False),
        Column('n', Int, nullable=False),
        Column('data', Text, nullable=False),
        Index(f'{name}_end', 'datastream', 't1')
    )


observation_segment = _segments('observation_segment')
# Where new segments land (migration 0010): a small table whose index a batch of every
# datastream touches cheaply, settled into observation_segment when it fills (sensing/compact.py).
observation_recent = _segments('observation_recent')

sensing_counter = Table(
    'sensing_counter', metadata,
    Column('name', Text, primary_key=True),
    Column('value', Int, nullable=False),
    sqlite_with_rowid=False,
)

speed_profile = Table(
    'speed_profile', metadata,
    Column('datastream', Int, primary_key=True),
    Column('segment', Text, nullable=False),
    Column('free_flow', Float, nullable=False),
    Column('typical', Text, nullable=False),
    Column('slot_ms', Int, nullable=False),
    Column('utc_offset_ms', Int, nullable=False)
)

sta_feature = Table(
    'sta_feature', metadata,
    Column('id', Int, primary_key=True),
    Column('name', Text, nullable=False),
    Column('description', Text, nullable=False, server_default=text("''")),
    Column('encoding_type', Text, nullable=False, server_default=text("'application/geo+json'")),
    Column('lon', Float),
    Column('lat', Float),
    Column('properties', Text, nullable=False, server_default=text("'{}'")),
    sqlite_autoincrement=True,
)

sta_location = Table(
    'sta_location', metadata,
    Column('id', Int, primary_key=True),
    Column('name', Text, nullable=False),
    Column('description', Text, nullable=False, server_default=text("''")),
    Column('encoding_type', Text, nullable=False, server_default=text("'application/geo+json'")),
    Column('lon', Float),
    Column('lat', Float),
    Column('properties', Text, nullable=False, server_default=text("'{}'")),
    sqlite_autoincrement=True,
)

sta_observed_property = Table(
    'sta_observed_property', metadata,
    Column('id', Int, primary_key=True),
    Column('name', Text, nullable=False),
    Column('definition', Text, nullable=False, server_default=text("''")),
    Column('description', Text, nullable=False, server_default=text("''")),
    Column('properties', Text, nullable=False, server_default=text("'{}'")),
    sqlite_autoincrement=True,
)

sta_sensor = Table(
    'sta_sensor', metadata,
    Column('id', Int, primary_key=True),
    Column('name', Text, nullable=False),
    Column('description', Text, nullable=False, server_default=text("''")),
    Column('encoding_type', Text, nullable=False, server_default=text("'text/html'")),
    Column('metadata', Text, nullable=False, server_default=text("''")),
    Column('properties', Text, nullable=False, server_default=text("'{}'")),
    sqlite_autoincrement=True,
)

sta_thing = Table(
    'sta_thing', metadata,
    Column('id', Int, primary_key=True),
    Column('name', Text, nullable=False),
    Column('description', Text, nullable=False, server_default=text("''")),
    Column('properties', Text, nullable=False, server_default=text("'{}'")),
    sqlite_autoincrement=True,
)

sta_datastream = Table(
    'sta_datastream', metadata,
    Column('id', Int, primary_key=True),
    Column('name', Text, nullable=False),
    Column('description', Text, nullable=False, server_default=text("''")),
    Column('thing_id', ForeignKey('sta_thing.id'), nullable=False),
    Column('sensor_id', ForeignKey('sta_sensor.id'), nullable=False),
    Column('observed_property_id', ForeignKey('sta_observed_property.id'), nullable=False),
    Column('feature_id', ForeignKey('sta_feature.id')),
    Column('unit', Text, nullable=False, server_default=text("'{}'")),
    Column('observation_type', Text, nullable=False, server_default=text("'http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement'")),
    Column('kind', Text, nullable=False, server_default=text("'other'")),
    Column('point', Text),
    Column('grid', Text),
    Column('district', Text),
    Column('lon', Float),
    Column('lat', Float),
    Column('yellow', Float),
    Column('red', Float),
    Column('properties', Text, nullable=False, server_default=text("'{}'")),
    Column('owner', Text),
    Index('sta_datastream_point', 'point'),
    Index('sta_datastream_thing', 'thing_id'),
    sqlite_autoincrement=True,
)

sta_historical_location = Table(
    'sta_historical_location', metadata,
    Column('id', Int, primary_key=True),
    Column('thing_id', ForeignKey('sta_thing.id'), nullable=False),
    Column('time', Int, nullable=False),
    Index('sta_historical_location_thing', 'thing_id', 'time'),
    sqlite_autoincrement=True,
)

sta_thing_location = Table(
    'sta_thing_location', metadata,
    Column('thing_id', ForeignKey('sta_thing.id'), primary_key=True),
    Column('location_id', ForeignKey('sta_location.id'), primary_key=True),
    Index('sta_thing_location_location', 'location_id'),
    sqlite_with_rowid=False,
)

sta_historical_location_location = Table(
    'sta_historical_location_location', metadata,
    Column('historical_location_id', ForeignKey('sta_historical_location.id'), primary_key=True),
    Column('location_id', ForeignKey('sta_location.id'), primary_key=True),
    Index('sta_historical_location_location_location', 'location_id'),
    sqlite_with_rowid=False,
)

# An Observation's own SensorThings members (OGC 18-088 §8.2.7): its resultTime as the client
# gave it (NULL: none given) and its FeatureOfInterest where that is not its Datastream's.
# Readings are not rows (one observation_segment row holds a batch's readings of one
# datastream), so these live beside the segments, one row per reading that has either, under
# the reading's key (datastream, t in ms): gateway, batch and MQTT readings cost no row.
sta_observation = Table(
    'sta_observation', metadata,
    Column('datastream', Int, primary_key=True),
    Column('t', Int, primary_key=True),
    Column('result_time', Int),
    Column('feature_id', ForeignKey('sta_feature.id')),
    Index('sta_observation_feature', 'feature_id'),
)
