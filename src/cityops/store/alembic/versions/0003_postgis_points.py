"""PostGIS points: case, gauge, location and drone-detection positions as geometry(Point, 4326)

Only on PostgreSQL, and only where the PostGIS extension is installed (Debian:
postgresql-15-postgis-3): a column `geom` computed from lon/lat by the database itself (no
write path changes), with a GiST index, so QGIS or GeoServer can show the city's cases as a
layer. Without PostGIS nothing here runs and everything else works the same.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

POINT_TABLES = ("cases", "sta_datastream", "sta_location", "drone_detections")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    available = bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").first()
    if not available:
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    for table in POINT_TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN geom geometry(Point, 4326) GENERATED ALWAYS AS "
                   "(CASE WHEN lon IS NULL OR lat IS NULL THEN NULL "
                   "ELSE ST_SetSRID(ST_MakePoint(lon, lat), 4326) END) STORED")
        op.execute(f"CREATE INDEX {table}_geom ON {table} USING gist (geom)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in POINT_TABLES:
            op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS geom")
