"""rescue jobs: a dispatcher's hold (held_until, held_by) keeps a watched job from automatic offers

Revision ID: 0009_rescue_hold
Revises: 0008_cat_event_chains
Create Date: 2026-11-28 19:00:00
"""
from alembic import op
import sqlalchemy as sa
import store.types


revision = '0009_rescue_hold'
down_revision = '0008_cat_event_chains'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('rescue_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held_until', store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('held_by', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_rescue_jobs_held_by_users'), 'users', ['held_by'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('rescue_jobs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_rescue_jobs_held_by_users'), type_='foreignkey')
        batch_op.drop_column('held_by')
        batch_op.drop_column('held_until')
