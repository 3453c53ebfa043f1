"""The activities service's change feed and full exports (issue 8): one export per kind of log
record, scoped like its list, personal data in list form (:mod:`services.activities.redaction`)."""

from __future__ import annotations

from typing import Any

from services.activities import redaction
from services.activities.activities.service import ACTIVITIES
from services.activities.casework.service import CASES, GROUPS
from services.activities.database import tables
from services.activities.deliberations.service import DELIBERATIONS
from services.activities.funds.service import FUND_ACCOUNTS
from services.activities.needs.service import NEEDS, REFERRALS
from services.activities.plans.service import PLANS
from services.activities.recognition.service import BRAND_PROJECTS, RECOGNITIONS
from services.activities.records import RecordKind
from services.activities.safety.service import SAFETY_PATROLS, SAFETY_TRAININGS
from services.activities.scope import site_clause
from services.activities.visits.service import VISITS
from services.activities.volunteers.service import VOLUNTEER_HOURS, VOLUNTEERS
from services.common.changes import ExportResource, changes_router, export_router

KINDS: list[RecordKind[Any]] = [
    ACTIVITIES,
    PLANS,
    CASES,
    GROUPS,
    VISITS,
    NEEDS,
    REFERRALS,
    VOLUNTEERS,
    VOLUNTEER_HOURS,
    DELIBERATIONS,
    SAFETY_TRAININGS,
    SAFETY_PATROLS,
    FUND_ACCOUNTS,
    BRAND_PROJECTS,
    RECOGNITIONS,
]


def _resource(kind: RecordKind[Any]) -> ExportResource:
    model: Any = kind.model
    return ExportResource(
        name=model.__tablename__,
        table=model.__table__,
        object_type=kind.object_type,
        scope=lambda principal: site_clause(principal, model.site_id),
        summary=f"{kind.label_en} records",
    )


changes = changes_router(tables.outbox, tag="changes")
exports = export_router(
    tables.outbox, [_resource(kind) for kind in KINDS], tag="changes", redact=redaction.redact
)
