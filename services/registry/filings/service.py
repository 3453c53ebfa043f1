"""Construction filings (6.2.2): who sees and files what, the filing window, the life cycle
(see :mod:`services.registry.filings.state`), the conflict report and the published build lists.

Scope of a filing (out of scope = not found):

* ``district``, ``integration`` (and service tokens): every filing;
* ``street``: the filings of its street;
* ``operator``: the filings its organisation made as a unit (``filer_organization_id``).

Editing and submitting belong to the filer — the filing's street (unless an organisation filed
it) or the organisation that filed it — and to the district.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from fastapi import Request
from sqlalchemy import ColumnElement, Select, false, func, select, text, true
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import one_in_scope
from services.common.enums import FilingKind, FilingState, SiteStatus
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.common.etag import require_if_match
from services.common.pagination import PageParams, keyset_page
from services.common.timeutil import today_shanghai, utc_now
from services.registry.audit import audit
from services.registry.filings.models import BuildList, Filing, FilingTransition, FilingWindow
from services.registry.filings.schemas import (
    BuildListItem,
    ConflictGroup,
    FilingCreate,
    FilingRead,
    FilingTransitionRead,
    FilingUpdate,
    FilingWindowRead,
    FilingWindowSet,
)
from services.registry.filings.state import (
    ACTION_INTO,
    EDITABLE_STATES,
    LIVE_STATES,
    TAKEN_BY,
    FilingAction,
    Taker,
    allowed_actions,
    next_state,
)
from services.registry.organizations.models import Organization
from services.registry.reference.models import Community, Street
from services.registry.sites.models import Site

UNRESTRICTED_ROLES = frozenset({"district", "integration", "service"})
# Fields only the district may set on a filing.
DISTRICT_ONLY_FIELDS = frozenset({"late_allowed", "filer_organization_id"})
HUB_FACILITY_TYPE = "hub"


# ---- errors ---------------------------------------------------------------------------------------


class FilingNotFound(NotFound):
    code = "filing_not_found"

    def __init__(self) -> None:
        super().__init__("No construction filing with this id.", detail_zh="建设报备不存在。")


class FieldNotWritable(Forbidden):
    code = "field_not_writable"


class InvalidTransition(Conflict):
    code = "invalid_transition"

    def __init__(self, state: str, action: FilingAction) -> None:
        allowed = [a.value for a in allowed_actions(state)]
        super().__init__(
            f"A filing in state '{state}' cannot be {_PAST[action]}.",
            detail_zh=f"处于“{state}”状态的报备不能执行“{action.value}”操作。",
            state=state,
            allowed_actions=allowed,
        )


_PAST = {
    FilingAction.SUBMIT: "submitted",
    FilingAction.RETURN: "returned",
    FilingAction.APPROVE: "approved",
    FilingAction.REJECT: "rejected",
}


class FilingNotEditable(Conflict):
    code = "filing_not_editable"

    def __init__(self, state: str) -> None:
        super().__init__(
            f"A filing can be changed only in draft or returned; this one is {state}.",
            detail_zh=f"报备仅在草稿或退回状态下可修改,当前状态为“{state}”。",
            state=state,
        )


class FilingWindowClosed(Conflict):
    code = "filing_window_closed"

    def __init__(self, window: FilingWindowRead, today: dt.date) -> None:
        super().__init__(
            f"Filings for {window.year} may be submitted from {window.opens_on} to {window.closes_on}; "
            f"today is {today}. Ask the district office to allow a late filing.",
            detail_zh=f"{window.year} 年度报备时间为 {window.opens_on} 至 {window.closes_on},今天是 {today}。"
            "如需逾期报备,请联系区现代社区建设领导小组办公室。",
            opens_on=window.opens_on.isoformat(),
            closes_on=window.closes_on.isoformat(),
        )


class NothingToPublish(Conflict):
    code = "nothing_to_publish"

    def __init__(self, year: int) -> None:
        super().__init__(
            f"There are no approved filings for {year} to publish.",
            detail_zh=f"{year} 年度没有已通过的建设报备,无法公布建设名单。",
        )


class BuildListNotFound(NotFound):
    code = "build_list_not_found"

    def __init__(self, year: int, version: int | None = None) -> None:
        if version is None:
            super().__init__(
                f"No build list has been published for {year}.",
                detail_zh=f"{year} 年度尚未公布建设名单。",
            )
        else:
            super().__init__(
                f"Build list {year} has no version {version}.",
                detail_zh=f"{year} 年度建设名单没有第 {version} 版。",
            )


def field_not_writable(fields: Iterable[str], role: str) -> FieldNotWritable:
    names = sorted(fields)
    listed = ", ".join(names)
    return FieldNotWritable(
        f"Role '{role}' may not set: {listed}. Nothing was changed.",
        detail_zh=f"角色“{role}”无权设置以下字段:{listed}。未做任何修改。",
        errors=[{"field": name, "message": "not writable for your role"} for name in names],
    )


def _not_the_filer(action: str) -> Forbidden:
    return Forbidden(
        f"Only the filer of this filing or the district may {action} it.",
        detail_zh="只有报备单位或区现代社区建设领导小组办公室可以执行此操作。",
    )


# ---- filing windows -------------------------------------------------------------------------------


def default_window(year: int) -> tuple[dt.date, dt.date]:
    """6.2.2 "每年年初": 1 January – 31 March unless the district sets another window."""
    return dt.date(year, 1, 1), dt.date(year, 3, 31)


async def get_window(session: AsyncSession, year: int) -> FilingWindowRead:
    today = today_shanghai()
    row = await session.get(FilingWindow, year)
    if row is None:
        opens_on, closes_on = default_window(year)
        return FilingWindowRead(
            year=year,
            opens_on=opens_on,
            closes_on=closes_on,
            default=True,
            open_today=opens_on <= today <= closes_on,
        )
    return FilingWindowRead(
        year=year,
        opens_on=row.opens_on,
        closes_on=row.closes_on,
        default=False,
        open_today=row.opens_on <= today <= row.closes_on,
        updated_at=row.updated_at,
    )


async def set_window(
    session: AsyncSession, request: Request, principal: Principal, year: int, body: FilingWindowSet
) -> FilingWindowRead:
    for field in ("opens_on", "closes_on"):
        if getattr(body, field).year != year:
            raise ValidationFailed(field, f"must be a date in {year}", message_zh=f"必须是 {year} 年内的日期")
    row = await session.get(FilingWindow, year, with_for_update=True)
    before = (await get_window(session, year)).model_dump(mode="json") if row is not None else None
    now = utc_now()
    if row is None:
        row = FilingWindow(year=year, opens_on=body.opens_on, closes_on=body.closes_on, updated_at=now)
        session.add(row)
    else:
        row.opens_on, row.closes_on, row.updated_at = body.opens_on, body.closes_on, now
    await session.flush()
    window = await get_window(session, year)
    await audit(
        session,
        request,
        principal,
        "filing_window.set",
        "filing_window",
        year,
        before=before,
        after=window.model_dump(mode="json"),
    )
    return window


# ---- scope ----------------------------------------------------------------------------------------


def visible_filings(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on :class:`Filing` selecting the filings ``principal`` may see."""
    if principal.role in UNRESTRICTED_ROLES:
        return true()
    if principal.role == "street":
        return Filing.street_id == principal.street_id if principal.street_id else false()
    if principal.role == "operator":
        if principal.organization_id is None:
            return false()
        return Filing.filer_organization_id == principal.organization_id
    return false()


