"""CAT events: one event per alert chain (cat_event_chains), and merged proposals point at their event

Revision ID: 0008_cat_event_chains
Revises: 0007_alerts_state_checks
Create Date: 2026-11-28 19:05:00
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0008_cat_event_chains'
down_revision = '0007_alerts_state_checks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'cat_event_chains',
        sa.Column('chain_id', sa.Integer(), nullable=False),
        sa.Column('cat_event_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['chain_id'], ['alert_chains.id'], name=op.f('fk_cat_event_chains_chain_id_alert_chains')),
        sa.ForeignKeyConstraint(['cat_event_id'], ['cat_events.id'],
                                name=op.f('fk_cat_event_chains_cat_event_id_cat_events')),
        sa.PrimaryKeyConstraint('chain_id', name=op.f('pk_cat_event_chains')),
    )
    op.create_index(op.f('ix_cat_event_chains_cat_event_id'), 'cat_event_chains', ['cat_event_id'], unique=False)
    with op.batch_alter_table('cat_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_cat_events_merged_into_id_cat_events'), 'cat_events',
                                    ['merged_into_id'], ['id'])
    # Existing events claim their chains: open ones first, then proposals, then the closed.
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, status, proposed_from_chain_id, source_chain_ids FROM cat_events")).all()
    order = {'open': 0, 'proposed': 1, 'closed': 2}
    linked: set[int] = set()
    known = {row[0] for row in bind.execute(sa.text("SELECT id FROM alert_chains"))}
    for event_id, _status, proposed_from, sources in sorted(rows, key=lambda r: (order.get(r[1], 3), r[0])):
        if isinstance(sources, str):
            sources = json.loads(sources or "[]")
        for chain_id in [proposed_from, *(sources or [])]:
            if chain_id is None or chain_id in linked or chain_id not in known:
                continue
            linked.add(chain_id)
            bind.execute(sa.text("INSERT INTO cat_event_chains (chain_id, cat_event_id) VALUES (:c, :e)"),
                         {"c": chain_id, "e": event_id})


def downgrade() -> None:
    with op.batch_alter_table('cat_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_cat_events_merged_into_id_cat_events'), type_='foreignkey')
        batch_op.drop_column('merged_into_id')
    op.drop_index(op.f('ix_cat_event_chains_cat_event_id'), table_name='cat_event_chains')
    op.drop_table('cat_event_chains')
