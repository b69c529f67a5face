"""complaint answers: a state (open, answered), the answer and who gave it

Revision ID: 0013_complaint_answers
Revises: 0012_staff_phones
Create Date: 2026-11-28 21:15:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0013_complaint_answers'
down_revision = '0012_staff_phones'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=16), server_default='open', nullable=False))
        batch_op.add_column(sa.Column('answer', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('answered_by', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_complaints_answered_by_users'), 'users', ['answered_by'], ['id'])
        batch_op.create_check_constraint(op.f('ck_complaints_state_known'), "state IN ('open', 'answered')")
    op.execute("UPDATE complaints SET state = 'answered' WHERE answered_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_complaints_state_known'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_complaints_answered_by_users'), type_='foreignkey')
        batch_op.drop_column('answered_by')
        batch_op.drop_column('answer')
        batch_op.drop_column('state')
