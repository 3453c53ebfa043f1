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
from services.activities.plans.models import published_late_rule
from services.common.constraints import enum_check, recorded_when
from services.common.enums import (
    BrandProjectKind,
    CaseStage,
    DeliberationForm,
    ExecutionStatus,
    RecognitionKind,
    RecognitionLevel,
    ReferralStatus,
    ServiceCategory,
    TargetGroup,
)

revision: str = 'act0005'
down_revision: str | None = 'act0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKS = [
    ("activities", enum_check("category", ServiceCategory)),
    ("activities", enum_check("target_groups", TargetGroup, array=True)),
    ("cases", enum_check("target_group", TargetGroup)),
    ("cases", enum_check("stage", CaseStage)),
    ("groups", enum_check("target_group", TargetGroup)),
    ("groups", enum_check("stage", CaseStage)),
    ("deliberations", enum_check("form", DeliberationForm)),
    ("deliberations", enum_check("execution_status", ExecutionStatus)),
    ("needs", enum_check("category", ServiceCategory)),
    ("referrals", enum_check("status", ReferralStatus)),
    (
        "referrals",
        recorded_when("accepted_on", "status", [ReferralStatus.ACCEPTED], kept=[ReferralStatus.CLOSED]),
    ),
    ("referrals", recorded_when("closed_on", "status", [ReferralStatus.CLOSED])),
    ("activity_plans", published_late_rule()),
    ("brand_projects", enum_check("kind", BrandProjectKind)),
    ("recognitions", enum_check("kind", RecognitionKind)),
    ("recognitions", enum_check("level", RecognitionLevel)),
]


def upgrade() -> None:
    add_checks('activities', CHECKS)


def downgrade() -> None:
    drop_checks('activities', CHECKS)