def is_filer(principal: Principal, filing: Filing) -> bool:
    """The filer acts for the filing: its street (unless an organisation filed it as a unit) or
    the organisation that filed it. The district may act for anyone."""
    if principal.role == "district":
        return True
    if principal.role == "street":
        return filing.street_id == principal.street_id and filing.filer_organization_id is None
    if principal.role == "operator":
        return (
            principal.organization_id is not None
            and filing.filer_organization_id == principal.organization_id
        )
    return False


def snapshot(filing: Filing) -> dict[str, Any]:
    return FilingRead.model_validate(filing).model_dump(mode="json")


# ---- reads ----------------------------------------------------------------------------------------


async def list_filings(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    year: int | None = None,
    kind: FilingKind | None = None,
    state: FilingState | None = None,
    street_id: uuid.UUID | None = None,
    community_id: uuid.UUID | None = None,
) -> tuple[list[Filing], str | None]:
    stmt: Select[Any] = select(Filing).where(visible_filings(principal))
    if year is not None:
        stmt = stmt.where(Filing.year == year)
    if kind is not None:
        stmt = stmt.where(Filing.kind == kind)
    if state is not None:
        stmt = stmt.where(Filing.state == state)
    if street_id is not None:
        stmt = stmt.where(Filing.street_id == street_id)
    if community_id is not None:
        stmt = stmt.where(Filing.community_id == community_id)
    return await keyset_page(session, stmt, [Filing.created_at, Filing.id], page)


