"""manual warnings: a person's warning held with its reach until confirmed or approved

Revision ID: 0014_manual_warnings
Revises: 0013_complaint_answers
Create Date: 2026-11-28 21:20:00
"""
import sqlalchemy as sa
from alembic import op

import store.types

revision = '0014_manual_warnings'
down_revision = '0013_complaint_answers'
branch_labels = None
depends_on = None

STATES = ('awaiting_confirmation', 'awaiting_approval', 'released', 'rejected', 'expired')


def upgrade() -> None:
    op.create_table(
        'manual_warnings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=24), nullable=False),
        sa.Column('raw', sa.LargeBinary(), nullable=False),
        sa.Column('content_type', sa.String(length=200), nullable=True),
        sa.Column('format', sa.String(length=32), nullable=False),
        sa.Column('summary', sa.JSON(), nullable=False),
        sa.Column('area_geojson', sa.JSON(), nullable=True),
        sa.Column('reach', sa.JSON(), nullable=False),
        sa.Column('customers', sa.Integer(), nullable=False),
        sa.Column('submitted_by', sa.Integer(), nullable=False),
        sa.Column('submitted_at', store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('wait_until', store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('decided_by', sa.Integer(), nullable=True),
        sa.Column('decided_at', store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('alert_ids', sa.JSON(), nullable=False),
        sa.CheckConstraint("state IN (" + ", ".join(f"'{s}'" for s in STATES) + ")",
                           name=op.f('ck_manual_warnings_state_known')),
        sa.ForeignKeyConstraint(['submitted_by'], ['users.id'], name=op.f('fk_manual_warnings_submitted_by_users')),
        sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_manual_warnings_decided_by_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_manual_warnings')),
    )
    op.create_index(op.f('ix_manual_warnings_state'), 'manual_warnings', ['state'], unique=False)
    op.create_index(op.f('ix_manual_warnings_wait_until'), 'manual_warnings', ['wait_until'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_manual_warnings_wait_until'), table_name='manual_warnings')
    op.drop_index(op.f('ix_manual_warnings_state'), table_name='manual_warnings')
    op.drop_table('manual_warnings')
