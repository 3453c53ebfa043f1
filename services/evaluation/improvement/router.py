"""Improvement plans (7.2.2): operators answer the findings of a published round; streets and the
district review and verify."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from services.common.auth import Principal, require_roles
from services.common.db import DbSession
from services.common.enums import ImprovementState
from services.common.etag import make_etag, set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination
from services.evaluation.improvement import service
from services.evaluation.improvement.schemas import (
    ImprovementPlanCreate,
    ImprovementPlanRead,
    ProgressCreate,
)
from services.evaluation.improvement.service import PlanAction

router = APIRouter(tags=["improvement plans"])

# Who may use which endpoint (object scope: service.visible_plans). Evaluators never see plans.
PlanReader = Annotated[Principal, Depends(require_roles("district", "street", "operator", "integration"))]
OperatorOnly = Annotated[Principal, Depends(require_roles("operator"))]
Verifier = Annotated[Principal, Depends(require_roles("district", "street"))]


def _etag_of(plan: ImprovementPlanRead) -> dict[str, str]:
    return {"ETag": make_etag(plan.id, plan.version)}


@router.get("/improvement-plans", response_model=Page[ImprovementPlanRead], summary="List improvement plans")
async def list_plans(
    session: DbSession,
    principal: PlanReader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    round_id: uuid.UUID | None = None,
    state: ImprovementState | None = None,
) -> Page[ImprovementPlanRead]:
    """Improvement plans (7.2.2), oldest first, each with the finding it answers. District and
    integration see all; a street the plans of its street's sites; an operator those of its sites.
    Evaluators: 403. Filters combine with that scope."""
    rows, cursor = await service.list_plans(
        session, principal, page, site_id=site_id, round_id=round_id, state=state
    )
    return Page(items=await service.read_plans(session, rows), next_cursor=cursor)


@router.post(
    "/improvement-plans",
    response_model=ImprovementPlanRead,
    status_code=201,
    summary="Answer a finding with an improvement plan",
)
async def create_plan(
    request: Request,
    session: DbSession,
    principal: OperatorOnly,
    body: ImprovementPlanCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """The operator of the finding's site answers one finding (7.2.2: "the operator must resolve the
    problems found and report the process and result") with its `actions`, the `owner` and a
    `due_on` date of today or later (422 `due_on`). The plan starts `open`. A finding of another
    site answers 404 `finding_not_found` like a missing one; a finding of a round not yet published
    409 `round_not_published`; a second plan for the same finding 409 `plan_exists` (with
    `plan_id`). Send `Idempotency-Key` to make a retry safe."""

    async def create() -> ImprovementPlanRead:
        return await service.read_plan(session, await service.create_plan(session, request, principal, body))

    return await idempotency.run(create, headers=_etag_of)


@router.get(
    "/improvement-plans/{plan_id}", response_model=ImprovementPlanRead, summary="Get an improvement plan"
)
async def get_plan(
    session: DbSession, principal: PlanReader, plan_id: uuid.UUID, response: Response
) -> ImprovementPlanRead:
    """One plan with its finding and its progress reports. Out of scope → 404
    `improvement_plan_not_found`, like a missing plan."""
    plan = await service.get_plan(session, principal, plan_id)
    set_etag(response, plan.id, plan.version)
    return await service.read_plan(session, plan)


async def _move(
    request: Request,
    session: DbSession,
    principal: Principal,
    idempotency: IdempotencyGuard,
    plan_id: uuid.UUID,
    action: PlanAction,
    body: ProgressCreate | None = None,
) -> Response:
    async def move() -> ImprovementPlanRead:
        plan = await service.transition(session, request, principal, plan_id, action, body)
        return await service.read_plan(session, plan)

    return await idempotency.run(move, status_code=200, headers=_etag_of)


@router.post(
    "/improvement-plans/{plan_id}/progress",
    response_model=ImprovementPlanRead,
    summary="Report progress on an improvement plan",
)
async def report_progress(
    request: Request,
    session: DbSession,
    principal: OperatorOnly,
    idempotency: IdempotencyGuard,
    plan_id: uuid.UUID,
    body: ProgressCreate,
) -> Response:
    """The site's operator appends a progress report `{text}` (kept with when and by whom); an
    `open` plan becomes `in_progress`. A plan already `done` or `verified` answers 409
    `invalid_transition`. Send `Idempotency-Key` so that a retry does not report twice."""
    return await _move(request, session, principal, idempotency, plan_id, PlanAction.PROGRESS, body)


@router.post(
    "/improvement-plans/{plan_id}/complete",
    response_model=ImprovementPlanRead,
    summary="Complete an improvement plan",
)
async def complete_plan(
    request: Request,
    session: DbSession,
    principal: OperatorOnly,
    idempotency: IdempotencyGuard,
    plan_id: uuid.UUID,
) -> Response:
    """The site's operator reports an `open` or `in_progress` plan `done`; the street or the
    district then verifies it. Otherwise 409 `invalid_transition`."""
    return await _move(request, session, principal, idempotency, plan_id, PlanAction.COMPLETE)


@router.post(
    "/improvement-plans/{plan_id}/verify",
    response_model=ImprovementPlanRead,
    summary="Verify an improvement plan",
)
async def verify_plan(
    request: Request,
    session: DbSession,
    principal: Verifier,
    idempotency: IdempotencyGuard,
    plan_id: uuid.UUID,
) -> Response:
    """The street of the site, or the district, confirms a `done` plan (→ `verified`, with
    `verified_by` and `verified_at`). Another street's plan answers 404; a plan not `done` 409
    `invalid_transition`."""
    return await _move(request, session, principal, idempotency, plan_id, PlanAction.VERIFY)


@router.get(
    "/sites/{site_id}/improvement-plans",
    response_model=Page[ImprovementPlanRead],
    summary="A site's improvement plans",
)
async def site_plans(
    request: Request,
    session: DbSession,
    principal: PlanReader,
    page: Pagination,
    site_id: uuid.UUID,
    state: ImprovementState | None = None,
) -> Page[ImprovementPlanRead]:
    """The improvement plans of one site, oldest first (filter `state`). Front ends show the plans
    not yet `verified` beside the site's next scorecard (7.2.2: the next evaluation looks at how the
    previous findings were resolved). A site out of scope answers 404 `site_not_found`."""
    await service.check_site_visible(request, principal, site_id)
    rows, cursor = await service.list_plans(session, principal, page, site_id=site_id, state=state)
    return Page(items=await service.read_plans(session, rows), next_cursor=cursor)
