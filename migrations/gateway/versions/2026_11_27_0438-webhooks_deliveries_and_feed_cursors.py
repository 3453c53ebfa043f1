"""webhooks deliveries and feed cursors

Revision ID: gat0003
Revises: gat0002
Create Date: 2026-11-27 04:38:27.456208
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'gat0003'
down_revision: str | None = 'gat0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('feed_cursors',
    sa.Column('service', sa.String(length=32), nullable=False),
    sa.Column('cursor', sa.Text(), nullable=True),
    sa.Column('remaining', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('service', name=op.f('pk_feed_cursors')),
    schema='gateway'
    )
    op.create_table('webhooks',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('event_types', postgresql.ARRAY(sa.String(length=100)), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('secret', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhooks')),
    schema='gateway'
    )
    op.create_index('ix_webhooks_created_at_id', 'webhooks', ['created_at', 'id'], unique=False, schema='gateway')
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('webhook_id', sa.Uuid(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('pending', 'delivered', 'failed')", name=op.f('ck_webhook_deliveries_state')),
    sa.ForeignKeyConstraint(['webhook_id'], ['gateway.webhooks.id'], name=op.f('fk_webhook_deliveries_webhook_id_webhooks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
    sa.UniqueConstraint('seq', name=op.f('uq_webhook_deliveries_seq')),
    sa.UniqueConstraint('webhook_id', 'event_id', name='uq_webhook_deliveries_webhook_event'),
    schema='gateway'
    )
    op.create_index('ix_webhook_deliveries_due', 'webhook_deliveries', ['next_attempt_at'], unique=False, schema='gateway', postgresql_where=sa.text("state = 'pending'"))
    op.create_index('ix_webhook_deliveries_object', 'webhook_deliveries', ['webhook_id', 'object_type', 'object_id', 'seq'], unique=False, schema='gateway', postgresql_where=sa.text("state = 'pending'"))
    op.create_index('ix_webhook_deliveries_webhook_seq', 'webhook_deliveries', ['webhook_id', 'seq'], unique=False, schema='gateway')
    op.create_table('webhook_delivery_attempts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('delivery_id', sa.Uuid(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('latency_ms', sa.Integer(), nullable=False),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['gateway.webhook_deliveries.id'], name=op.f('fk_webhook_delivery_attempts_delivery_id_webhook_deliveries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_delivery_attempts')),
    schema='gateway'
    )
    op.create_index('ix_webhook_delivery_attempts_delivery', 'webhook_delivery_attempts', ['delivery_id', 'attempted_at'], unique=False, schema='gateway')


def downgrade() -> None:
    op.drop_index('ix_webhook_delivery_attempts_delivery', table_name='webhook_delivery_attempts', schema='gateway')
    op.drop_table('webhook_delivery_attempts', schema='gateway')
    op.drop_index('ix_webhook_deliveries_webhook_seq', table_name='webhook_deliveries', schema='gateway')
    op.drop_index('ix_webhook_deliveries_object', table_name='webhook_deliveries', schema='gateway', postgresql_where=sa.text("state = 'pending'"))
    op.drop_index('ix_webhook_deliveries_due', table_name='webhook_deliveries', schema='gateway', postgresql_where=sa.text("state = 'pending'"))
    op.drop_table('webhook_deliveries', schema='gateway')
    op.drop_index('ix_webhooks_created_at_id', table_name='webhooks', schema='gateway')
    op.drop_table('webhooks', schema='gateway')
    op.drop_table('feed_cursors', schema='gateway')
