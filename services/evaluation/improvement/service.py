"""Improvement plans (7.2.2): after a round is published, the operator answers each finding of its
site with a plan (actions, owner, due date), reports progress and completes it; the street of the
site or the district verifies it.

Life cycle (:data:`TRANSITIONS`; anything else is 409 ``invalid_transition``)::

    open ─progress→ in_progress ─progress→ in_progress
    open | in_progress ─complete→ done ─verify→ verified

Scope of a plan (out of scope = not found, exactly like a missing one):

* ``district``, ``integration`` (and service tokens): every plan;
* ``street``: the plans of its street's sites (the plan's ``street_id``, copied from the scorecard);
* ``operator``: the plans of the sites in its claim;
* ``evaluator``: none (the routes refuse it with 403).

Every write is audited (object type ``improvement_plan``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from fastapi import Request
from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import one_in_scope
from services.common.enums import ImprovementState, RoundState
from services.common.errors import Conflict, NotFound, define_titles
from services.common.pagination import PageParams, keyset_page
from services.common.stored import reads_stored
from services.common.timeutil import today_shanghai
from services.evaluation.audit import audit
from services.evaluation.clients import Upstream
from services.evaluation.database import utcnow
from services.evaluation.improvement.models import ImprovementPlan
from services.evaluation.improvement.schemas import (
    FindingBrief,
    ImprovementPlanCreate,
    ImprovementPlanRead,
    ProgressCreate,
    ProgressEntry,
)
from services.evaluation.rounds.models import Round
from services.evaluation.scorecards.models import Finding, Scorecard

UNRESTRICTED = frozenset({"district", "integration", "service"})

# Plans still to be closed by a verification: what the next round's scorecard shows beside it.
UNVERIFIED_STATES = (ImprovementState.OPEN, ImprovementState.IN_PROGRESS, ImprovementState.DONE)

define_titles(
    {
        "improvement_plan_not_found": ("Improvement plan not found", "整改计划不存在"),
        "finding_not_found": ("Finding not found", "评估问题不存在"),
        "round_not_published": ("The evaluation round is not published", "评估轮次尚未发布"),
        "plan_exists": ("This finding already has an improvement plan", "该问题已有整改计划"),
    }
)


class PlanAction(StrEnum):
    PROGRESS = "progress"
    COMPLETE = "complete"
    VERIFY = "verify"


TRANSITIONS: dict[tuple[ImprovementState, PlanAction], ImprovementState] = {
    (ImprovementState.OPEN, PlanAction.PROGRESS): ImprovementState.IN_PROGRESS,
    (ImprovementState.IN_PROGRESS, PlanAction.PROGRESS): ImprovementState.IN_PROGRESS,
    (ImprovementState.OPEN, PlanAction.COMPLETE): ImprovementState.DONE,
    (ImprovementState.IN_PROGRESS, PlanAction.COMPLETE): ImprovementState.DONE,
    (ImprovementState.DONE, PlanAction.VERIFY): ImprovementState.VERIFIED,
}


def allowed_actions(state: ImprovementState | str) -> list[PlanAction]:
    current = ImprovementState(state)
    return [action for (source, action) in TRANSITIONS if source == current]


# ---- errors ----------------------------------------------------------------------------------------


class PlanNotFound(NotFound):
    code = "improvement_plan_not_found"

    def __init__(self) -> None:
        super().__init__("No improvement plan with this id.", detail_zh="整改计划不存在。")


class FindingNotFound(NotFound):
    code = "finding_not_found"

    def __init__(self) -> None:
        super().__init__("No finding with this id.", detail_zh="评估问题不存在。")


class SiteNotFound(NotFound):
    code = "site_not_found"

    def __init__(self) -> None:
        super().__init__("No site with this id in your scope.", detail_zh="站点不存在。")


class RoundNotPublished(Conflict):
    code = "round_not_published"

    def __init__(self, state: str) -> None:
        super().__init__(
            f"The finding's round is {state}: improvement plans answer findings of published rounds only.",
            detail_zh=f"该问题所属评估轮次当前为“{state}”状态,仅可对已发布轮次的问题制定整改计划。",
            state=state,
        )


class PlanExists(Conflict):
    code = "plan_exists"

    def __init__(self, plan_id: uuid.UUID) -> None:
        super().__init__(
            "This finding already has an improvement plan; report progress on it instead.",
            detail_zh="该问题已有整改计划,请在原计划上报告进展。",
            plan_id=str(plan_id),
        )


class InvalidTransition(Conflict):
    code = "invalid_transition"

    def __init__(self, state: str, action: PlanAction) -> None:
        super().__init__(
            f"An improvement plan in state '{state}' cannot take the action '{action.value}'.",
            detail_zh=f"处于“{state}”状态的整改计划不能执行“{action.value}”操作。",
            state=state,
            allowed_actions=[a.value for a in allowed_actions(state)],
        )


# ---- scope -----------------------------------------------------------------------------------------


def visible_plans(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on :class:`ImprovementPlan` selecting the plans ``principal`` may see."""
    if principal.role in UNRESTRICTED:
        return true()
    if principal.role == "street":
        if principal.street_id is None:
            return false()
        return ImprovementPlan.street_id == principal.street_id
    if principal.role == "operator":
        if not principal.sites:
            return false()
        return ImprovementPlan.site_id.in_(sorted(principal.sites))
    return false()


