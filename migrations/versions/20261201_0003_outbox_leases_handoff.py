"""outbox and leases on messages and conversations; handoff records with public ids

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import knowledge.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversation') as batch:
        batch.add_column(sa.Column('lease_owner', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('lease_until', knowledge.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('message') as batch:
        batch.add_column(sa.Column('title', sa.String(length=256), nullable=True))
        batch.add_column(sa.Column('urgent', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('next_attempt_at', knowledge.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('reply_to_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('meta', sa.JSON(), nullable=True))
        batch.create_foreign_key(op.f('fk_message_reply_to_id_message'), 'message', ['reply_to_id'], ['id'],
                                 ondelete='CASCADE')
        batch.create_index(op.f('ix_message_reply_to_id'), ['reply_to_id'], unique=False)
        batch.create_index('ix_message_status_next_attempt', ['status', 'next_attempt_at'], unique=False)
    op.create_table('handoff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=True),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_at', knowledge.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'], name=op.f('fk_handoff_conversation_id_conversation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoff')),
    sa.UniqueConstraint('public_id', name=op.f('uq_handoff_public_id'))
    )
    op.create_index(op.f('ix_handoff_conversation_id'), 'handoff', ['conversation_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_handoff_conversation_id'), table_name='handoff')
    op.drop_table('handoff')
    with op.batch_alter_table('message') as batch:
        batch.drop_index('ix_message_status_next_attempt')
        batch.drop_index(op.f('ix_message_reply_to_id'))
        batch.drop_constraint(op.f('fk_message_reply_to_id_message'), type_='foreignkey')
        for column in ('meta', 'reply_to_id', 'next_attempt_at', 'urgent', 'title'):
            batch.drop_column(column)
    with op.batch_alter_table('conversation') as batch:
        batch.drop_column('lease_until')
        batch.drop_column('lease_owner')
