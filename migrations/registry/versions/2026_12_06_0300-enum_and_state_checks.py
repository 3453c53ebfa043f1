"""enum and state checks

Every column of the registry schema that holds a code of one of services/common/enums.py's enums
may hold only those codes (``ck_<table>_<column>_enum``); a filing links a site exactly when it
is an approved hub plan, and its history holds only the moves of the state machine (issue 15).
Added to a live database by migrations/checks.py: if stored rows break a rule, the migration
stops naming them and changes nothing.

Revision ID: reg0004
Revises: reg0003
Create Date: 2026-12-06 03:00:00.000000
"""

from collections.abc import Sequence

from migrations.checks import add_checks, drop_checks
from services.common.constraints import enum_check
from services.common.enums import (
    Certificate,
    ContractMode,
    FilingKind,
    FilingState,
    IntegratedWith,
    OperatingMode,
    OrganizationKind,
    Registration,
    Role,
    SiteOrgRelation,
    SiteStatus,
    Structure,
    Tier,
)
from services.registry.filings.models import known_move_rule, planned_site_rule

revision: str = 'reg0004'
down_revision: str | None = 'reg0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKS = [
    ("sites", enum_check("status", SiteStatus)),
    ("sites", enum_check("operating_mode", OperatingMode)),
    ("sites", enum_check("integrated_with", IntegratedWith, array=True)),
    ("sites", enum_check("structure", Structure)),
    ("sites", enum_check("tier", Tier)),
    ("site_organizations", enum_check("relation", SiteOrgRelation)),
    ("organizations", enum_check("kind", OrganizationKind)),
    ("organizations", enum_check("registration", Registration)),
    ("contracts", enum_check("mode", ContractMode)),
    ("staff", enum_check("certificate", Certificate)),
    ("filings", enum_check("kind", FilingKind)),
    ("filings", enum_check("state", FilingState)),
    ("filings", planned_site_rule()),
    ("filing_transitions", enum_check("from_state", FilingState)),
    ("filing_transitions", enum_check("to_state", FilingState)),
    ("filing_transitions", enum_check("actor_role", Role)),
    ("filing_transitions", known_move_rule()),
]


def upgrade() -> None:
    add_checks('registry', CHECKS)


def downgrade() -> None:
    drop_checks('registry', CHECKS)
