"""enum and state checks

Every column of the evaluation schema that holds a code of one of services/common/enums.py's
enums may hold only those codes (``ck_<table>_<column>_enum``; the survey channel's hand-written
``ck_survey_responses_channel_known`` gives way to the generated one), and rounds, scorecards and
improvement plans keep the dates their moves write (issue 15). Added to a live database by
migrations/checks.py: if stored rows break a rule, the migration stops naming them and changes
nothing.

Revision ID: eva0005
Revises: eva0004
Create Date: 2026-12-06 03:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from migrations.checks import add_checks, drop_checks
from services.common.constraints import enum_check, recorded_when
from services.common.enums import (
    FindingSeverity,
    ImprovementState,
    IndicatorSource,
    RoundKind,
    RoundState,
    ScorecardState,
    SurveyChannel,
    Tier,
)

revision: str = 'eva0005'
down_revision: str | None = 'eva0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKS = [
    ("rounds", enum_check("kind", RoundKind)),
    ("rounds", enum_check("state", RoundState)),
    ("rounds", recorded_when("closed_at", "state", [RoundState.CLOSED, RoundState.PUBLISHED])),
    ("rounds", recorded_when("published_at", "state", [RoundState.PUBLISHED])),
    ("scorecards", enum_check("state", ScorecardState)),
    ("scorecards", enum_check("tier", Tier)),
    (
        "scorecards",
        recorded_when(
            "submitted_at",
            "state",
            [ScorecardState.SUBMITTED, ScorecardState.RETURNED, ScorecardState.ACCEPTED],
        ),
    ),
    ("scorecards", recorded_when("accepted_at", "state", [ScorecardState.ACCEPTED])),
    ("scorecards", recorded_when("tier", "state", [], kept=[ScorecardState.ACCEPTED])),
    ("scorecard_items", enum_check("source", IndicatorSource)),
    ("findings", enum_check("severity", FindingSeverity)),
    ("survey_responses", enum_check("channel", SurveyChannel)),
    ("improvement_plans", enum_check("state", ImprovementState)),
    ("improvement_plans", recorded_when("verified_at", "state", [ImprovementState.VERIFIED])),
    ("improvement_plans", recorded_when("verified_by", "state", [ImprovementState.VERIFIED])),
]


def upgrade() -> None:
    add_checks('evaluation', CHECKS)
    op.drop_constraint(op.f('ck_survey_responses_channel_known'), 'survey_responses', schema='evaluation')


def downgrade() -> None:
    op.create_check_constraint(
        op.f('ck_survey_responses_channel_known'),
        'survey_responses',
        "channel IN ('onsite_random', 'phone')",
        schema='evaluation',
    )
    drop_checks('evaluation', CHECKS)
