"""`/activity-plans` — monthly activity plans (Table C.1 常态开放 2)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.activities import records
from services.activities.plans import service
from services.activities.plans.schemas import (
    MONTH_PATTERN,
    ActivityPlanCreate,
    ActivityPlanRead,
    ActivityPlanUpdate,
    parse_month,
)
from services.activities.plans.service import PLANS
from services.activities.scope import Reader, Writer
from services.common.db import DbSession
from services.common.etag import set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination

router = APIRouter(prefix="/activity-plans", tags=["activity plans"])
Model = PLANS.model


@router.get("", response_model=Page[ActivityPlanRead], summary="List activity plans")
async def list_activity_plans(
    session: DbSession,
    principal: Reader,
    page: Pagination,
    site_id: uuid.UUID | None = None,
    month_from: Annotated[
        str | None,
        Query(alias="from", pattern=MONTH_PATTERN, description='First month, "YYYY-MM" (inclusive)'),
    ] = None,
    month_to: Annotated[
        str | None, Query(alias="to", pattern=MONTH_PATTERN, description='Last month, "YYYY-MM" (inclusive)')
    ] = None,
    published: bool | None = None,
) -> Page[ActivityPlanRead]:
    """Plans of the sites you may see, by month. `from`/`to` are months (`2026-03`), not dates."""
    filters = records.period_filters(
        PLANS,
        parse_month(month_from) if month_from else None,
        parse_month(month_to) if month_to else None,
    )
    if site_id is not None:
        filters.append(Model.site_id == site_id)
    if published is not None:
        filters.append(Model.published_at.is_not(None) if published else Model.published_at.is_(None))
    rows, cursor = await records.list_records(session, principal, PLANS, page, filters)
    return Page(items=[ActivityPlanRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.post("", response_model=ActivityPlanRead, status_code=201, summary="Draft a monthly plan")
async def create_activity_plan(
    request: Request,
    session: DbSession,
    principal: Writer,
    body: ActivityPlanCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """One plan per site and month (a second one → 409 `plan_exists`). The month may lie in the
    future — plans are written ahead; each item's `date` must fall within the month."""

    async def create() -> ActivityPlanRead:
        row = await service.create_plan(session, request, principal, body)
        return ActivityPlanRead.model_validate(row)

    return await idempotency.run(create)


@router.get("/{plan_id}", response_model=ActivityPlanRead, summary="Get an activity plan")
async def get_activity_plan(
    session: DbSession, principal: Reader, plan_id: uuid.UUID, response: Response
) -> ActivityPlanRead:
    row = await records.get_record(session, principal, PLANS, plan_id)
    set_etag(response, row.id, row.version)
    return ActivityPlanRead.model_validate(row)


@router.patch("/{plan_id}", response_model=ActivityPlanRead, summary="Change a plan's items")
async def update_activity_plan(
    request: Request,
    session: DbSession,
    principal: Writer,
    plan_id: uuid.UUID,
    body: ActivityPlanUpdate,
    response: Response,
) -> ActivityPlanRead:
    """Needs `If-Match`. Replaces the items; allowed after publication (the change is audited)."""
    row = await service.update_plan_items(session, request, principal, plan_id, body)
    set_etag(response, row.id, row.version)
    return ActivityPlanRead.model_validate(row)


@router.delete("/{plan_id}", status_code=204, summary="Delete an unpublished plan")
async def delete_activity_plan(
    request: Request, session: DbSession, principal: Writer, plan_id: uuid.UUID
) -> Response:
    """Needs `If-Match`. A published plan cannot be deleted (409 `plan_published`)."""
    await service.delete_plan(session, request, principal, plan_id)
    return Response(status_code=204)


@router.post("/{plan_id}/publish", response_model=ActivityPlanRead, summary="Publish a plan")
async def publish_activity_plan(
    request: Request, session: DbSession, principal: Writer, plan_id: uuid.UUID, response: Response
) -> ActivityPlanRead:
    """Announce the plan to residents (告之服务对象): sets `published_at`. Publishing once the month
    has begun (Asia/Shanghai) is allowed but recorded as `published_late` and earns no C14 point.
    Publishing twice → 409 `plan_already_published`. `If-Match` is optional here."""
    row = await service.publish_plan(session, request, principal, plan_id)
    set_etag(response, row.id, row.version)
    return ActivityPlanRead.model_validate(row)
