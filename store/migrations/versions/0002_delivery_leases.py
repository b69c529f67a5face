"""delivery leases: notifications.lease_until and fan_out_leases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 18:10:00
"""
from alembic import op
import sqlalchemy as sa
import store.types


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_until', store.types.UTCDateTime(timezone=True), nullable=True))

    op.create_table('fan_out_leases',
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('lease_until', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('started_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_fan_out_leases_alert_id_alerts')),
    sa.PrimaryKeyConstraint('alert_id', name=op.f('pk_fan_out_leases'))
    )


def downgrade() -> None:
    op.drop_table('fan_out_leases')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
