"""warnings: notification states, alert status and msgType, chain states and feed kinds accept only the
values of their StrEnums

Revision ID: 0007_alerts_state_checks
Revises: 0006_greenchannel_state_checks
Create Date: 2026-11-28 18:45:00
"""
from alembic import op

revision = '0007_alerts_state_checks'
down_revision = '0006_greenchannel_state_checks'
branch_labels = None
depends_on = None

# Spelled out, not imported from the models: a migration stays what it was when it was written.
CHECKS = {
    'notifications': {'state': ('created', 'queued', 'sending', 'sent', 'delivered', 'failed', 'undelivered',
                                'expired', 'cancelled')},
    'alerts': {'status': ('Actual', 'Exercise', 'System', 'Test', 'Draft'),
               'msg_type': ('Alert', 'Update', 'Cancel', 'Ack', 'Error')},
    'alert_chains': {'state': ('active', 'cancelled', 'expired')},
    'feeds': {'kind': ('cap-atom', 'cap-rss', 'cap-xml', 'nws-geojson', 'qweather', 'qweather-v1', 'typhoon-track')},
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
