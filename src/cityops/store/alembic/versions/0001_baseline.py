"""baseline: the schema of legacy migrations 0001-0021

Revision ID: 0001
Revises:
Create Date: 2026-12-07

A SQLite database made by the legacy .sql migrations (store/legacy/) is brought to their
last one, then stamped with this revision (store/migrate.py), so it continues from here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('key_hash', sa.Text(), nullable=False),
    sa.Column('scope', sa.Text(), server_default=sa.text("'report'"), nullable=False),
    sa.Column('created_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('revoked_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_table('cap_incoming',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('valid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('identifier', sa.Text(), nullable=True),
    sa.Column('sender', sa.Text(), nullable=True),
    sa.Column('sent', sa.Text(), nullable=True),
    sa.Column('msg_type', sa.Text(), nullable=True),
    sa.Column('headline', sa.Text(), nullable=True),
    sa.Column('received_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('xml', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cap_incoming'))
    )
    op.create_table('cases',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('matter_code', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('district', sa.Text(), nullable=False),
    sa.Column('grid', sa.Text(), nullable=False),
    sa.Column('area_class', sa.Text(), nullable=False),
    sa.Column('reported_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('address', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('reporter', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('department', sa.Text(), nullable=True),
    sa.Column('registered_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('dispatched_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('accepted_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('due_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('disposed_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('overdue_disposed', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('closed_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('rework_count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), server_default=sa.text('0'), nullable=False),
    sa.Column('return_count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), server_default=sa.text('0'), nullable=False),
    sa.Column('extension_count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), server_default=sa.text('0'), nullable=False),
    sa.Column('pending_extension', sa.Text(), nullable=True),
    sa.Column('suspended_from', sa.Text(), nullable=True),
    sa.Column('suspended_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('merged_into', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('report_count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), server_default=sa.text('1'), nullable=False),
    sa.Column('escalated', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), server_default=sa.text('0'), nullable=False),
    sa.Column('updated_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('version', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), server_default=sa.text('0'), nullable=False),
    sa.Column('history_count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), server_default=sa.text('0'), nullable=False),
    sa.Column('history_head', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('attributes', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.ForeignKeyConstraint(['merged_into'], ['cases.id'], name=op.f('fk_cases_merged_into_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('cases_department', ['department', 'status'], unique=False)
        batch_op.create_index('cases_district', ['district'], unique=False)
        batch_op.create_index('cases_due', ['due_at'], unique=False, sqlite_where=sa.text('due_at IS NOT NULL'), postgresql_where=sa.text('due_at IS NOT NULL'))
        batch_op.create_index('cases_grid', ['grid'], unique=False)
        batch_op.create_index('cases_matter', ['matter_code'], unique=False)
        batch_op.create_index('cases_reported', ['reported_at'], unique=False)
        batch_op.create_index('cases_status', ['status'], unique=False)

    op.create_table('data_access_log',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('role', sa.Text(), nullable=False),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('grant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reason', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('data', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('prev_hash', sa.Text(), nullable=False),
    sa.Column('hash', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_data_access_log'))
    )
    op.create_table('data_report_in',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sender', sa.Text(), nullable=False),
    sa.Column('day', sa.Text(), nullable=False),
    sa.Column('mapping', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('received_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_report_in'))
    )
    op.create_table('data_resource',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('provider', sa.Text(), nullable=False),
    sa.Column('provider_code', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('classification', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('theme', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('items', sa.Text(), server_default=sa.text("'[]'"), nullable=False),
    sa.Column('sharing', sa.Text(), nullable=False),
    sa.Column('sharing_condition', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('openness', sa.Text(), nullable=False),
    sa.Column('openness_condition', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('update_cycle', sa.Text(), server_default=sa.text("'不定期'"), nullable=False),
    sa.Column('format', sa.Text(), server_default=sa.text("'CSV'"), nullable=False),
    sa.Column('keywords', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('published', sa.Text(), nullable=False),
    sa.Column('modified', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.Text(), server_default=sa.text("'registered'"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_resource')),
    sa.UniqueConstraint('code', name=op.f('uq_data_resource_code'))
    )
    with op.batch_alter_table('data_resource', schema=None) as batch_op:
        batch_op.create_index('data_resource_modified', ['modified'], unique=False)
        batch_op.create_index('data_resource_provider', ['provider'], unique=False)

    op.create_table('data_user',
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('org_name', sa.Text(), nullable=False),
    sa.Column('org_code', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('kind', sa.Text(), server_default=sa.text("'company'"), nullable=False),
    sa.Column('key_hash', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('active', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), server_default=sa.text('1'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_data_user')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_data_user_key_hash'))
    )
    op.create_table('detection_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('level', sa.Text(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('datastream', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('detail', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_detection_log'))
    )
    op.create_table('intel_corrections',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('matter_code', sa.Text(), nullable=False),
    sa.Column('predicted', sa.Text(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('origin', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intel_corrections'))
    )
    op.create_table('intel_models',
    sa.Column('version', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('file', sa.Text(), nullable=False),
    sa.Column('n_train', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('n_corrections', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('active', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), server_default=sa.text('0'), nullable=False),
    sa.Column('note', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_intel_models'))
    )
    op.create_table('observation_segment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('datastream', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('t0', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('t1', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('n', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_observation_segment'))
    )
    with op.batch_alter_table('observation_segment', schema=None) as batch_op:
        batch_op.create_index('observation_segment_end', ['datastream', 't1'], unique=False)

    op.create_table('patrol_tracks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('inspector', sa.Text(), nullable=False),
    sa.Column('patrol_grid', sa.Text(), nullable=False),
    sa.Column('day', sa.Text(), nullable=False),
    sa.Column('started_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ended_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('length_m', sa.Float(), nullable=False),
    sa.Column('points', sa.Text(), nullable=False),
    sa.Column('uploaded_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('client_key', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patrol_tracks')),
    sa.UniqueConstraint('client_key', name=op.f('uq_patrol_tracks_client_key'))
    )
    with op.batch_alter_table('patrol_tracks', schema=None) as batch_op:
        batch_op.create_index('patrol_tracks_day', ['day', 'patrol_grid'], unique=False)

    op.create_table('sensing_counter',
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('value', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_sensing_counter')),
    sqlite_with_rowid=False
    )
    op.create_table('settings',
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_settings'))
    )
    op.create_table('speed_profile',
    sa.Column('datastream', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('segment', sa.Text(), nullable=False),
    sa.Column('free_flow', sa.Float(), nullable=False),
    sa.Column('typical', sa.Text(), nullable=False),
    sa.Column('slot_ms', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('utc_offset_ms', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('datastream', name=op.f('pk_speed_profile'))
    )
    op.create_table('sta_feature',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('encoding_type', sa.Text(), server_default=sa.text("'application/geo+json'"), nullable=False),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('properties', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sta_feature')),
    sqlite_autoincrement=True
    )
    op.create_table('sta_location',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('encoding_type', sa.Text(), server_default=sa.text("'application/geo+json'"), nullable=False),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('properties', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sta_location')),
    sqlite_autoincrement=True
    )
    op.create_table('sta_observed_property',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('definition', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('description', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('properties', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sta_observed_property')),
    sqlite_autoincrement=True
    )
    op.create_table('sta_sensor',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('encoding_type', sa.Text(), server_default=sa.text("'text/html'"), nullable=False),
    sa.Column('metadata', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('properties', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sta_sensor')),
    sqlite_autoincrement=True
    )
    op.create_table('sta_thing',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('properties', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sta_thing')),
    sqlite_autoincrement=True
    )
    op.create_table('users',
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('role', sa.Text(), nullable=False),
    sa.Column('department', sa.Text(), nullable=True),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('active', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), server_default=sa.text('1'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_users'))
    )
    op.create_table('warning_skill',
    sa.Column('point', sa.Text(), nullable=False),
    sa.Column('forecast', sa.Text(), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('events', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('warned', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('false_alarms', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('recall', sa.Float(), nullable=False),
    sa.Column('precision', sa.Float(), nullable=False),
    sa.Column('median_lead_min', sa.Float(), nullable=False),
    sa.Column('baselines', sa.Text(), nullable=False),
    sa.Column('protocol', sa.Text(), nullable=False),
    sa.Column('computed_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('point', 'forecast', name=op.f('pk_warning_skill')),
    sqlite_with_rowid=False
    )
    op.create_table('warning_webhooks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_warning_webhooks')),
    sa.UniqueConstraint('url', name=op.f('uq_warning_webhooks_url'))
    )
    op.create_table('warnings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('identifier', sa.Text(), nullable=False),
    sa.Column('msg_type', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('level', sa.Text(), nullable=False),
    sa.Column('point', sa.Text(), nullable=True),
    sa.Column('districts', sa.Text(), nullable=False),
    sa.Column('headline_zh', sa.Text(), nullable=False),
    sa.Column('headline_en', sa.Text(), nullable=False),
    sa.Column('description_zh', sa.Text(), nullable=False),
    sa.Column('description_en', sa.Text(), nullable=False),
    sa.Column('onset', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('expires', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('refs', sa.Text(), server_default=sa.text("'[]'"), nullable=False),
    sa.Column('replaces', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('params', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('sent', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('approved_by', sa.Text(), nullable=True),
    sa.Column('approved_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('issued_by', sa.Text(), nullable=True),
    sa.Column('cap_xml', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['replaces'], ['warnings.id'], name=op.f('fk_warnings_replaces_warnings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_warnings')),
    sa.UniqueConstraint('identifier', name=op.f('uq_warnings_identifier'))
    )
    with op.batch_alter_table('warnings', schema=None) as batch_op:
        batch_op.create_index('warnings_status', ['status', 'expires'], unique=False)

    op.create_table('attachments',
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('stage', sa.Text(), nullable=False),
    sa.Column('sha256', sa.Text(), nullable=False),
    sa.Column('thumb_sha256', sa.Text(), nullable=False),
    sa.Column('media_type', sa.Text(), nullable=False),
    sa.Column('size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('width', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('height', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('taken_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('photo_lon', sa.Float(), nullable=True),
    sa.Column('photo_lat', sa.Float(), nullable=True),
    sa.Column('distance_m', sa.Float(), nullable=True),
    sa.Column('flags', sa.Text(), server_default=sa.text("'[]'"), nullable=False),
    sa.Column('uploaded_by', sa.Text(), nullable=False),
    sa.Column('uploaded_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_attachments_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attachments'))
    )
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.create_index('attachments_case', ['case_id', 'stage'], unique=False)
        batch_op.create_index('attachments_sha', ['sha256'], unique=False)
        batch_op.create_index('attachments_thumb', ['thumb_sha256'], unique=False)

    op.create_table('case_history',
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('role', sa.Text(), nullable=False),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('from_status', sa.Text(), nullable=True),
    sa.Column('to_status', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('data', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('prev_hash', sa.Text(), nullable=False),
    sa.Column('hash', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_history_case_id_cases')),
    sa.PrimaryKeyConstraint('case_id', 'seq', name=op.f('pk_case_history')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('case_history', schema=None) as batch_op:
        batch_op.create_index('case_history_at', ['at'], unique=False)

    op.create_table('data_application',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_name', sa.Text(), nullable=False),
    sa.Column('product', sa.Text(), nullable=False),
    sa.Column('domain', sa.Text(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('user_product', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'"), nullable=False),
    sa.Column('created_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('decided_by', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['user_name'], ['data_user.name'], name=op.f('fk_data_application_user_name_data_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_application'))
    )
    op.create_table('detection_case',
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('level', sa.Text(), nullable=False),
    sa.Column('opened_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('updated_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('detections', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), server_default=sa.text('1'), nullable=False),
    sa.Column('episode_end', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_detection_case_case_id_cases')),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_detection_case')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('detection_case', schema=None) as batch_op:
        batch_op.create_index('detection_case_case', ['case_id'], unique=False)

    op.create_table('drone_detections',
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('flight', sa.Text(), nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.Column('matter_code', sa.Text(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('seen_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_drone_detections_case_id_cases')),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_drone_detections')),
    sqlite_with_rowid=False
    )
    op.create_table('idempotency',
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_idempotency_case_id_cases')),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_idempotency'))
    )
    op.create_table('intel_triage',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('address', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('reporter', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('suggested', sa.Text(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('top_k', sa.Text(), nullable=False),
    sa.Column('model_version', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'open'"), nullable=False),
    sa.Column('matter_code', sa.Text(), nullable=True),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('decided_by', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('attributes', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_intel_triage_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intel_triage'))
    )
    with op.batch_alter_table('intel_triage', schema=None) as batch_op:
        batch_op.create_index('intel_triage_open', ['status', 'id'], unique=False)
        batch_op.create_index('intel_triage_source', ['source'], unique=False)

    op.create_table('notify_subscriptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.Text(), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('origin', sa.Text(), nullable=False),
    sa.Column('lang', sa.Text(), server_default=sa.text("'zh'"), nullable=False),
    sa.Column('token', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('unsubscribed_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_notify_subscriptions_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_subscriptions')),
    sa.UniqueConstraint('case_id', 'channel', 'address', name=op.f('uq_notify_subscriptions_case_id')),
    sa.UniqueConstraint('token', name=op.f('uq_notify_subscriptions_token'))
    )
    op.create_table('open311_tokens',
    sa.Column('token', sa.Text(), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_open311_tokens_case_id_cases')),
    sa.PrimaryKeyConstraint('token', name=op.f('pk_open311_tokens')),
    sa.UniqueConstraint('case_id', name=op.f('uq_open311_tokens_case_id')),
    sqlite_with_rowid=False
    )
    op.create_table('revisits',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('closed_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('mode', sa.Text(), nullable=False),
    sa.Column('token', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'"), nullable=False),
    sa.Column('created_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('window_until', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('answered_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('answered_by', sa.Text(), nullable=True),
    sa.Column('solved', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('satisfaction', sa.Text(), nullable=True),
    sa.Column('comment', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('outcome', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_revisits_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_revisits')),
    sa.UniqueConstraint('case_id', 'closed_seq', name=op.f('uq_revisits_case_id')),
    sa.UniqueConstraint('token', name=op.f('uq_revisits_token'))
    )
    with op.batch_alter_table('revisits', schema=None) as batch_op:
        batch_op.create_index('revisits_case', ['case_id'], unique=False)
        batch_op.create_index('revisits_status', ['status', 'mode'], unique=False)

    op.create_table('sta_datastream',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('thing_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sensor_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('observed_property_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('feature_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('unit', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('observation_type', sa.Text(), server_default=sa.text("'http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement'"), nullable=False),
    sa.Column('kind', sa.Text(), server_default=sa.text("'other'"), nullable=False),
    sa.Column('point', sa.Text(), nullable=True),
    sa.Column('grid', sa.Text(), nullable=True),
    sa.Column('district', sa.Text(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('yellow', sa.Float(), nullable=True),
    sa.Column('red', sa.Float(), nullable=True),
    sa.Column('properties', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('owner', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['feature_id'], ['sta_feature.id'], name=op.f('fk_sta_datastream_feature_id_sta_feature')),
    sa.ForeignKeyConstraint(['observed_property_id'], ['sta_observed_property.id'], name=op.f('fk_sta_datastream_observed_property_id_sta_observed_property')),
    sa.ForeignKeyConstraint(['sensor_id'], ['sta_sensor.id'], name=op.f('fk_sta_datastream_sensor_id_sta_sensor')),
    sa.ForeignKeyConstraint(['thing_id'], ['sta_thing.id'], name=op.f('fk_sta_datastream_thing_id_sta_thing')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sta_datastream')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('sta_datastream', schema=None) as batch_op:
        batch_op.create_index('sta_datastream_point', ['point'], unique=False)
        batch_op.create_index('sta_datastream_thing', ['thing_id'], unique=False)

    op.create_table('sta_historical_location',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('thing_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('time', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['thing_id'], ['sta_thing.id'], name=op.f('fk_sta_historical_location_thing_id_sta_thing')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sta_historical_location')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('sta_historical_location', schema=None) as batch_op:
        batch_op.create_index('sta_historical_location_thing', ['thing_id', 'time'], unique=False)

    op.create_table('sta_thing_location',
    sa.Column('thing_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('location_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['sta_location.id'], name=op.f('fk_sta_thing_location_location_id_sta_location')),
    sa.ForeignKeyConstraint(['thing_id'], ['sta_thing.id'], name=op.f('fk_sta_thing_location_thing_id_sta_thing')),
    sa.PrimaryKeyConstraint('thing_id', 'location_id', name=op.f('pk_sta_thing_location')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('sta_thing_location', schema=None) as batch_op:
        batch_op.create_index('sta_thing_location_location', ['location_id'], unique=False)

    op.create_table('tokens',
    sa.Column('token_hash', sa.Text(), nullable=False),
    sa.Column('user_name', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('expires_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['user_name'], ['users.name'], name=op.f('fk_tokens_user_name_users')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_tokens'))
    )
    op.create_table('warning_dispatch',
    sa.Column('warning_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('district', sa.Text(), nullable=False),
    sa.Column('due_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('acknowledged_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('acknowledged_by', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['warning_id'], ['warnings.id'], name=op.f('fk_warning_dispatch_warning_id_warnings')),
    sa.PrimaryKeyConstraint('warning_id', 'district', name=op.f('pk_warning_dispatch')),
    sqlite_with_rowid=False
    )
    op.create_table('data_grant',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('application_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_name', sa.Text(), nullable=False),
    sa.Column('product', sa.Text(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('mode', sa.Text(), nullable=False),
    sa.Column('protection', sa.Text(), nullable=False),
    sa.Column('spent', sa.Float(), server_default=sa.text('0'), nullable=False),
    sa.Column('credential_hash', sa.Text(), nullable=False),
    sa.Column('granted_by', sa.Text(), nullable=False),
    sa.Column('granted_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('expires_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('revoked_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['data_application.id'], name=op.f('fk_data_grant_application_id_data_application')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_grant')),
    sa.UniqueConstraint('application_id', name=op.f('uq_data_grant_application_id')),
    sa.UniqueConstraint('credential_hash', name=op.f('uq_data_grant_credential_hash'))
    )
    op.create_table('intel_triage_photos',
    sa.Column('triage_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('stage', sa.Text(), nullable=False),
    sa.Column('sha256', sa.Text(), nullable=False),
    sa.Column('thumb_sha256', sa.Text(), nullable=False),
    sa.Column('media_type', sa.Text(), nullable=False),
    sa.Column('size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('width', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('height', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('taken_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('photo_lon', sa.Float(), nullable=True),
    sa.Column('photo_lat', sa.Float(), nullable=True),
    sa.Column('distance_m', sa.Float(), nullable=True),
    sa.Column('flags', sa.Text(), server_default=sa.text("'[]'"), nullable=False),
    sa.Column('uploaded_by', sa.Text(), nullable=False),
    sa.Column('uploaded_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['triage_id'], ['intel_triage.id'], name=op.f('fk_intel_triage_photos_triage_id_intel_triage')),
    sa.PrimaryKeyConstraint('triage_id', name=op.f('pk_intel_triage_photos')),
    sa.UniqueConstraint('id', name=op.f('uq_intel_triage_photos_id'))
    )
    with op.batch_alter_table('intel_triage_photos', schema=None) as batch_op:
        batch_op.create_index('intel_triage_photos_sha', ['sha256'], unique=False)
        batch_op.create_index('intel_triage_photos_thumb', ['thumb_sha256'], unique=False)

    op.create_table('notify_outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subscription_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.Text(), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'"), nullable=False),
    sa.Column('attempts', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), server_default=sa.text('0'), nullable=False),
    sa.Column('next_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lease_owner', sa.Text(), nullable=True),
    sa.Column('lease_until', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sent_at', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('last_error', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.ForeignKeyConstraint(['subscription_id'], ['notify_subscriptions.id'], name=op.f('fk_notify_outbox_subscription_id_notify_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_outbox')),
    sa.UniqueConstraint('case_id', 'seq', 'subscription_id', 'channel', name=op.f('uq_notify_outbox_case_id'))
    )
    with op.batch_alter_table('notify_outbox', schema=None) as batch_op:
        batch_op.create_index('notify_outbox_due', ['status', 'next_at'], unique=False)

    op.create_table('sta_historical_location_location',
    sa.Column('historical_location_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('location_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['historical_location_id'], ['sta_historical_location.id'], name=op.f('fk_sta_historical_location_location_historical_location_id_sta_historical_location')),
    sa.ForeignKeyConstraint(['location_id'], ['sta_location.id'], name=op.f('fk_sta_historical_location_location_location_id_sta_location')),
    sa.PrimaryKeyConstraint('historical_location_id', 'location_id', name=op.f('pk_sta_historical_location_location')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('sta_historical_location_location', schema=None) as batch_op:
        batch_op.create_index('sta_historical_location_location_location', ['location_id'], unique=False)

    _extras(op.get_bind().dialect.name)


# In creation order (referenced tables first): dropped the other way round.
TABLES = ("api_keys", "cap_incoming", "cases", "data_access_log", "data_report_in",
          "data_resource", "data_user", "detection_log", "intel_corrections", "intel_models",
          "observation_segment", "patrol_tracks", "sensing_counter", "settings", "speed_profile",
          "sta_feature", "sta_location", "sta_observed_property", "sta_sensor", "sta_thing",
          "users", "warning_skill", "warning_webhooks", "warnings", "attachments",
          "case_history", "data_application", "detection_case", "drone_detections", "idempotency",
          "intel_triage", "notify_subscriptions", "open311_tokens", "revisits", "sta_datastream",
          "sta_historical_location", "sta_thing_location", "tokens", "warning_dispatch", "data_grant",
          "intel_triage_photos", "notify_outbox", "sta_historical_location_location")


def downgrade() -> None:
    """Back to an empty database: every object the baseline made, its data with it."""
    if op.get_bind().dialect.name == "sqlite":
        for what in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS case_history_no_{what}")
    else:
        op.execute("DROP TRIGGER IF EXISTS case_history_append_only ON case_history")
        op.execute("DROP FUNCTION IF EXISTS cityops_append_only()")
    op.execute("DROP VIEW IF EXISTS observation")
    op.execute("DROP INDEX IF EXISTS intel_triage_key")
    op.execute("DROP TABLE IF EXISTS data_resource_fts")
    for table in reversed(TABLES):
        op.drop_table(table)


def _extras(dialect: str) -> None:
    """What SQLAlchemy's tables cannot say: append-only history, the catalogue's full-text
    index, the reading-per-row view of the segments, an index on a JSON member."""
    if dialect == "sqlite":
        for what in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER case_history_no_{what.lower()} BEFORE {what} ON case_history "
                       "BEGIN SELECT RAISE(ABORT, 'case history is append-only'); END")
        op.execute("CREATE VIRTUAL TABLE data_resource_fts USING fts5(terms)")
        op.execute("CREATE VIEW observation (datastream, t, result) AS SELECT s.datastream, "
                   "CAST(j.value ->> 0 AS INTEGER), CAST(j.value ->> 1 AS REAL) "
                   "FROM observation_segment AS s, json_each(s.data) AS j")
        op.execute("CREATE INDEX intel_triage_key ON intel_triage(json_extract(attributes, '$.idempotency_key'))")
        return
    op.execute("CREATE FUNCTION cityops_append_only() RETURNS trigger LANGUAGE plpgsql AS "
               "$$ BEGIN RAISE EXCEPTION 'case history is append-only'; END $$")
    op.execute("CREATE TRIGGER case_history_append_only BEFORE UPDATE OR DELETE ON case_history "
               "FOR EACH ROW EXECUTE FUNCTION cityops_append_only()")
    # The catalogue's bigram terms (data/catalogue.py), searched as a 'simple' text vector.
    op.execute("CREATE TABLE data_resource_fts (rowid BIGINT PRIMARY KEY, terms TEXT NOT NULL)")
    op.execute("CREATE INDEX data_resource_fts_terms ON data_resource_fts USING gin (to_tsvector('simple', terms))")
    op.execute("CREATE VIEW observation (datastream, t, result) AS SELECT s.datastream, "
               "(j.value ->> 0)::bigint, (j.value ->> 1)::double precision "
               "FROM observation_segment AS s, jsonb_array_elements(s.data::jsonb) AS j")
    op.execute("CREATE INDEX intel_triage_key ON intel_triage ((attributes::jsonb ->> 'idempotency_key'))")
