"""notifications.send_rank: the most exposed customers of a fan-out are sent to first

Revision ID: 0015_notification_send_rank
Revises: 0014_manual_warnings
Create Date: 2026-11-28 21:15:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0015_notification_send_rank'
down_revision = '0014_manual_warnings'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('send_rank', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('send_rank')
