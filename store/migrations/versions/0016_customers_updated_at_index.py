"""customers by updated_at: the reach preview looks for changed opt-outs without scanning the book

Revision ID: 0016_customers_updated_at_index
Revises: 0015_notification_send_rank
Create Date: 2026-11-28 21:45:00
"""
from alembic import op

revision = '0016_customers_updated_at_index'
down_revision = '0015_notification_send_rank'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f('ix_customers_updated_at'), 'customers', ['updated_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_customers_updated_at'), table_name='customers')
