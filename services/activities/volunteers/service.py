"""在册志愿者 and their hours (Table C.1 志愿者: C13 counts registered volunteers and hours served).

A volunteer's name and phone are personal data. Hours are recorded per volunteer and day; one
volunteer's hours on one day never add up to more than 24 (409 ``volunteer_day_over_24h``). Every
write of hours first locks the volunteer's row, so two concurrent writes for the same volunteer are
checked one after the other and cannot together pass 24.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from fastapi import Request
from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.activities import records
from services.activities.activities.models import Activity
from services.activities.personal import PersonalData, name_field, phone_field
from services.activities.records import RecordKind
from services.activities.scope import site_clause
from services.activities.volunteers.models import Volunteer, VolunteerHours
from services.activities.volunteers.schemas import (
    VolunteerCreate,
    VolunteerHoursCreate,
    VolunteerHoursUpdate,
    VolunteerUpdate,
)
from services.common.auth import Principal
from services.common.errors import Conflict, ValidationFailed, define_titles

MAX_HOURS_PER_DAY = Decimal(24)
NO_HOURS = Decimal("0.0")

define_titles(
    {
        "volunteer_not_found": ("Volunteer not found", "志愿者不存在"),
        "volunteer_hours_not_found": ("Volunteer hours not found", "志愿服务时数记录不存在"),
        "volunteer_has_hours": ("Volunteer has recorded hours", "该志愿者已有服务时数记录"),
        "volunteer_day_over_24h": ("More than 24 hours in a day", "单日志愿服务时数超过24小时"),
    }
)

VOLUNTEERS = RecordKind(
    model=Volunteer,
    object_type="volunteer",
    label_en="volunteer",
    label_zh="志愿者",
    date_column="registered_on",
)
VOLUNTEER_HOURS = RecordKind(
    model=VolunteerHours,
    object_type="volunteer_hours",
    label_en="volunteer hours record",
    label_zh="志愿服务时数记录",
    date_column="date",
)

VOLUNTEER = PersonalData(object_type="volunteer", fields=(name_field("name"), phone_field("phone")))


# ---- volunteers ------------------------------------------------------------------------------------


async def hours_totals(session: AsyncSession, volunteer_ids: list[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    """Each volunteer's recorded hours in total (one aggregate query)."""
    totals = {volunteer_id: NO_HOURS for volunteer_id in volunteer_ids}
    if volunteer_ids:
        rows = await session.execute(
            select(VolunteerHours.volunteer_id, func.sum(VolunteerHours.hours))
            .where(VolunteerHours.volunteer_id.in_(volunteer_ids))
            .group_by(VolunteerHours.volunteer_id)
        )
        totals.update({volunteer_id: total for volunteer_id, total in rows})
    return totals


async def create_volunteer(
    session: AsyncSession, request: Request, principal: Principal, body: VolunteerCreate
) -> Volunteer:
    return await records.create_record(session, request, principal, VOLUNTEERS, body.model_dump())


async def update_volunteer(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    volunteer_id: uuid.UUID,
    body: VolunteerUpdate,
) -> Volunteer:
    changes = body.model_dump(exclude_unset=True)
    return await records.update_record(session, request, principal, VOLUNTEERS, volunteer_id, changes)


async def delete_volunteer(
    session: AsyncSession, request: Request, principal: Principal, volunteer_id: uuid.UUID
) -> None:
    await records.load_for_write(session, request, principal, VOLUNTEERS, volunteer_id)
    if await session.scalar(select(exists().where(VolunteerHours.volunteer_id == volunteer_id))):
        raise Conflict(
            "This volunteer has recorded hours; delete them first.",
            detail_zh="该志愿者已有服务时数记录,请先删除时数记录。",
            code="volunteer_has_hours",
        )
    await records.delete_record(session, request, principal, VOLUNTEERS, volunteer_id)


# ---- hours -----------------------------------------------------------------------------------------


async def _lock_volunteer(session: AsyncSession, principal: Principal, volunteer_id: uuid.UUID) -> Volunteer:
    """The volunteer, locked, if it is one of a site the caller may write for; else 422 ``volunteer_id``.

    For the writing roles the readable sites are the writable ones (an operator's claim; any site
    for the district), so the read scope clause is the write check."""
    volunteer = await session.scalar(
        select(Volunteer)
        .where(Volunteer.id == volunteer_id, site_clause(principal, Volunteer.site_id))
        .with_for_update()
    )
    if volunteer is None:
        raise ValidationFailed(
            "volunteer_id",
            "no volunteer with this id at a site you may write for",
            message_zh="志愿者不存在或不在可写站点",
        )
    return volunteer


async def _check_activity(session: AsyncSession, activity_id: uuid.UUID | None, site_id: uuid.UUID) -> None:
    if activity_id is None:
        return
    found = await session.scalar(
        select(exists().where(Activity.id == activity_id, Activity.site_id == site_id))
    )
    if not found:
        raise ValidationFailed(
            "activity_id", "no activity with this id at the volunteer's site", message_zh="该站点没有此活动"
        )


async def _check_day(
    session: AsyncSession,
    volunteer_id: uuid.UUID,
    day: dt.date,
    hours: Decimal,
    excluding: uuid.UUID | None = None,
) -> None:
    """Refuse hours that would take the volunteer's day past 24 (the volunteer row is locked)."""
    stmt = select(func.coalesce(func.sum(VolunteerHours.hours), 0)).where(
        VolunteerHours.volunteer_id == volunteer_id, VolunteerHours.date == day
    )
    if excluding is not None:
        stmt = stmt.where(VolunteerHours.id != excluding)
    recorded = Decimal(await session.scalar(stmt) or 0)
    if recorded + hours > MAX_HOURS_PER_DAY:
        raise Conflict(
            f"The volunteer already has {recorded} h on {day}; {hours} h more would exceed 24 h.",
            detail_zh=f"该志愿者 {day} 已登记 {recorded} 小时,再登记 {hours} 小时将超过24小时。",
            code="volunteer_day_over_24h",
            date=day.isoformat(),
            hours_recorded=str(recorded),
            hours_requested=str(hours),
        )


async def create_hours(
    session: AsyncSession, request: Request, principal: Principal, body: VolunteerHoursCreate
) -> VolunteerHours:
    volunteer = await _lock_volunteer(session, principal, body.volunteer_id)
    await _check_activity(session, body.activity_id, volunteer.site_id)
    await _check_day(session, volunteer.id, body.date, body.hours)
    values = {**body.model_dump(), "site_id": volunteer.site_id}
    return await records.create_record(session, request, principal, VOLUNTEER_HOURS, values)


async def update_hours(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    hours_id: uuid.UUID,
    body: VolunteerHoursUpdate,
) -> VolunteerHours:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    row = await records.get_record(session, principal, VOLUNTEER_HOURS, hours_id, for_update=True)
    if "activity_id" in changes:
        await _check_activity(session, changes["activity_id"], row.site_id)
    if "date" in changes or "hours" in changes:
        volunteer = await _lock_volunteer(session, principal, row.volunteer_id)
        await _check_day(
            session,
            volunteer.id,
            changes.get("date", row.date),
            changes.get("hours", row.hours),
            excluding=row.id,
        )
    return await records.update_record(session, request, principal, VOLUNTEER_HOURS, hours_id, changes)
