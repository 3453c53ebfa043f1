"""流量及诉求登记 (6.1.3): visits to a site, how many came and why. The visitor is personal data."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.activities import records
from services.activities.personal import (
    PersonalData,
    id_number_field,
    id_number_stored,
    name_field,
    phone_field,
)
from services.activities.records import RecordKind
from services.activities.visits.models import Visit
from services.activities.visits.schemas import VisitCreate, VisitUpdate
from services.common.auth import Principal
from services.common.errors import define_titles

define_titles({"visit_not_found": ("Visit not found", "来访登记不存在")})

VISITS = RecordKind(
    model=Visit, object_type="visit", label_en="visit", label_zh="来访登记", date_column="visited_at"
)

VISITOR = PersonalData(
    object_type="visit",
    fields=(
        name_field("visitor_name"),
        phone_field("visitor_phone"),
        id_number_field("visitor_id_number_masked"),
    ),
)


def stored_values(values: dict[str, Any]) -> dict[str, Any]:
    """The columns to store for validated input (also for batch ingest): the input-only ID number
    becomes its masked form; keep times in UTC (as they read back)."""
    if values.get("visited_at") is not None:
        values["visited_at"] = values["visited_at"].astimezone(dt.UTC)
    if "visitor_id_number" in values:
        values["visitor_id_number_masked"] = id_number_stored(values.pop("visitor_id_number"))
    return values


async def create_visit(
    session: AsyncSession, request: Request, principal: Principal, body: VisitCreate
) -> Visit:
    return await records.create_record(session, request, principal, VISITS, stored_values(body.model_dump()))


async def update_visit(
    session: AsyncSession, request: Request, principal: Principal, visit_id: uuid.UUID, body: VisitUpdate
) -> Visit:
    changes = stored_values(body.model_dump(exclude_unset=True))
    return await records.update_record(session, request, principal, VISITS, visit_id, changes)