async def check_site_visible(request: Request, principal: Principal, site_id: uuid.UUID) -> None:
    """A site path in scope: an operator's by its claim; a street's when the registry puts the site
    in its street (like the plans' ``street_id``); the district and integration any site the
    registry knows. Otherwise 404 ``site_not_found``."""
    if principal.role == "operator":
        if principal.sites and site_id in principal.sites:
            return
        raise SiteNotFound()
    if principal.role not in (*UNRESTRICTED, "street"):
        raise SiteNotFound()
    entries = await Upstream.of(request).site_directory(ids=[site_id])
    if not entries or (principal.role == "street" and entries[0].street_id != principal.street_id):
        raise SiteNotFound()


async def get_plan(
    session: AsyncSession, principal: Principal, plan_id: uuid.UUID, *, for_update: bool = False
) -> ImprovementPlan:
    return await one_in_scope(
        session, ImprovementPlan, plan_id, visible_plans(principal), PlanNotFound(), for_update=for_update
    )


async def list_plans(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    site_id: uuid.UUID | None = None,
    round_id: uuid.UUID | None = None,
    state: ImprovementState | None = None,
) -> tuple[list[ImprovementPlan], str | None]:
    stmt = select(ImprovementPlan).where(visible_plans(principal))
    if site_id is not None:
        stmt = stmt.where(ImprovementPlan.site_id == site_id)
    if round_id is not None:
        stmt = stmt.where(ImprovementPlan.round_id == round_id)
    if state is not None:
        stmt = stmt.where(ImprovementPlan.state == state.value)
    return await keyset_page(session, stmt, [ImprovementPlan.created_at, ImprovementPlan.id], page)


# ---- reading ---------------------------------------------------------------------------------------


async def read_plans(session: AsyncSession, plans: Sequence[ImprovementPlan]) -> list[ImprovementPlanRead]:
    """Plans with the findings they answer (one query for the whole page)."""
    finding_ids = {p.finding_id for p in plans}
    findings: dict[uuid.UUID, Finding] = {}
    if finding_ids:
        rows = await session.scalars(select(Finding).where(Finding.id.in_(sorted(finding_ids))))
        findings = {f.id: f for f in rows}
    today = today_shanghai()
    return [_plan_read(plan, findings[plan.finding_id], today) for plan in plans]


@reads_stored("evaluation.improvement_plans")
def _plan_read(plan: ImprovementPlan, finding: Finding, today: dt.date) -> ImprovementPlanRead:
    return ImprovementPlanRead(
        id=plan.id,
        finding=FindingBrief.model_validate(finding),
        round_id=plan.round_id,
        site_id=plan.site_id,
        street_id=plan.street_id,
        actions=plan.actions,
        owner=plan.owner,
        due_on=plan.due_on,
        state=ImprovementState(plan.state),
        overdue=plan.due_on < today and plan.state in (ImprovementState.OPEN, ImprovementState.IN_PROGRESS),
        progress=[ProgressEntry.model_validate(entry) for entry in plan.progress or []],
        verified_by=plan.verified_by,
        verified_at=plan.verified_at,
        created_by=plan.created_by,
        version=plan.version,
        created_at=plan.created_at,
        updated_at=plan.updated_at,
    )


