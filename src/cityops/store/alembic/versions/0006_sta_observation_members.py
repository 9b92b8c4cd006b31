"""sta observation members: an Observation's own resultTime and FeatureOfInterest (OGC 18-088 §8.2.7)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sta_observation',
    sa.Column('datastream', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('t', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('result_time', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('feature_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['feature_id'], ['sta_feature.id'], name=op.f('fk_sta_observation_feature_id_sta_feature')),
    sa.PrimaryKeyConstraint('datastream', 't', name=op.f('pk_sta_observation'))
    )
    with op.batch_alter_table('sta_observation', schema=None) as batch_op:
        batch_op.create_index('sta_observation_feature', ['feature_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sta_observation', schema=None) as batch_op:
        batch_op.drop_index('sta_observation_feature')

    op.drop_table('sta_observation')
