"""Staff of a site and their trainings (5.2). Staff are site-bound: every query goes through the
site policy of services/registry/scope.py, so a caller sees exactly the staff of the sites it sees."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from fastapi import Request
from sqlalchemy import ColumnElement, Select, and_, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.enums import Certificate
from services.common.errors import NotFound, ValidationFailed
from services.common.etag import require_if_match
from services.common.pagination import PageParams, keyset_page
from services.common.timeutil import today_shanghai, utc_now
from services.registry.audit import audit
from services.registry.scope import get_visible_site, visible_sites
from services.registry.sites.models import Site
from services.registry.staff.models import StaffMember, StaffTraining
from services.registry.staff.schemas import (
    StaffCreate,
    StaffRead,
    StaffUpdate,
    TrainingCreate,
    TrainingRead,
)

# 5.2.3: 持证社会工作者参加继续教育每年不少于50学时.
REQUIRED_TRAINING_HOURS = Decimal(50)
CERTIFIED = frozenset({Certificate.JUNIOR, Certificate.INTERMEDIATE, Certificate.SENIOR})
ZERO = Decimal("0.0")


class StaffNotFound(NotFound):
    code = "staff_not_found"

    def __init__(self) -> None:
        super().__init__("No staff member with this id.", detail_zh="工作人员不存在。")


def _scoped_staff(principal: Principal) -> Select[Any]:
    return select(StaffMember).join(Site, Site.id == StaffMember.site_id).where(visible_sites(principal))


def _active_on(day: dt.date) -> ColumnElement[bool]:
    return and_(
        StaffMember.active_from <= day,
        or_(StaffMember.active_until.is_(None), StaffMember.active_until >= day),
    )


def training_shortfall(certificate: str, hours: Decimal) -> bool:
    """5.2.3: a certified social worker below 50 training hours in the year."""
    return certificate in CERTIFIED and hours < REQUIRED_TRAINING_HOURS


async def training_hours_by_staff(
    session: AsyncSession, staff_ids: list[uuid.UUID], year: int
) -> dict[uuid.UUID, Decimal]:
    """Total training hours of each staff member in ``year`` (one aggregate query)."""
    if not staff_ids:
        return {}
    stmt = (
        select(StaffTraining.staff_id, func.sum(StaffTraining.hours))
        .where(
            StaffTraining.staff_id.in_(staff_ids),
            StaffTraining.date >= dt.date(year, 1, 1),
            StaffTraining.date < dt.date(year + 1, 1, 1),
        )
        .group_by(StaffTraining.staff_id)
    )
    return {staff_id: total for staff_id, total in (await session.execute(stmt)).all()}


def _read(staff: StaffMember, hours: Decimal, year: int, today: dt.date) -> StaffRead:
    active = staff.active_from <= today and (staff.active_until is None or staff.active_until >= today)
    return StaffRead(
        id=staff.id,
        site_id=staff.site_id,
        name=staff.name,
        position=staff.position,
        full_time=staff.full_time,
        certificate=Certificate(staff.certificate),
        certificate_no=staff.certificate_no,
        active_from=staff.active_from,
        active_until=staff.active_until,
        active=active,
        training_year=year,
        training_hours=hours.quantize(Decimal("0.1")),
        training_shortfall=training_shortfall(staff.certificate, hours),
        version=staff.version,
        created_at=staff.created_at,
        updated_at=staff.updated_at,
    )


async def read_staff(session: AsyncSession, staff: StaffMember, year: int | None = None) -> StaffRead:
    year = year or today_shanghai().year
    hours = await training_hours_by_staff(session, [staff.id], year)
    return _read(staff, hours.get(staff.id, ZERO), year, today_shanghai())


async def list_staff(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    site_id: uuid.UUID | None = None,
    certificate: Certificate | None = None,
    active: bool | None = None,
    year: int | None = None,
) -> tuple[list[StaffRead], str | None]:
    today = today_shanghai()
    year = year or today.year
    stmt = _scoped_staff(principal)
    if site_id is not None:
        stmt = stmt.where(StaffMember.site_id == site_id)
    if certificate is not None:
        stmt = stmt.where(StaffMember.certificate == certificate)
    if active is not None:
        stmt = stmt.where(_active_on(today) if active else not_(_active_on(today)))
    rows, cursor = await keyset_page(session, stmt, [StaffMember.created_at, StaffMember.id], page)
    hours = await training_hours_by_staff(session, [s.id for s in rows], year)
    return [_read(s, hours.get(s.id, ZERO), year, today) for s in rows], cursor


async def get_staff(
    session: AsyncSession, principal: Principal, staff_id: uuid.UUID, *, for_update: bool = False
) -> StaffMember:
    stmt = _scoped_staff(principal).where(StaffMember.id == staff_id)
    if for_update:
        stmt = stmt.with_for_update(of=StaffMember)
    staff = await session.scalar(stmt)
    if staff is None:
        raise StaffNotFound()
    return staff


async def _site_for_staff(session: AsyncSession, principal: Principal, site_id: uuid.UUID) -> None:
    """The site must be one the caller may manage; otherwise 422 naming ``site_id`` (the same answer
    for a missing site and for one the caller does not operate, so nothing leaks)."""
    try:
        await get_visible_site(session, principal, site_id)
    except NotFound as exc:
        raise ValidationFailed(
            "site_id", "no site with this id that you may manage", message_zh="站点不存在或无权管理"
        ) from exc


def _check_period(active_from: dt.date, active_until: dt.date | None, field: str) -> None:
    if active_until is not None and active_until < active_from:
        raise ValidationFailed(
            field, "active_until must be on or after active_from", message_zh="离岗日期不能早于到岗日期"
        )


def _snapshot(staff: StaffMember) -> dict[str, Any]:
    return {
        "site_id": staff.site_id,
        "name": staff.name,
        "position": staff.position,
        "full_time": staff.full_time,
        "certificate": staff.certificate,
        "certificate_no": staff.certificate_no,
        "active_from": staff.active_from,
        "active_until": staff.active_until,
        "version": staff.version,
    }


async def create_staff(
    session: AsyncSession, request: Request, principal: Principal, body: StaffCreate
) -> StaffRead:
    _check_period(body.active_from, body.active_until, "active_until")
    await _site_for_staff(session, principal, body.site_id)
    staff = StaffMember(id=uuid.uuid4(), **body.model_dump())
    session.add(staff)
    await session.flush()
    await audit(session, request, principal, "staff.create", "staff", staff.id, after=_snapshot(staff))
    return await read_staff(session, staff)


async def update_staff(
    session: AsyncSession, request: Request, principal: Principal, staff_id: uuid.UUID, body: StaffUpdate
) -> StaffRead:
    staff = await get_staff(session, principal, staff_id, for_update=True)
    require_if_match(request, staff.id, staff.version)
    changes = body.model_dump(exclude_unset=True)
    _check_period(
        changes.get("active_from", staff.active_from),
        changes.get("active_until", staff.active_until),
        "active_until" if "active_until" in changes else "active_from",
    )
    if "site_id" in changes and changes["site_id"] != staff.site_id:
        await _site_for_staff(session, principal, changes["site_id"])
    changed = {k: v for k, v in changes.items() if getattr(staff, k) != v}
    if changed:
        before = _snapshot(staff)
        for field, value in changed.items():
            setattr(staff, field, value)
        staff.version += 1
        staff.updated_at = utc_now()
        await session.flush()
        await audit(
            session,
            request,
            principal,
            "staff.update",
            "staff",
            staff.id,
            before=before,
            after=_snapshot(staff),
        )
    return await read_staff(session, staff)


async def list_trainings(
    session: AsyncSession, principal: Principal, staff_id: uuid.UUID, page: PageParams, year: int | None
) -> tuple[list[StaffTraining], str | None]:
    staff = await get_staff(session, principal, staff_id)
    stmt = select(StaffTraining).where(StaffTraining.staff_id == staff.id)
    if year is not None:
        stmt = stmt.where(
            StaffTraining.date >= dt.date(year, 1, 1), StaffTraining.date < dt.date(year + 1, 1, 1)
        )
    return await keyset_page(session, stmt, [StaffTraining.date, StaffTraining.id], page)


async def add_training(
    session: AsyncSession, request: Request, principal: Principal, staff_id: uuid.UUID, body: TrainingCreate
) -> StaffTraining:
    staff = await get_staff(session, principal, staff_id)
    if body.date > today_shanghai():
        raise ValidationFailed("date", "may not be in the future", message_zh="培训日期不能晚于今天")
    training = StaffTraining(id=uuid.uuid4(), staff_id=staff.id, **body.model_dump())
    session.add(training)
    await session.flush()
    await audit(
        session,
        request,
        principal,
        "staff.training",
        "staff_training",
        training.id,
        after=TrainingRead.model_validate(training).model_dump(mode="json"),
    )
    return training
