"""signing key activation and user version

Revision ID: gat0002
Revises: gat0001
Create Date: 2026-11-27 02:46:04.564955
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'gat0002'
down_revision: str | None = 'gat0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing keys have signed since they were created.
    op.add_column("signing_keys", sa.Column("activates_at", sa.DateTime(timezone=True), nullable=True), schema="gateway")
    op.execute("UPDATE gateway.signing_keys SET activates_at = created_at")
    op.alter_column("signing_keys", "activates_at", nullable=False, schema="gateway")
    op.add_column(
        "users", sa.Column("version", sa.Integer(), nullable=False, server_default="1"), schema="gateway"
    )
    op.alter_column("users", "version", server_default=None, schema="gateway")


def downgrade() -> None:
    op.drop_column("users", "version", schema="gateway")
    op.drop_column("signing_keys", "activates_at", schema="gateway")
