"""point-polled feeds: feed_points, and feed counters for index entries without a CAP link and the book's reach

Revision ID: 0003_qweather_points
Revises: 0002
Create Date: 2026-11-28 18:20:00
"""
from alembic import op
import sqlalchemy as sa
import store.types


revision = '0003_qweather_points'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('feeds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entries_without_cap_link', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('points_book_signature', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('assets_outside_gazetteer', sa.Integer(), nullable=True))
    op.create_table('feed_points',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('feed_id', sa.Integer(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('admin_code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('etag', sa.String(length=500), nullable=True),
    sa.Column('last_tag', sa.String(length=200), nullable=True),
    sa.Column('next_poll_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_polled_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('last_alert_ids', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['feed_id'], ['feeds.id'], name=op.f('fk_feed_points_feed_id_feeds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_points')),
    sa.UniqueConstraint('feed_id', 'lat', 'lon', name=op.f('uq_feed_points_feed_id_lat_lon'))
    )
    with op.batch_alter_table('feed_points', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feed_points_feed_id'), ['feed_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('feed_points', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feed_points_feed_id'))
    op.drop_table('feed_points')
    with op.batch_alter_table('feeds', schema=None) as batch_op:
        batch_op.drop_column('assets_outside_gazetteer')
        batch_op.drop_column('points_book_signature')
        batch_op.drop_column('entries_without_cap_link')
