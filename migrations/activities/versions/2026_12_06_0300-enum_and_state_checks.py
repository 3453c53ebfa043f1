"""enum and state checks

Every column of the activities schema that holds a code of one of services/common/enums.py's
enums may hold only those codes (``ck_<table>_<column>_enum``), and referrals and plans keep the
dates their moves write (issue 15). Added to a live database by migrations/checks.py: if stored
rows break a rule, the migration stops naming them and changes nothing.

Revision ID: act0005
Revises: act0004
Create Date: 2026-12-06 03:00:00.000000
"""

from collections.abc import Sequence

from migrations.checks import add_checks, drop_checks
from services.common.constraints import codes_check, recorded_when, state_rule

revision: str = 'act0005'
down_revision: str | None = 'act0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The codes of the day (services/common/enums.py): a new member needs a migration of its own.
CATEGORIES = (
    "infant",
    "elderly",
    "youth",
    "disability",
    "family",
    "social_assistance",
    "culture",
    "deliberation",
    "org_incubation",
    "social_work",
)
TARGET_GROUPS = ("elderly", "children_youth", "women_family", "assistance_recipient", "disabled", "other")
CASE_STAGES = ("intake", "assessment", "plan", "intervention", "evaluation", "closed")

CHECKS = [
    ("activities", codes_check("category", CATEGORIES)),
    ("activities", codes_check("target_groups", TARGET_GROUPS, array=True)),
    ("cases", codes_check("target_group", TARGET_GROUPS)),
    ("cases", codes_check("stage", CASE_STAGES)),
    ("groups", codes_check("target_group", TARGET_GROUPS)),
    ("groups", codes_check("stage", CASE_STAGES)),
    (
        "deliberations",
        codes_check(
            "form",
            (
                "joint_meeting",
                "party_rep_meeting",
                "residents_meeting",
                "residents_council",
                "hearing",
                "coordination",
                "review",
            ),
        ),
    ),
    ("deliberations", codes_check("execution_status", ("pending", "in_progress", "done"))),
    ("needs", codes_check("category", CATEGORIES)),
    ("referrals", codes_check("status", ("open", "accepted", "closed"))),
    ("referrals", recorded_when("accepted_on", "status", ["accepted"], kept=["closed"])),
    ("referrals", recorded_when("closed_on", "status", ["closed"])),
    (
        "activity_plans",
        state_rule(
            "published_late_when_published",
            "published_late = (published_at IS NOT NULL "
            "AND CAST(timezone('Asia/Shanghai', published_at) AS date) >= month)",
            columns=("published_late", "published_at", "month"),
        ),
    ),
    ("brand_projects", codes_check("kind", ("overall_brand", "service_project"))),
    ("recognitions", codes_check("kind", ("exchange", "media", "honour"))),
    ("recognitions", codes_check("level", ("district", "city", "province", "national"))),
]


def upgrade() -> None:
    add_checks('activities', CHECKS)


def downgrade() -> None:
    drop_checks('activities', CHECKS)
