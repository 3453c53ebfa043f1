"""The registry's change feed and full exports (issue 8): sites, organisations, contracts,
staff, filings. Scopes are the same policies the lists use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, and_, false, select, true

from services.common.auth import Principal
from services.common.changes import ExportResource, changes_router, export_router, site_scope
from services.common.outbox import no_redaction
from services.registry.contracts.models import Contract
from services.registry.database import tables
from services.registry.filings.models import Filing
from services.registry.filings.service import visible_filings
from services.registry.organizations.models import Organization
from services.registry.organizations.service import visible_organizations
from services.registry.scope import UNRESTRICTED_ROLES, visible_sites
from services.registry.sites.models import Site
from services.registry.staff.models import StaffMember


def _in_visible_sites(principal: Principal, column: Any) -> ColumnElement[bool]:
    if principal.role in UNRESTRICTED_ROLES:
        return true()
    return column.in_(select(Site.id).where(visible_sites(principal)))


def _contracts(principal: Principal) -> ColumnElement[bool]:
    if principal.role == "operator":
        return Contract.organization_id == principal.organization_id if principal.organization_id else false()
    return _in_visible_sites(principal, Contract.site_id)


# Contracts and filings are not the evaluators' business (their lists refuse them): nor are their
# exports and events.
LIST_READERS = frozenset({"district", "street", "operator", "integration"})
EVALUATOR_HIDDEN = ("contract", "filing")


def event_scope(principal: Principal, outbox: Table) -> ColumnElement[bool]:
    clause = site_scope(principal, outbox)
    if principal.role == "evaluator":
        return and_(clause, outbox.c.object_type.not_in(EVALUATOR_HIDDEN))
    if principal.role == "operator":
        # Another organisation's contract for the same site is that organisation's business.
        return and_(clause, outbox.c.object_type != "contract")
    return clause


RESOURCES = [
    ExportResource("sites", Site.__table__, "site", visible_sites, "sites"),
    ExportResource(
        "organizations", Organization.__table__, "organization", visible_organizations, "organisations"
    ),
    ExportResource("contracts", Contract.__table__, "contract", _contracts, "contracts", LIST_READERS),
    ExportResource(
        "staff", StaffMember.__table__, "staff", lambda p: _in_visible_sites(p, StaffMember.site_id), "staff"
    ),
    ExportResource(
        "filings", Filing.__table__, "filing", visible_filings, "construction filings", LIST_READERS
    ),
]

changes = changes_router(
    tables.outbox,
    tag="changes",
    scope=event_scope,
    description="Evaluators do not see contract and filing events; operators no contract events.",
)
exports = export_router(tables.outbox, RESOURCES, tag="changes", redact=no_redaction)
