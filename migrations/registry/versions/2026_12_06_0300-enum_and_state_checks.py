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
from services.common.constraints import codes_check, state_rule

revision: str = 'reg0004'
down_revision: str | None = 'reg0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The codes of the day (services/common/enums.py): a new member needs a migration of its own.
FILING_STATES = ("draft", "submitted", "returned", "approved", "rejected")

CHECKS = [
    ("sites", codes_check("status", ("planned", "building", "operating", "suspended", "closed"))),
    ("sites", codes_check("operating_mode", ("procurement", "self_operated", "joint"))),
    (
        "sites",
        codes_check(
            "integrated_with",
            ("party_service_center", "elderly_care_center", "culture_hall", "health_station"),
            array=True,
        ),
    ),
    ("sites", codes_check("structure", ("reinforced_concrete", "other"))),
    ("sites", codes_check("tier", ("demonstration", "standard", "basic"))),
    ("site_organizations", codes_check("relation", ("operator", "introduced", "incubated"))),
    ("organizations", codes_check("kind", ("social_org", "community_social_org"))),
    ("organizations", codes_check("registration", ("registered", "filed"))),
    ("contracts", codes_check("mode", ("procurement", "self_operated", "joint"))),
    ("staff", codes_check("certificate", ("none", "junior", "intermediate", "senior"))),
    ("filings", codes_check("kind", ("facility", "hub_plan"))),
    ("filings", codes_check("state", FILING_STATES)),
    (
        "filings",
        state_rule(
            "site_id_when_approved",
            "(site_id IS NOT NULL) = (state = 'approved' AND kind = 'hub_plan')",
            columns=("site_id", "state", "kind"),
        ),
    ),
    ("filing_transitions", codes_check("from_state", FILING_STATES)),
    ("filing_transitions", codes_check("to_state", FILING_STATES)),
    (
        "filing_transitions",
        codes_check("actor_role", ("district", "street", "operator", "evaluator", "integration")),
    ),
    (
        "filing_transitions",
        state_rule(
            "move_known",
            "(from_state IS NULL AND to_state = 'draft') OR (from_state, to_state) IN "
            "(('draft', 'submitted'), ('returned', 'submitted'), ('submitted', 'returned'), "
            "('submitted', 'approved'), ('submitted', 'rejected'))",
            columns=("from_state", "to_state"),
        ),
    ),
]


def upgrade() -> None:
    add_checks('registry', CHECKS)


def downgrade() -> None:
    drop_checks('registry', CHECKS)
