"""需求信息档案 (6.1.2) and 转介 (5.3).

A need is a resident's request recorded at a site; the resident is personal data. A need the site
cannot serve itself is referred to a department or organisation: the referral belongs to the need's
site and moves ``open`` → ``accepted`` → ``closed`` (or straight from ``open`` to ``closed``), each
step dated today (Asia/Shanghai) and audited.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import Request
from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.activities import records
from services.activities.needs.models import Need, Referral
from services.activities.needs.schemas import NeedCreate, NeedUpdate, ReferralCreate, ReferralUpdate
from services.activities.personal import (
    PersonalData,
    id_number_field,
    id_number_stored,
    name_field,
    phone_field,
)
from services.activities.records import RecordKind
from services.activities.scope import ensure_can_write_site, site_clause
from services.common.auth import Principal
from services.common.enums import ReferralStatus
from services.common.errors import Conflict, ValidationFailed, define_titles
from services.common.timeutil import today_shanghai, utc_now

define_titles(
    {
        "need_not_found": ("Need not found", "需求信息不存在"),
        "referral_not_found": ("Referral not found", "转介记录不存在"),
        "need_has_referrals": ("Need has referrals", "该需求已有转介记录"),
    }
)

NEEDS = RecordKind(
    model=Need, object_type="need", label_en="need", label_zh="需求信息", date_column="recorded_on"
)
REFERRALS = RecordKind(
    model=Referral,
    object_type="referral",
    label_en="referral",
    label_zh="转介记录",
    date_column="referred_on",
)

RESIDENT = PersonalData(
    object_type="need",
    fields=(
        name_field("resident_name"),
        phone_field("resident_phone"),
        id_number_field("resident_id_number_masked"),
    ),
)

# The states each action may start from.
ACCEPT_FROM = frozenset({ReferralStatus.OPEN})
CLOSE_FROM = frozenset({ReferralStatus.OPEN, ReferralStatus.ACCEPTED})


# ---- needs -----------------------------------------------------------------------------------------


def stored_values(values: dict[str, Any]) -> dict[str, Any]:
    """The columns to store for validated input (also for batch ingest): the input-only ID number
    becomes its masked form."""
    if "resident_id_number" in values:
        values["resident_id_number_masked"] = id_number_stored(values.pop("resident_id_number"))
    return values


async def create_need(
    session: AsyncSession, request: Request, principal: Principal, body: NeedCreate
) -> Need:
    return await records.create_record(session, request, principal, NEEDS, stored_values(body.model_dump()))


async def update_need(
    session: AsyncSession, request: Request, principal: Principal, need_id: uuid.UUID, body: NeedUpdate
) -> Need:
    changes = stored_values(body.model_dump(exclude_unset=True))
    if "recorded_on" in changes:
        await records.get_record(session, principal, NEEDS, need_id, for_update=True)
        first_referral = await session.scalar(
            select(func.min(Referral.referred_on)).where(Referral.need_id == need_id)
        )
        if first_referral is not None and changes["recorded_on"] > first_referral:
            raise ValidationFailed(
                "recorded_on",
                f"must not be after the need's first referral ({first_referral})",
                message_zh=f"不能晚于该需求的首次转介日期({first_referral})",
            )
    return await records.update_record(session, request, principal, NEEDS, need_id, changes)


async def delete_need(
    session: AsyncSession, request: Request, principal: Principal, need_id: uuid.UUID
) -> None:
    # Locked first, so a referral being created for it waits and then finds no need.
    await records.load_for_write(session, request, principal, NEEDS, need_id)
    if await session.scalar(select(exists().where(Referral.need_id == need_id))):
        raise Conflict(
            "This need has referrals; delete them first.",
            detail_zh="该需求已有转介记录,请先删除转介记录。",
            code="need_has_referrals",
        )
    await records.delete_record(session, request, principal, NEEDS, need_id)


# ---- referrals -------------------------------------------------------------------------------------


async def _need_to_refer(session: AsyncSession, principal: Principal, need_id: uuid.UUID) -> Need:
    """The need, if it is one of a site the caller may write for; else 422 naming ``need_id``."""
    # KEY SHARE: the need cannot be deleted under the referral being written.
    need = await session.scalar(
        select(Need)
        .where(Need.id == need_id, site_clause(principal, Need.site_id))
        .with_for_update(key_share=True)
    )
    # For the writing roles the readable sites are the writable ones (an operator's claim; any
    # site for the district), so the read scope clause is the write check.
    if need is None:
        raise ValidationFailed(
            "need_id",
            "no need with this id at a site you may write for",
            message_zh="需求不存在或不在可写站点",
        )
    return need


def _check_referred_on(referred_on: dt.date, need: Need) -> None:
    if referred_on < need.recorded_on:
        raise ValidationFailed(
            "referred_on",
            f"must not be before the need was recorded ({need.recorded_on})",
            message_zh=f"转介日期不能早于需求登记日期({need.recorded_on})",
        )


async def create_referral(
    session: AsyncSession, request: Request, principal: Principal, body: ReferralCreate
) -> Referral:
    need = await _need_to_refer(session, principal, body.need_id)
    _check_referred_on(body.referred_on, need)
    values = {**body.model_dump(), "site_id": need.site_id, "status": ReferralStatus.OPEN.value}
    return await records.create_record(session, request, principal, REFERRALS, values)


async def update_referral(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    referral_id: uuid.UUID,
    body: ReferralUpdate,
) -> Referral:
    changes = body.model_dump(exclude_unset=True)
    if "referred_on" in changes:
        row = await records.get_record(session, principal, REFERRALS, referral_id, for_update=True)
        need = await session.get_one(Need, row.need_id)
        _check_referred_on(changes["referred_on"], need)
    return await records.update_record(session, request, principal, REFERRALS, referral_id, changes)


async def accept_referral(
    session: AsyncSession, request: Request, principal: Principal, referral_id: uuid.UUID
) -> Referral:
    """``open`` → ``accepted`` (the receiving party took it on), dated today."""
    return await _transition(
        session,
        request,
        principal,
        referral_id,
        "accept",
        ACCEPT_FROM,
        {"status": ReferralStatus.ACCEPTED.value, "accepted_on": today_shanghai()},
    )


async def close_referral(
    session: AsyncSession, request: Request, principal: Principal, referral_id: uuid.UUID, outcome: str
) -> Referral:
    """``open`` or ``accepted`` → ``closed`` with its outcome, dated today."""
    return await _transition(
        session,
        request,
        principal,
        referral_id,
        "close",
        CLOSE_FROM,
        {"status": ReferralStatus.CLOSED.value, "closed_on": today_shanghai(), "outcome": outcome},
    )


async def _transition(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    referral_id: uuid.UUID,
    action: str,
    allowed_from: frozenset[ReferralStatus],
    changes: dict[str, Any],
) -> Referral:
    # No If-Match: an action only moves the status forward, so a concurrent writer is never
    # overwritten — the second of two racing calls sees the new status and answers 409.
    row = await records.get_record(session, principal, REFERRALS, referral_id, for_update=True)
    await ensure_can_write_site(request, principal, row.site_id)
    if row.status not in allowed_from:
        raise Conflict(
            f"Cannot {action} a referral that is {row.status} "
            f"(only one that is {' or '.join(sorted(allowed_from))}).",
            detail_zh=f"转介记录当前状态为 {row.status},不能执行该操作。",
            code="invalid_transition",
            current_status=row.status,
        )
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
        f"referral.{action}",
        "referral",
        row.id,
        before=before,
        after=records.snapshot(row),
    )
    return row