async def read_plan(session: AsyncSession, plan: ImprovementPlan) -> ImprovementPlanRead:
    [read] = await read_plans(session, [plan])
    return read


async def open_plans_of_site(session: AsyncSession, site_id: uuid.UUID) -> list[ImprovementPlanRead]:
    """The plans of a site not verified yet (open, in progress or done), oldest first: what the next
    round's scorecard shows beside it (7.2.2). No scope check: the caller has already checked that
    its principal may read the site's scorecard."""
    rows = await session.scalars(
        select(ImprovementPlan)
        .where(
            ImprovementPlan.site_id == site_id,
            ImprovementPlan.state.in_([s.value for s in UNVERIFIED_STATES]),
        )
        .order_by(ImprovementPlan.created_at, ImprovementPlan.id)
    )
    return await read_plans(session, list(rows))


# ---- writing ---------------------------------------------------------------------------------------


def _snapshot(plan: ImprovementPlan) -> dict[str, Any]:
    return {
        "state": plan.state,
        "actions": plan.actions,
        "owner": plan.owner,
        "due_on": plan.due_on,
        "progress_reports": len(plan.progress or []),
    }


async def _audit(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    action: str,
    plan: ImprovementPlan,
    *,
    before: Any = None,
    after: Any = None,
    note: str | None = None,
) -> None:
    await audit(
        session,
        request,
        principal,
        action,
        "improvement_plan",
        plan.id,
        before=before,
        after=after,
        note=note,
    )


async def create_plan(
    session: AsyncSession, request: Request, principal: Principal, body: ImprovementPlanCreate
) -> ImprovementPlan:
    """The operator of the finding's site answers a finding of a published round."""
    finding = None
    if principal.role == "operator" and principal.sites:
        finding = await session.scalar(
            select(Finding).where(Finding.id == body.finding_id, Finding.site_id.in_(sorted(principal.sites)))
        )
    if finding is None:
        raise FindingNotFound()
    found = await session.get(Round, finding.round_id)
    card = await session.get(Scorecard, finding.scorecard_id)
    assert found is not None and card is not None
    if found.state != RoundState.PUBLISHED:
        raise RoundNotPublished(found.state)
    now = utcnow()
    plan_id = await session.scalar(
        insert(ImprovementPlan)
        .values(
            id=uuid.uuid4(),
            finding_id=finding.id,
            round_id=finding.round_id,
            site_id=finding.site_id,
            street_id=card.street_id,
            actions=body.actions,
            owner=body.owner,
            due_on=body.due_on,
            state=ImprovementState.OPEN.value,
            progress=[],
            created_by=principal.sub,
            version=1,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[ImprovementPlan.finding_id])
        .returning(ImprovementPlan.id)
    )
    if plan_id is None:
        existing = await session.scalar(
            select(ImprovementPlan.id).where(ImprovementPlan.finding_id == finding.id)
        )
        assert existing is not None
        raise PlanExists(existing)
    plan = await session.get(ImprovementPlan, plan_id)
    assert plan is not None
    await _audit(
        session,
        request,
        principal,
        "improvement_plan.create",
        plan,
        after={**_snapshot(plan), "finding_id": finding.id, "round_id": finding.round_id},
    )
    return plan


async def transition(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    plan_id: uuid.UUID,
    action: PlanAction,
    body: ProgressCreate | None = None,
) -> ImprovementPlan:
    """Report progress, complete or verify a plan (the route has checked the role)."""
    plan = await get_plan(session, principal, plan_id, for_update=True)
    target = TRANSITIONS.get((ImprovementState(plan.state), action))
    if target is None:
        raise InvalidTransition(plan.state, action)
    before = _snapshot(plan)
    now = utcnow()
    if action == PlanAction.PROGRESS:
        assert body is not None
        entry = {"at": now.isoformat(), "by": principal.sub, "text": body.text}
        plan.progress = [*(plan.progress or []), entry]  # a new list: JSONB changes by assignment
    if action == PlanAction.VERIFY:
        plan.verified_by, plan.verified_at = principal.sub, now
    plan.state = target.value
    plan.version += 1
    plan.updated_at = now
    await session.flush()
    await _audit(
        session,
        request,
        principal,
        f"improvement_plan.{action.value}",
        plan,
        before=before,
        after=_snapshot(plan),
        note=body.text if body is not None else None,
    )
    return plan
