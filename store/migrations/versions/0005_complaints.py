"""customers' complaints with a 24-hour answer clock

Revision ID: 0005_complaints
Revises: 0004_identity
Create Date: 2026-11-28 18:50:00
"""
from alembic import op
import sqlalchemy as sa
import store.types


revision = '0005_complaints'
down_revision = '0004_identity'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('complaints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answer_due_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], name=op.f('fk_complaints_claim_id_claims')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_complaints_created_by_users')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'],
                            name=op.f('fk_complaints_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaints'))
    )
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaints_answer_due_at'), ['answer_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_claim_id'), ['claim_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_customer_id'), ['customer_id'], unique=False)


def downgrade() -> None:
    op.drop_table('complaints')
