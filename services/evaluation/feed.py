"""The evaluation service's change feed and full exports (issue 8).

Scores are sensitive until a round is published, so the evaluation feed is narrower than the
others: the district and integration see every event; streets and operators only the
improvement-plan events of their sites; evaluators none (they work through the rounds API, whose
scope follows their assignments). Exports use the same policies as the lists.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_, false, select, true

from services.common.auth import Principal
from services.common.changes import UNRESTRICTED, ExportResource, changes_router, export_router
from services.common.outbox import no_redaction
from services.evaluation.database import tables
from services.evaluation.improvement.models import ImprovementPlan
from services.evaluation.improvement.service import visible_plans
from services.evaluation.rounds.models import Round
from services.evaluation.rounds.service import visible_rounds
from services.evaluation.scorecards.models import Finding, Scorecard
from services.evaluation.scorecards.service import visible_scorecards


def event_scope(principal: Principal, outbox: Table) -> ColumnElement[bool]:
    if principal.role in UNRESTRICTED:
        return true()
    if principal.role in ("street", "operator") and principal.sites:
        return and_(outbox.c.object_type == "improvement_plan", outbox.c.site_id.in_(sorted(principal.sites)))
    return false()


def _findings(principal: Principal) -> ColumnElement[bool]:
    return Finding.scorecard_id.in_(select(Scorecard.id).where(visible_scorecards(principal)))


RESOURCES = [
    ExportResource("rounds", Round.__table__, "round", visible_rounds, "evaluation rounds"),
    ExportResource("scorecards", Scorecard.__table__, "scorecard", visible_scorecards, "scorecards"),
    ExportResource("findings", Finding.__table__, "finding", _findings, "findings"),
    ExportResource(
        "improvement_plans",
        ImprovementPlan.__table__,
        "improvement_plan",
        visible_plans,
        "improvement plans",
        readers=frozenset({"district", "street", "operator", "integration"}),
    ),
]

changes = changes_router(
    tables.outbox,
    tag="changes",
    scope=event_scope,
    description="Streets and operators see the improvement-plan events of their sites; evaluators none.",
)
exports = export_router(tables.outbox, RESOURCES, tag="changes", redact=no_redaction)
