"""retention: anonymous counts kept for the statistics, the scheduled-job lease

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 14:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import knowledge.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kept_conversation_stat',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=True),
    sa.Column('topic', sa.String(length=64), nullable=True),
    sa.Column('prefecture', sa.String(length=32), nullable=True),
    sa.Column('lang', sa.String(length=8), nullable=True),
    sa.Column('weeks', sa.Text(), nullable=False),
    sa.Column('conversations', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'],
                            name=op.f('fk_kept_conversation_stat_conversation_id_conversation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kept_conversation_stat'))
    )
    with op.batch_alter_table('kept_conversation_stat', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kept_conversation_stat_conversation_id'), ['conversation_id'],
                              unique=False)
    op.create_table('kept_handoff_stat',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=False),
    sa.Column('waited_minutes', sa.Float(), nullable=True),
    sa.Column('handoffs', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kept_handoff_stat'))
    )
    with op.batch_alter_table('kept_handoff_stat', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kept_handoff_stat_week'), ['week'], unique=False)
    op.create_table('scheduled_job',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('lease_owner', sa.String(length=32), nullable=True),
    sa.Column('lease_until', knowledge.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_run_at', knowledge.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_result', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduled_job'))
    )


def downgrade() -> None:
    op.drop_table('scheduled_job')
    with op.batch_alter_table('kept_handoff_stat', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kept_handoff_stat_week'))
    op.drop_table('kept_handoff_stat')
    with op.batch_alter_table('kept_conversation_stat', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kept_conversation_stat_conversation_id'))
    op.drop_table('kept_conversation_stat')