async def get_filing(
    session: AsyncSession, principal: Principal, filing_id: uuid.UUID, *, for_update: bool = False
) -> Filing:
    return await one_in_scope(
        session, Filing, filing_id, visible_filings(principal), FilingNotFound(), for_update=for_update
    )


async def list_history(
    session: AsyncSession, principal: Principal, filing_id: uuid.UUID, page: PageParams
) -> tuple[list[FilingTransitionRead], str | None]:
    await get_filing(session, principal, filing_id)
    stmt = select(FilingTransition).where(FilingTransition.filing_id == filing_id)
    rows, cursor = await keyset_page(session, stmt, [FilingTransition.occurred_at, FilingTransition.id], page)
    return [
        FilingTransitionRead(
            id=row.id,
            filing_id=row.filing_id,
            action=ACTION_INTO[FilingState(row.to_state)],
            from_state=row.from_state,
            to_state=row.to_state,
            actor=row.actor,
            actor_role=row.actor_role,
            comment=row.comment,
            occurred_at=row.occurred_at,
        )
        for row in rows
    ], cursor


async def conflicts(session: AsyncSession, principal: Principal, year: int) -> list[ConflictGroup]:
    """Live filings (submitted, returned, approved) sharing a community and facility type in
    ``year`` — for the district's coordination (统筹安排)."""
    ids = func.array_agg(aggregate_order_by(Filing.id, Filing.created_at, Filing.id))
    stmt = (
        select(
            Filing.street_id,
            Filing.community_id,
            Filing.facility_type,
            ids.label("filing_ids"),
            func.count().label("count"),
        )
        .where(
            visible_filings(principal),
            Filing.year == year,
            Filing.state.in_([s.value for s in LIVE_STATES]),
        )
        .group_by(Filing.street_id, Filing.community_id, Filing.facility_type)
        .having(func.count() > 1)
        .order_by(Filing.street_id, Filing.community_id, Filing.facility_type)
    )
    rows = (await session.execute(stmt)).all()
    return [
        ConflictGroup(
            street_id=row.street_id,
            community_id=row.community_id,
            facility_type=row.facility_type,
            filing_ids=list(row.filing_ids),
            count=row.count,
        )
        for row in rows
    ]


# ---- writes ---------------------------------------------------------------------------------------


async def _check_community(session: AsyncSession, street_id: uuid.UUID, community_id: uuid.UUID) -> None:
    community = await session.get(Community, community_id)
    if community is None or community.street_id != street_id:
        raise ValidationFailed(
            "community_id",
            "is not a community of the filing's street",
            message_zh="该社区不属于报备所在街道",
        )


def _record_transition(
    session: AsyncSession,
    filing: Filing,
    principal: Principal,
    from_state: str | None,
    to_state: str,
    comment: str | None,
    at: dt.datetime,
) -> None:
    session.add(
        FilingTransition(
            id=uuid.uuid4(),
            filing_id=filing.id,
            from_state=from_state,
            to_state=to_state,
            actor=principal.sub,
            actor_role=principal.role,
            comment=comment,
            occurred_at=at,
        )
    )


