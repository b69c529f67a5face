"""replies to the warning SMS: the reply on the notification, what an inbound message opened, a claim's intake

Revision ID: 0010_warning_replies
Revises: 0009_rescue_hold
Create Date: 2026-11-28 19:40:00
"""
import sqlalchemy as sa
from alembic import op

import store.types

revision = '0010_warning_replies'
down_revision = '0009_rescue_hold'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reply', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('replied_at', store.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reply', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('notification_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('claim_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rescue_job_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_inbound_messages_notification_id'), ['notification_id'], unique=False)
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('intake_channel', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('warning_chain_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_claims_warning_chain_id_alert_chains'), 'alert_chains',
                                    ['warning_chain_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_claims_warning_chain_id_alert_chains'), type_='foreignkey')
        batch_op.drop_column('warning_chain_id')
        batch_op.drop_column('intake_channel')
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_messages_notification_id'))
        batch_op.drop_column('rescue_job_id')
        batch_op.drop_column('claim_id')
        batch_op.drop_column('notification_id')
        batch_op.drop_column('reply')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('replied_at')
        batch_op.drop_column('reply')
