"""rate buckets: rate limits counted in the database, across app processes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 12:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import knowledge.db

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rate_bucket',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('window_start', knowledge.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('expires_at', knowledge.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_bucket')),
    sa.UniqueConstraint('key', 'window_start', name='uq_rate_bucket_key_window')
    )
    with op.batch_alter_table('rate_bucket', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_bucket_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rate_bucket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_bucket_expires_at'))
    op.drop_table('rate_bucket')
