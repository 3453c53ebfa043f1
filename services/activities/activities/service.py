"""Activities of the ten service categories (5.4) and their evidence (Table C.1 主题活动).

A theme activity counts for C15 only with a sign-in sheet and a photo among its evidence; the
flags ``has_sign_in_sheet`` / ``has_photo`` are kept in step with the evidence on every write so
the metrics can count with plain SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.activities import records
from services.activities.activities.models import Activity
from services.activities.activities.schemas import ActivityCreate, ActivityUpdate, Evidence
from services.activities.records import RecordKind
from services.common.auth import Principal
from services.common.enums import EvidenceKind
from services.common.errors import ValidationFailed, define_titles

define_titles({"activity_not_found": ("Activity not found", "活动不存在")})

ACTIVITIES = RecordKind(
    model=Activity,
    object_type="activity",
    label_en="activity",
    label_zh="活动记录",
    date_column="starts_at",
)


def evidence_flags(evidence: Sequence[Evidence]) -> dict[str, Any]:
    """The evidence as stored (JSON) and the denormalised flags C15 counts on."""
    kinds = {item.kind for item in evidence}
    return {
        "evidence": [item.model_dump(mode="json") for item in evidence],
        "has_sign_in_sheet": EvidenceKind.SIGN_IN_SHEET in kinds,
        "has_photo": EvidenceKind.PHOTO in kinds,
    }


def activity_values(body: BaseModel) -> dict[str, Any]:
    """Column values of a new activity (also used by batch ingest)."""
    assert isinstance(body, ActivityCreate)
    values = body.model_dump(exclude={"evidence"})
    values.update(evidence_flags(body.evidence))
    return values


async def create_activity(
    session: AsyncSession, request: Request, principal: Principal, body: ActivityCreate
) -> dict[str, Any]:
    """The stored row, written with its audit row and change event by one statement (the hot write
    path, issue 7 P4: :func:`records.insert_record`)."""
    return await records.insert_record(session, request, principal, ACTIVITIES, activity_values(body))


async def update_activity(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    activity_id: uuid.UUID,
    body: ActivityUpdate,
) -> Activity:
    changes = body.model_dump(exclude_unset=True, exclude_none=True, exclude={"evidence"})
    if body.evidence is not None:
        changes.update(evidence_flags(body.evidence))
    if "starts_at" in changes or "ends_at" in changes:
        current = await records.get_record(session, principal, ACTIVITIES, activity_id, for_update=True)
        starts_at = changes.get("starts_at", current.starts_at)
        ends_at = changes.get("ends_at", current.ends_at)
        if ends_at < starts_at:
            raise ValidationFailed(
                "ends_at", "must not be before starts_at", message_zh="结束时间不能早于开始时间"
            )
    return await records.update_record(session, request, principal, ACTIVITIES, activity_id, changes)
