"""staff phones: the customer's page calls the adjuster on the claim

Revision ID: 0012_staff_phones
Revises: 0011_notifications_by_recipient
Create Date: 2026-11-28 19:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0012_staff_phones'
down_revision = '0011_notifications_by_recipient'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('phone')