async def create_filing(
    session: AsyncSession, request: Request, principal: Principal, body: FilingCreate
) -> Filing:
    sent = body.model_dump(exclude_unset=True)
    if principal.role != "district":
        refused = {f for f in DISTRICT_ONLY_FIELDS if sent.get(f) is not None}
        if refused:
            raise field_not_writable(refused, principal.role)
    filer_organization_id = body.filer_organization_id
    if principal.role == "operator":
        # An operator files as a unit (6.2.2 "各单位"): facility filings only, always its own.
        if body.kind != FilingKind.FACILITY or principal.organization_id is None:
            raise Forbidden(
                "An operator may file only facility filings (单位设施报备) for its organisation.",
                detail_zh="运营方只能以本单位名义提交单位设施报备。",
            )
        filer_organization_id = principal.organization_id
    elif principal.role == "street" and body.street_id != principal.street_id:
        raise ValidationFailed(
            "street_id", "a street files only for its own street", message_zh="街道只能为本街道报备"
        )
    if await session.get(Street, body.street_id) is None:
        raise ValidationFailed("street_id", "no street with this id", message_zh="街道不存在")
    await _check_community(session, body.street_id, body.community_id)
    if filer_organization_id is not None and await session.get(Organization, filer_organization_id) is None:
        raise ValidationFailed(
            "filer_organization_id", "no organization with this id", message_zh="社会组织不存在"
        )
    facility_type = body.facility_type
    if facility_type is None:
        if body.kind != FilingKind.HUB_PLAN:
            raise ValidationFailed(
                "facility_type", "required for a facility filing", message_zh="单位设施报备必须填写设施类型"
            )
        facility_type = HUB_FACILITY_TYPE

    now = utc_now()
    filing = Filing(
        id=uuid.uuid4(),
        year=body.year,
        kind=body.kind.value,
        state=FilingState.DRAFT.value,
        filer_name=body.filer_name,
        filer_organization_id=filer_organization_id,
        street_id=body.street_id,
        community_id=body.community_id,
        facility_type=facility_type,
        title=body.title,
        planned_area_m2=body.planned_area_m2,
        budget=body.budget,
        funding_source=body.funding_source,
        planned_start=body.planned_start,
        planned_finish=body.planned_finish,
        description=body.description,
        late_allowed=bool(body.late_allowed),
        site_id=None,
        created_by=principal.sub,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(filing)
    await session.flush()
    _record_transition(session, filing, principal, None, FilingState.DRAFT.value, None, now)
    await session.flush()
    await audit(session, request, principal, "filing.create", "filing", filing.id, after=snapshot(filing))
    return filing


async def update_filing(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    filing_id: uuid.UUID,
    body: FilingUpdate,
) -> Filing:
    filing = await get_filing(session, principal, filing_id, for_update=True)
    if not is_filer(principal, filing):
        raise _not_the_filer("change")
    changes = body.model_dump(exclude_unset=True)
    if principal.role != "district":
        refused = DISTRICT_ONLY_FIELDS & changes.keys()
        if refused:
            raise field_not_writable(refused, principal.role)
    require_if_match(request, filing.id, filing.version)
    if filing.state not in EDITABLE_STATES:
        raise FilingNotEditable(filing.state)
    start = changes.get("planned_start", filing.planned_start)
    finish = changes.get("planned_finish", filing.planned_finish)
    if start is not None and finish is not None and finish < start:
        raise ValidationFailed(
            "planned_finish",
            "must be on or after planned_start",
            message_zh="计划完工日期不得早于计划开工日期",
        )
    if "community_id" in changes and changes["community_id"] != filing.community_id:
        await _check_community(session, filing.street_id, changes["community_id"])
    changed = {k: v for k, v in changes.items() if getattr(filing, k) != v}
    if not changed:
        return filing
    before = snapshot(filing)
    for field, value in changed.items():
        setattr(filing, field, value)
    filing.version += 1
    filing.updated_at = utc_now()
    await session.flush()
    await audit(
        session,
        request,
        principal,
        "filing.update",
        "filing",
        filing.id,
        before=before,
        after=snapshot(filing),
    )
    return filing


async def transition_filing(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    filing_id: uuid.UUID,
    action: FilingAction,
    comment: str | None,
) -> Filing:
    """Move a filing along :data:`~services.registry.filings.state.TRANSITIONS`."""
    filing = await get_filing(session, principal, filing_id, for_update=True)
    if TAKEN_BY[action] is Taker.DISTRICT and principal.role != "district":
        raise _not_the_filer(action.value)  # the router already refuses; kept for direct callers
    if TAKEN_BY[action] is Taker.FILER and not is_filer(principal, filing):
        raise _not_the_filer(action.value)
    target = next_state(filing.state, action)
    if target is None:
        raise InvalidTransition(filing.state, action)
    if action is FilingAction.SUBMIT and not filing.late_allowed:
        window = await get_window(session, filing.year)
        today = today_shanghai()
        if not window.opens_on <= today <= window.closes_on:
            raise FilingWindowClosed(window, today)

    before = snapshot(filing)
    now = utc_now()
    from_state = filing.state
    if action is FilingAction.APPROVE and filing.kind == FilingKind.HUB_PLAN:
        # The site first (creating it flushes): an approved hub plan is never written without its
        # site (ck_filings_site_id_when_approved).
        site = await _create_planned_site(session, request, principal, filing)
        filing.site_id = site.id
    filing.state = target.value
    filing.version += 1
    filing.updated_at = now
    _record_transition(session, filing, principal, from_state, target.value, comment, now)
    await session.flush()
    await audit(
        session,
        request,
        principal,
        f"filing.{action.value}",
        "filing",
        filing.id,
        before=before,
        after=snapshot(filing),
        note=comment,
    )
    return filing


async def _create_planned_site(
    session: AsyncSession, request: Request, principal: Principal, filing: Filing
) -> Site:
    """An approved hub construction plan becomes a `planned` site in its community (6.2.2)."""
    while True:
        code = f"HP-{filing.year}-{secrets.token_hex(3).upper()}"
        if await session.scalar(select(Site.id).where(Site.code == code)) is None:
            break
    now = utc_now()
    site = Site(
        id=uuid.uuid4(),
        code=code,
        name=filing.title[:100],
        street_id=filing.street_id,
        community_id=filing.community_id,
        floor_area_m2=filing.planned_area_m2 if filing.planned_area_m2 else None,
        status=SiteStatus.PLANNED.value,
        integrated_with=[],
        opening_hours={},
        signage={},
        function_areas=[],
        safety=[],
        filing_id=filing.id,
        notes="",
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(site)
    await session.flush()
    await audit(
        session,
        request,
        principal,
        "site.create",
        "site",
        site.id,
        after={
            "id": str(site.id),
            "code": site.code,
            "name": site.name,
            "street_id": str(site.street_id),
            "community_id": str(site.community_id),
            "status": site.status,
            "filing_id": str(filing.id),
        },
        note="planned site created by approving a hub_plan filing",
    )
    return site


# ---- build lists ----------------------------------------------------------------------------------


async def publish_build_list(
    session: AsyncSession, request: Request, principal: Principal, year: int
) -> BuildList:
    """Freeze the year's approved filings as the next version of its build list."""
    # Serialise publishers of one year so two never take the same version number.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"build_list:{year}"}
    )
    approved_at = (
        select(func.max(FilingTransition.occurred_at))
        .where(
            FilingTransition.filing_id == Filing.id,
            FilingTransition.to_state == FilingState.APPROVED.value,
        )
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(Filing, approved_at.label("approved_at"))
            .where(Filing.year == year, Filing.state == FilingState.APPROVED.value)
            .order_by(Filing.created_at, Filing.id)
        )
    ).all()
    if not rows:
        raise NothingToPublish(year)
    items = [
        BuildListItem(
            filing_id=filing.id,
            kind=FilingKind(filing.kind),
            title=filing.title,
            filer_name=filing.filer_name,
            filer_organization_id=filing.filer_organization_id,
            street_id=filing.street_id,
            community_id=filing.community_id,
            facility_type=filing.facility_type,
            planned_area_m2=filing.planned_area_m2,
            budget=filing.budget,
            funding_source=filing.funding_source,
            planned_start=filing.planned_start,
            planned_finish=filing.planned_finish,
            description=filing.description,
            site_id=filing.site_id,
            approved_at=when,
        ).model_dump(mode="json")
        for filing, when in rows
    ]
    latest = await session.scalar(select(func.max(BuildList.version)).where(BuildList.year == year))
    build_list = BuildList(
        year=year,
        version=(latest or 0) + 1,
        published_at=utc_now(),
        published_by=principal.sub,
        items=items,
    )
    session.add(build_list)
    await session.flush()
    await audit(
        session,
        request,
        principal,
        "build_list.publish",
        "build_list",
        f"{year}/v{build_list.version}",
        after={
            "year": year,
            "version": build_list.version,
            "filing_ids": [item["filing_id"] for item in items],
            "total_budget": str(sum((Decimal(i["budget"]) for i in items if i["budget"]), Decimal(0))),
        },
    )
    return build_list


async def get_build_list(session: AsyncSession, year: int, version: int | None = None) -> BuildList:
    stmt = select(BuildList).where(BuildList.year == year)
    if version is None:
        stmt = stmt.order_by(BuildList.version.desc()).limit(1)
    else:
        stmt = stmt.where(BuildList.version == version)
    build_list = await session.scalar(stmt)
    if build_list is None:
        raise BuildListNotFound(year, version)
    return build_list
