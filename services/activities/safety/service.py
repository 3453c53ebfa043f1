"""安全防范 (6.1.4; Table C.1 安全制度): fire-safety trainings and patrols with their hazards.

A patrol's hazards live inline (JSONB ``[{description, due_on, rectified_on}]``); each is addressed by
its 0-based index. A hazard is *overdue* when it was not fixed by its due date — still open after
``due_on`` or fixed after it — and every overdue hazard costs 0.5 points in C10.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.activities import records
from services.activities.records import RecordKind
from services.activities.safety.models import SafetyPatrol, SafetyTraining
from services.activities.safety.schemas import (
    HazardIn,
    HazardRead,
    SafetyPatrolCreate,
    SafetyPatrolRead,
    SafetyPatrolUpdate,
    hazard_overdue,
)
from services.activities.scope import ensure_can_write_site
from services.common.auth import Principal
from services.common.errors import Conflict, NotFound, ValidationFailed, define_titles
from services.common.stored import reads_stored
from services.common.timeutil import today_shanghai, utc_now

define_titles(
    {
        "safety_training_not_found": ("Safety training not found", "消防安全培训记录不存在"),
        "safety_patrol_not_found": ("Safety patrol not found", "消防安全巡查记录不存在"),
        "hazard_not_found": ("Hazard not found", "隐患不存在"),
        "hazard_already_rectified": ("Hazard already rectified", "隐患已整改"),
    }
)

SAFETY_TRAININGS = RecordKind(
    model=SafetyTraining,
    object_type="safety_training",
    label_en="safety training",
    label_zh="消防安全培训记录",
    date_column="held_on",
)

SAFETY_PATROLS = RecordKind(
    model=SafetyPatrol,
    object_type="safety_patrol",
    label_en="safety patrol",
    label_zh="消防安全巡查记录",
    date_column="patrolled_on",
)


@reads_stored("activities.safety_patrols")
def patrol_read(row: SafetyPatrol, today: dt.date | None = None) -> SafetyPatrolRead:
    today = today or today_shanghai()
    hazards = [
        HazardRead(
            index=index,
            description=hazard["description"],
            due_on=dt.date.fromisoformat(hazard["due_on"]),
            rectified_on=dt.date.fromisoformat(hazard["rectified_on"])
            if hazard.get("rectified_on")
            else None,
            overdue=hazard_overdue(hazard, today),
        )
        for index, hazard in enumerate(row.hazards or [])
    ]
    return SafetyPatrolRead(
        id=row.id,
        site_id=row.site_id,
        patrolled_on=row.patrolled_on,
        inspector=row.inspector,
        has_record=row.has_record,
        hazards=hazards,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _stored_hazards(patrolled_on: dt.date, hazards: list[HazardIn]) -> list[dict[str, Any]]:
    """Hazards as stored, after checking their dates against the patrol's date."""
    stored = []
    for index, hazard in enumerate(hazards):
        if hazard.due_on < patrolled_on:
            raise ValidationFailed(
                f"hazards.{index}.due_on",
                "must not be before the patrol date",
                message_zh="整改期限不能早于巡查日期",
            )
        if hazard.rectified_on is not None and hazard.rectified_on < patrolled_on:
            raise ValidationFailed(
                f"hazards.{index}.rectified_on",
                "must not be before the patrol date",
                message_zh="整改日期不能早于巡查日期",
            )
        stored.append(
            {
                "description": hazard.description,
                "due_on": hazard.due_on.isoformat(),
                "rectified_on": hazard.rectified_on.isoformat() if hazard.rectified_on else None,
            }
        )
    return stored


async def create_patrol(
    session: AsyncSession, request: Request, principal: Principal, body: SafetyPatrolCreate
) -> SafetyPatrol:
    values = body.model_dump(exclude={"hazards"})
    values["hazards"] = _stored_hazards(body.patrolled_on, body.hazards)
    return await records.create_record(session, request, principal, SAFETY_PATROLS, values)


async def update_patrol(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    patrol_id: uuid.UUID,
    body: SafetyPatrolUpdate,
) -> SafetyPatrol:
    changes = body.model_dump(exclude_unset=True, exclude_none=True, exclude={"hazards"})
    row = await records.load_for_write(session, request, principal, SAFETY_PATROLS, patrol_id)
    patrolled_on = changes.get("patrolled_on", row.patrolled_on)
    if body.hazards is not None:
        changes["hazards"] = _stored_hazards(patrolled_on, body.hazards)
    elif "patrolled_on" in changes:
        # The existing hazards must still fit the new patrol date.
        _stored_hazards(patrolled_on, [HazardIn.model_validate(h) for h in row.hazards or []])
    return await _apply(session, request, principal, row, changes, "safety_patrol.update")


async def _apply(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    row: SafetyPatrol,
    changes: dict[str, Any],
    action: str,
    note: str | None = None,
) -> SafetyPatrol:
    before = records.snapshot(row)
    for key, value in changes.items():
        setattr(row, key, value)
    row.version += 1
    row.updated_at = utc_now()
    await session.flush()
    await records.audit(
        session,
        request,
        principal,
        action,
        SAFETY_PATROLS.object_type,
        row.id,
        before=before,
        after=records.snapshot(row),
        note=note,
    )
    return row


async def rectify_hazard(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    patrol_id: uuid.UUID,
    index: int,
    rectified_on: dt.date | None,
) -> SafetyPatrol:
    """Mark hazard ``index`` fixed. No If-Match: the action only ever moves a hazard from open to fixed,
    so a concurrent writer cannot be overwritten — a second call answers 409."""
    row = await records.get_record(session, principal, SAFETY_PATROLS, patrol_id, for_update=True)
    await ensure_can_write_site(request, principal, row.site_id)
    hazards = [dict(h) for h in row.hazards or []]
    if not 0 <= index < len(hazards):
        raise NotFound(
            f"Patrol has no hazard #{index} (it lists {len(hazards)}).",
            detail_zh=f"该巡查记录没有第 {index} 项隐患(共 {len(hazards)} 项)。",
            code="hazard_not_found",
        )
    if hazards[index].get("rectified_on"):
        raise Conflict(
            f"Hazard #{index} was already rectified on {hazards[index]['rectified_on']}.",
            detail_zh=f"第 {index} 项隐患已于 {hazards[index]['rectified_on']} 整改。",
            code="hazard_already_rectified",
        )
    today = today_shanghai()
    day = rectified_on or today
    if day > today:
        raise ValidationFailed("rectified_on", "must not be in the future", message_zh="不能是将来的日期")
    if day < row.patrolled_on:
        raise ValidationFailed(
            "rectified_on", "must not be before the patrol date", message_zh="整改日期不能早于巡查日期"
        )
    hazards[index]["rectified_on"] = day.isoformat()
    # A new list, so the JSONB change is seen.
    changes = {"hazards": hazards}
    return await _apply(
        session, request, principal, row, changes, "safety_patrol.rectify_hazard", note=f"hazard {index}"
    )
