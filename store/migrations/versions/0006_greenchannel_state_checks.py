"""green channel: the state and kind columns accept only the values of their StrEnums

Revision ID: 0006_greenchannel_state_checks
Revises: 0005_complaints
Create Date: 2026-11-28 18:40:00
"""
from alembic import op

revision = '0006_greenchannel_state_checks'
down_revision = '0005_complaints'
branch_labels = None
depends_on = None

# Spelled out, not imported from the models: a migration stays what it was when it was written.
CHECKS = {
    'cat_events': {'status': ('proposed', 'open', 'closed')},
    'claims': {'stage': ('reported', 'surveyed', 'assessed', 'documents_reviewed', 'adjudicated', 'closed_paid',
                         'withdrawn', 'rejected')},
    'claim_documents': {'status': ('received', 'accepted', 'returned')},
    'rescue_providers': {'kind': ('tow', 'flatbed', 'boat')},
    'rescue_jobs': {'state': ('created', 'offered', 'accepted', 'en_route', 'on_scene', 'towing', 'completed',
                              'cancelled', 'gone_on_arrival'),
                    'needs': ('tow', 'flatbed', 'boat')},
    'rescue_offers': {'state': ('offered', 'accepted', 'rejected', 'expired', 'withdrawn')},
    'payments': {'state': ('requested', 'pending_approval', 'approved', 'paid', 'rejected', 'failed'),
                 'kind': ('advance', 'settlement')},
}


def upgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, values in columns.items():
                listed = ", ".join(f"'{value}'" for value in values)
                batch_op.create_check_constraint(op.f(f'ck_{table}_{column}_known'), f"{column} IN ({listed})")


def downgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(op.f(f'ck_{table}_{column}_known'), type_='check')
