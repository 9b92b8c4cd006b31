"""observation view: segment times written as floats ("1700000000000.0") read on PostgreSQL too

Segments written before times were written as JSON integers (every SQLite city's, and what
`cityops store copy` carries over verbatim) hold each time as a float. SQLite's CAST(… AS
INTEGER) takes that; PostgreSQL's ::bigint refuses "5.0", so the view reads the member as a
double (exact below 2**53 ms) and then as bigint. SQLite's view is unchanged.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE OR REPLACE VIEW observation (datastream, t, result) AS SELECT s.datastream, "
               "CAST(CAST(j.value ->> 0 AS double precision) AS bigint), (j.value ->> 1)::double precision "
               "FROM observation_segment AS s, jsonb_array_elements(s.data::jsonb) AS j")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE OR REPLACE VIEW observation (datastream, t, result) AS SELECT s.datastream, "
               "(j.value ->> 0)::bigint, (j.value ->> 1)::double precision "
               "FROM observation_segment AS s, jsonb_array_elements(s.data::jsonb) AS j")
