"""notifications by recipient and hand-over time: a reply to a warning finds the warning it answers

Revision ID: 0011_notifications_by_recipient
Revises: 0010_warning_replies
Create Date: 2026-11-28 19:50:00
"""
from alembic import op

revision = '0011_notifications_by_recipient'
down_revision = '0010_warning_replies'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_recipient_sent_at', ['recipient', 'sent_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_recipient_sent_at')
