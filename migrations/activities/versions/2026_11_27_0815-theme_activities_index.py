"""theme activities index

A partial index of the theme activities (about 7 % of all activities) covering what the rubric's
theme count (C15) reads: a round's metrics read them all with an index-only scan instead of
scanning every activity (bench/README.md, P6).

Revision ID: act0004
Revises: act0003
Create Date: 2026-11-27 08:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'act0004'
down_revision: str | None = 'act0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_activities_theme_site_starts',
        'activities',
        ['site_id', 'starts_at'],
        unique=False,
        schema='activities',
        postgresql_include=['id', 'attendance', 'has_sign_in_sheet', 'has_photo'],
        postgresql_where=sa.text('is_theme'),
    )


def downgrade() -> None:
    op.drop_index('ix_activities_theme_site_starts', table_name='activities', schema='activities')
