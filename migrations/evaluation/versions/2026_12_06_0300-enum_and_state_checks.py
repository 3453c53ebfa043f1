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

from migrations.checks import add_checks, drop_checks
from services.common.constraints import codes_check, recorded_when

revision: str = 'eva0005'
down_revision: str | None = 'eva0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKS = [
    ("rounds", codes_check("kind", ("midterm", "final", "quarterly"))),
    ("rounds", codes_check("state", ("open", "closed", "published"))),
    ("rounds", recorded_when("closed_at", "state", ["closed", "published"])),
    ("rounds", recorded_when("published_at", "state", ["published"])),
    ("scorecards", codes_check("state", ("draft", "submitted", "returned", "accepted"))),
    ("scorecards", codes_check("tier", ("demonstration", "standard", "basic"))),
    ("scorecards", recorded_when("submitted_at", "state", ["submitted", "returned", "accepted"])),
    ("scorecards", recorded_when("accepted_at", "state", ["accepted"])),
    ("scorecards", recorded_when("tier", "state", [], kept=["accepted"])),
    ("scorecard_items", codes_check("source", ("auto", "manual", "hybrid"))),
    ("findings", codes_check("severity", ("minor", "major", "critical"))),
    ("survey_responses", codes_check("channel", ("onsite_random", "phone"))),
    ("improvement_plans", codes_check("state", ("open", "in_progress", "done", "verified"))),
    ("improvement_plans", recorded_when("verified_at", "state", ["verified"])),
    ("improvement_plans", recorded_when("verified_by", "state", ["verified"])),
]


HAND_WRITTEN = [("survey_responses", "ck_survey_responses_channel_known", "channel IN ('onsite_random', 'phone')")]


def upgrade() -> None:
    add_checks('evaluation', CHECKS, replacing=HAND_WRITTEN)


def downgrade() -> None:
    drop_checks('evaluation', CHECKS, restoring=HAND_WRITTEN)
