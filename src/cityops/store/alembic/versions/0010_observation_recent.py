"""observation_recent: new reading segments land in a small table of their own

A batch of every datastream (a city gateway's few minutes) adds one segment per datastream.
In one big segment table each such batch touched nearly every leaf of its (datastream, t1)
index, and the cost of a batch grew with the day (14,000 datastreams: 90 ms → 350 ms per
batch over 150 batches on the development machine). New segments now land in
`observation_recent`, whose index stays small; when it fills, its segments are merged per
datastream into `observation_segment` in one step (sensing/compact.py `settle`). Readers see
both tables; the `observation` view is their union.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_VIEW = {
    "sqlite": "SELECT s.datastream, CAST(j.value ->> 0 AS INTEGER), CAST(j.value ->> 1 AS REAL) "
              "FROM {table} AS s, json_each(s.data) AS j",
    "postgresql": "SELECT s.datastream, CAST(CAST(j.value ->> 0 AS double precision) AS bigint), "
                  "(j.value ->> 1)::double precision FROM {table} AS s, jsonb_array_elements(s.data::jsonb) AS j",
}


def _view(dialect: str, tables: tuple[str, ...]) -> None:
    op.execute("DROP VIEW IF EXISTS observation")
    op.execute("CREATE VIEW observation (datastream, t, result) AS "
               + " UNION ALL ".join(_VIEW[dialect].format(table=t) for t in tables))


def upgrade() -> None:
    op.create_table(
        "observation_recent",
        sa.Column("id", _INT, nullable=False),
        sa.Column("datastream", _INT, nullable=False),
        sa.Column("t0", _INT, nullable=False),
        sa.Column("t1", _INT, nullable=False),
        sa.Column("n", _INT, nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation_recent")),
    )
    with op.batch_alter_table("observation_recent", schema=None) as batch_op:
        batch_op.create_index("observation_recent_end", ["datastream", "t1"], unique=False)
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        # As observation_segment: lz4 where the server has it (0008), live pages told (0005).
        if op.get_bind().exec_driver_sql("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
                                         "AND 'lz4' = ANY(enumvals)").first():
            op.execute("ALTER TABLE observation_recent ALTER COLUMN data SET COMPRESSION lz4")
        op.execute("CREATE TRIGGER observation_recent_notify AFTER INSERT OR UPDATE OR DELETE ON observation_recent "
                   "FOR EACH STATEMENT EXECUTE FUNCTION cityops_notify()")
    _view(dialect, ("observation_segment", "observation_recent"))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("INSERT INTO observation_segment (datastream, t0, t1, n, data) "
               "SELECT datastream, t0, t1, n, data FROM observation_recent ORDER BY id")
    _view(dialect, ("observation_segment",))
    op.drop_table("observation_recent")
