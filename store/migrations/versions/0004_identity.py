"""signing in: usernames and password hashes on users; web sessions, sign-in codes, customer links,
throttle counters and phone locks

Revision ID: 0004_identity
Revises: 0003_qweather_points
Create Date: 2026-11-28 18:40:00
"""
from alembic import op
import sqlalchemy as sa
import store.types


revision = '0004_identity'
down_revision = '0003_qweather_points'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('username', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('password_hash', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('password_change_required', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('password_changed_at', store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_users_username'), ['username'])

    op.create_table('web_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('client_address', sa.String(length=64), nullable=True),
    sa.Column('created_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_web_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_web_sessions_token_hash'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('sign_in_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('code_hash', sa.String(length=200), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_sign_in_codes_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_codes'))
    )
    with op.batch_alter_table('sign_in_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_codes_phone'), ['phone'], unique=False)

    op.create_table('customer_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_customer_links_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_customer_links_token_hash'))
    )
    with op.batch_alter_table('customer_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_links_customer_id'), ['customer_id'], unique=False)

    op.create_table('auth_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('at', store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_attempts'))
    )
    with op.batch_alter_table('auth_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_auth_attempts_kind_subject_at', ['kind', 'subject', 'at'], unique=False)

    op.create_table('phone_locks',
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('locked_until', store.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('phone', name=op.f('pk_phone_locks'))
    )


def downgrade() -> None:
    op.drop_table('phone_locks')
    with op.batch_alter_table('auth_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_auth_attempts_kind_subject_at')
    op.drop_table('auth_attempts')
    with op.batch_alter_table('customer_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_links_customer_id'))
    op.drop_table('customer_links')
    with op.batch_alter_table('sign_in_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_codes_phone'))
    op.drop_table('sign_in_codes')
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_user_id'))
    op.drop_table('web_sessions')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_username'), type_='unique')
        batch_op.drop_column('password_changed_at')
        batch_op.drop_column('password_change_required')
        batch_op.drop_column('password_hash')
        batch_op.drop_column('username')
