"""个案 (MZ/T 094) and 小组 (MZ/T 095) services (5.4.10; Table C.1 专业服务 counts cases + groups).

A case's client is personal data (:mod:`services.activities.personal`): masked in every list,
unmasked only on a single read by the site's operator or the district (audited), and withheld
from evaluators altogether. The client's ID number is stored masked with a keyed digest.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.activities import records
from services.activities.casework.models import Case, Group
from services.activities.casework.schemas import CaseCreate, CaseUpdate, GroupCreate, GroupUpdate
from services.activities.personal import (
    PersonalData,
    id_number_field,
    id_number_key,
    id_number_stored,
    name_field,
    phone_field,
)
from services.activities.records import RecordKind
from services.common.auth import Principal
from services.common.errors import ValidationFailed, define_titles

define_titles(
    {
        "case_not_found": ("Case not found", "个案不存在"),
        "group_not_found": ("Group not found", "小组不存在"),
    }
)

CASES = RecordKind(model=Case, object_type="case", label_en="case", label_zh="个案", date_column="opened_on")
GROUPS = RecordKind(
    model=Group, object_type="group", label_en="group", label_zh="小组", date_column="opened_on"
)

CASE_CLIENT = PersonalData(
    object_type="case",
    fields=(
        name_field("client_name"),
        phone_field("client_phone"),
        id_number_field("client_id_number_masked"),
    ),
    # Cases never leave the site in identifiable form (SPEC §1): evaluators see no client at all.
    withheld_from=frozenset({"evaluator"}),
)


def check_period(opened_on: dt.date, closed_on: dt.date | None) -> None:
    if closed_on is not None and closed_on < opened_on:
        raise ValidationFailed(
            "closed_on", "must not be before opened_on", message_zh="结束日期不能早于开始日期"
        )


def _client_id_values(request: Request, id_number: str | None) -> dict[str, Any]:
    return {
        "client_id_number_masked": id_number_stored(id_number),
        "client_id_number_hash": id_number_key(request, id_number),
    }


# ---- cases -----------------------------------------------------------------------------------------


async def create_case(
    session: AsyncSession, request: Request, principal: Principal, body: CaseCreate
) -> Case:
    check_period(body.opened_on, body.closed_on)
    values = body.model_dump(exclude={"client_id_number"})
    values.update(_client_id_values(request, body.client_id_number))
    return await records.create_record(session, request, principal, CASES, values)


async def update_case(
    session: AsyncSession, request: Request, principal: Principal, case_id: uuid.UUID, body: CaseUpdate
) -> Case:
    changes = body.model_dump(exclude_unset=True)
    if "client_id_number" in changes:
        changes.update(_client_id_values(request, changes.pop("client_id_number")))
    row = await records.get_record(session, principal, CASES, case_id, for_update=True)
    check_period(changes.get("opened_on", row.opened_on), changes.get("closed_on", row.closed_on))
    return await records.update_record(session, request, principal, CASES, case_id, changes)


# ---- groups ----------------------------------------------------------------------------------------


async def create_group(
    session: AsyncSession, request: Request, principal: Principal, body: GroupCreate
) -> Group:
    check_period(body.opened_on, body.closed_on)
    return await records.create_record(session, request, principal, GROUPS, body.model_dump())


async def update_group(
    session: AsyncSession, request: Request, principal: Principal, group_id: uuid.UUID, body: GroupUpdate
) -> Group:
    changes = body.model_dump(exclude_unset=True)
    row = await records.get_record(session, principal, GROUPS, group_id, for_update=True)
    check_period(changes.get("opened_on", row.opened_on), changes.get("closed_on", row.closed_on))
    return await records.update_record(session, request, principal, GROUPS, group_id, changes)
