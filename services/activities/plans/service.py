"""Monthly activity plans (Table C.1 常态开放 2: 每月须提前制定月度活动安排,并告之服务对象).

One plan per site and month. A plan is the only record that may be dated in the future: it is
written ahead of its month and then *published* (announced to residents). Publishing once the
month has begun (Asia/Shanghai) is allowed but marked ``published_late``, and a late plan earns
no C14 point. Published plans may still be corrected (every change is audited) but not deleted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.activities import records
from services.activities.plans.models import ActivityPlan
from services.activities.plans.schemas import ActivityPlanCreate, ActivityPlanUpdate, PlanItem, month_code
from services.activities.records import RecordKind
from services.activities.scope import ensure_can_write_site
from services.common.auth import Principal
from services.common.errors import AppError, Conflict, define_titles
from services.common.etag import require_if_match
from services.common.timeutil import SHANGHAI, shanghai_date, utc_now

define_titles(
    {
        "activity_plan_not_found": ("Activity plan not found", "月度活动安排不存在"),
        "plan_exists": ("A plan for this site and month already exists", "该站点本月的活动安排已存在"),
        "plan_already_published": ("The plan is already published", "活动安排已发布"),
        "plan_published": ("A published plan cannot be deleted", "已发布的活动安排不能删除"),
    }
)

PLANS = RecordKind(
    model=ActivityPlan,
    object_type="activity_plan",
    label_en="activity plan",
    label_zh="月度活动安排",
    date_column="month",
)

UNIQUE_SITE_MONTH = "uq_activity_plans_site_month"


def _next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def check_items_in_month(month: dt.date, items: Sequence[PlanItem]) -> None:
    """Every item's date lies within the plan's month (422 naming each bad ``items.<n>.date``)."""
    end = _next_month(month)
    errors = [
        {"field": f"items.{n}.date", "message": f"must be a day of {month_code(month)}"}
        for n, item in enumerate(items)
        if not month <= item.date < end
    ]
    if errors:
        fields = ", ".join(e["field"] for e in errors)
        raise AppError(
            f"Invalid fields: {fields}",
            detail_zh=f"以下字段无效:{fields}(日期须在 {month_code(month)} 月内)",
            code="validation_failed",
            status=422,
            errors=errors,
        )


def _items_json(items: Sequence[PlanItem]) -> list[dict[str, object]]:
    return [item.model_dump(mode="json") for item in items]


async def create_plan(
    session: AsyncSession, request: Request, principal: Principal, body: ActivityPlanCreate
) -> ActivityPlan:
    check_items_in_month(body.month, body.items)
    values = {"site_id": body.site_id, "month": body.month, "items": _items_json(body.items)}
    try:
        # A savepoint, so that losing the race for (site, month) is a clean 409, not a broken session.
        async with session.begin_nested():
            return await records.create_record(session, request, principal, PLANS, values)
    except IntegrityError as exc:
        if UNIQUE_SITE_MONTH not in str(exc.orig):
            raise
    existing = await session.scalar(
        select(ActivityPlan.id).where(ActivityPlan.site_id == body.site_id, ActivityPlan.month == body.month)
    )
    raise Conflict(
        f"Site already has a plan for {month_code(body.month)}; change that plan instead.",
        detail_zh=f"该站点 {month_code(body.month)} 的活动安排已存在,请修改原安排。",
        code="plan_exists",
        existing_id=str(existing) if existing else None,
    )


async def update_plan_items(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    plan_id: uuid.UUID,
    body: ActivityPlanUpdate,
) -> ActivityPlan:
    """Replace the items. Allowed after publication too; the audit row keeps the published version."""
    row = await records.get_record(session, principal, PLANS, plan_id, for_update=True)
    check_items_in_month(row.month, body.items)
    changes = {"items": _items_json(body.items)}
    return await records.update_record(session, request, principal, PLANS, plan_id, changes)


async def delete_plan(
    session: AsyncSession, request: Request, principal: Principal, plan_id: uuid.UUID
) -> None:
    row = await records.load_for_write(session, request, principal, PLANS, plan_id)
    if row.published_at is not None:
        raise Conflict(
            "The plan was published to residents and cannot be deleted; correct its items instead.",
            detail_zh="活动安排已向服务对象发布,不能删除,可修改其内容。",
            code="plan_published",
        )
    await records.delete_record(session, request, principal, PLANS, plan_id)


async def publish_plan(
    session: AsyncSession, request: Request, principal: Principal, plan_id: uuid.UUID
) -> ActivityPlan:
    row = await records.get_record(session, principal, PLANS, plan_id, for_update=True)
    await ensure_can_write_site(request, principal, row.site_id)
    if request.headers.get("if-match"):
        require_if_match(request, row.id, row.version)
    if row.published_at is not None:
        raise Conflict(
            f"The plan was already published at {row.published_at.astimezone(SHANGHAI).isoformat()}.",
            detail_zh="该活动安排已发布,不能重复发布。",
            code="plan_already_published",
        )
    before = records.snapshot(row)
    now = utc_now()
    row.published_at = now
    # On time only if published before the month began, by the Shanghai calendar (C14).
    row.published_late = shanghai_date(now) >= row.month
    row.version += 1
    row.updated_at = now
    await session.flush()
    await records.audit(
        session,
        request,
        principal,
        "activity_plan.publish",
        PLANS.object_type,
        row.id,
        before=before,
        after=records.snapshot(row),
        note="published late: the month had begun" if row.published_late else None,
    )
    return row
