"""scorecard inputs uncompressed

A scorecard's extracted inputs (~15 KB of record ids for a site with a year of activities) are
stored out of line without compression: PostgreSQL's built-in compression (pglz; this build has
no lz4) cost about as much as everything else in writing a round's 300 scorecards (bench/README.md,
P6), to save a few megabytes a round.

Revision ID: eva0004
Revises: eva0003
Create Date: 2026-11-27 08:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'eva0004'
down_revision: str | None = 'eva0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute('ALTER TABLE evaluation.scorecards ALTER COLUMN inputs SET STORAGE EXTERNAL')


def downgrade() -> None:
    op.execute('ALTER TABLE evaluation.scorecards ALTER COLUMN inputs SET STORAGE EXTENDED')
