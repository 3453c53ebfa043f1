"""The business rules of sites: who may write which field, where a site may live, and the
embedded documents (opening hours, signage, function areas, safety checklist).

Every query goes through :func:`services.registry.scope.visible_sites`; an out-of-scope site is
reported exactly like a missing one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from fastapi import Request
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.common.etag import require_if_match
from services.common.pagination import PageParams, keyset_page
from services.common.timeutil import today_shanghai
from services.registry.audit import audit
from services.registry.database import utcnow
from services.registry.organizations.models import Organization
from services.registry.reference.models import Community, Street
from services.registry.scope import get_visible_site, visible_sites
from services.registry.sites.models import Site, SiteOrganization
from services.registry.sites.schemas import (
    OpeningHours,
    OrganizationBrief,
    SafetyCheck,
    SiteCreate,
    SiteFilters,
    SiteOrganizationCreate,
    SiteOrganizationRead,
    SiteRead,
    SiteUpdate,
)

# What an operator may change on the sites it operates (issue 3 "Who may do what").
OPERATOR_WRITABLE = frozenset({"opening_hours", "function_areas", "safety"})
# Written only by the evaluation service (POST /internal/sites/{id}/tier).
NEVER_WRITABLE = frozenset({"tier"})


class FieldNotWritable(Forbidden):
    code = "field_not_writable"


class SiteCodeTaken(Conflict):
    code = "site_code_taken"


class SiteLinkNotFound(NotFound):
    code = "site_link_not_found"


class SiteLinkOverlaps(Conflict):
    code = "site_link_overlaps"


def field_not_writable(fields: Iterable[str], role: str) -> FieldNotWritable:
    names = sorted(fields)
    listed = ", ".join(names)
    return FieldNotWritable(
        f"Role '{role}' may not change: {listed}. Nothing was changed.",
        detail_zh=f"角色“{role}”无权修改以下字段:{listed}。未做任何修改。",
        errors=[{"field": name, "message": "not writable for your role"} for name in names],
    )


def snapshot(site: Site) -> dict[str, Any]:
    return SiteRead.from_site(site).model_dump(mode="json")


# ---- reads -----------------------------------------------------------------------------------------


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def site_filter_clauses(principal: Principal, filters: SiteFilters) -> list[ColumnElement[bool]]:
    """Sites the caller may see, narrowed by the list filters (a filter outside the caller's scope,
    e.g. another street's `street_id`, simply matches nothing)."""
    clauses = [visible_sites(principal)]
    if filters.street_id is not None:
        clauses.append(Site.street_id == filters.street_id)
    if filters.community_id is not None:
        clauses.append(Site.community_id == filters.community_id)
    if filters.status is not None:
        clauses.append(Site.status == filters.status.value)
    if filters.tier is not None:
        clauses.append(Site.tier == filters.tier.value)
    if filters.operating_mode is not None:
        clauses.append(Site.operating_mode == filters.operating_mode.value)
    if filters.q:
        pattern = _like_pattern(filters.q)
        clauses.append(
            or_(
                Site.name.ilike(pattern, escape="\\"),
                Site.code.ilike(pattern, escape="\\"),
                Site.address.ilike(pattern, escape="\\"),
            )
        )
    return clauses


def filtered_sites(principal: Principal, filters: SiteFilters) -> Select[Any]:
    return select(Site).where(*site_filter_clauses(principal, filters))


async def export_rows(
    session: AsyncSession, principal: Principal, filters: SiteFilters
) -> list[tuple[Site, str, str]]:
    """Every matching site with its street and community names, ordered by code."""
    sites = filtered_sites(principal, filters).subquery()
    stmt = (
        select(Site, Street.name, Community.name)
        .join(sites, sites.c.id == Site.id)
        .join(Street, Street.id == Site.street_id)
        .join(Community, Community.id == Site.community_id)
        .order_by(Site.code, Site.id)
    )
    return [(site, street, community) for site, street, community in (await session.execute(stmt)).all()]


async def get_site(session: AsyncSession, principal: Principal, site_id: uuid.UUID) -> Site:
    return await get_visible_site(session, principal, site_id)


# ---- validation shared by create and update ---------------------------------------------------------


async def _check_location(
    session: AsyncSession, principal: Principal, street_id: uuid.UUID, community_id: uuid.UUID
) -> None:
    if principal.role == "street" and street_id != principal.street_id:
        raise ValidationFailed(
            "street_id",
            "not your street: a street may only keep sites in its own street",
            message_zh="只能在本街道范围内登记站点",
        )
    if await session.get(Street, street_id) is None:
        raise ValidationFailed("street_id", "no street with this id", message_zh="街道不存在")
    community = await session.get(Community, community_id)
    if community is None:
        raise ValidationFailed("community_id", "no community with this id", message_zh="社区不存在")
    if community.street_id != street_id:
        raise ValidationFailed(
            "community_id",
            "the community does not belong to street_id",
            message_zh="该社区不属于所选街道",
        )


def _check_coordinates(lat: Decimal | None, lng: Decimal | None) -> None:
    if lat is not None and lng is None:
        raise ValidationFailed("lng", "give lat and lng together", message_zh="经纬度须同时填写")
    if lng is not None and lat is None:
        raise ValidationFailed("lat", "give lat and lng together", message_zh="经纬度须同时填写")


def safety_documents(checks: Sequence[SafetyCheck], field: str) -> list[dict[str, Any]]:
    """The JSONB form of a safety checklist; each item at most once, no check in the future."""
    seen: set[str] = set()
    today = today_shanghai()
    for n, check in enumerate(checks):
        if check.item.value in seen:
            raise ValidationFailed(f"{field}.{n}.item", "this item is listed twice", message_zh="检查项重复")
        seen.add(check.item.value)
        if check.checked_on is not None and check.checked_on > today:
            raise ValidationFailed(
                f"{field}.{n}.checked_on", "may not be in the future", message_zh="检查日期不能晚于今天"
            )
    return [check.model_dump(mode="json") for check in checks]


def _unique(values: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values))


async def _check_code_free(session: AsyncSession, code: str, site_id: uuid.UUID | None = None) -> None:
    stmt = select(Site.id).where(Site.code == code)
    if site_id is not None:
        stmt = stmt.where(Site.id != site_id)
    if await session.scalar(stmt) is not None:
        raise _code_taken(code)


def _code_taken(code: str) -> SiteCodeTaken:
    return SiteCodeTaken(f"Another site already has code '{code}'.", detail_zh=f"站点编码“{code}”已被占用。")


async def _flush(session: AsyncSession, code: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent request took the code after our check
        raise _code_taken(code) from exc


# ---- writes ----------------------------------------------------------------------------------------


async def create_site(
    session: AsyncSession, request: Request, principal: Principal, body: SiteCreate
) -> Site:
    if "tier" in body.model_fields_set:
        raise field_not_writable(["tier"], principal.role)
    await _check_location(session, principal, body.street_id, body.community_id)
    _check_coordinates(body.lat, body.lng)
    safety = safety_documents(body.safety, "safety")
    await _check_code_free(session, body.code)
    now = utcnow()
    site = Site(
        id=uuid.uuid4(),
        code=body.code,
        name=body.name,
        street_id=body.street_id,
        community_id=body.community_id,
        address=body.address,
        lat=body.lat,
        lng=body.lng,
        floor_area_m2=body.floor_area_m2,
        status=body.status.value,
        operating_mode=body.operating_mode.value if body.operating_mode else None,
        integrated_with=_unique(body.integrated_with),
        structure=body.structure.value if body.structure else None,
        opening_hours=(body.opening_hours or OpeningHours()).to_document(),
        signage=body.signage.model_dump(mode="json"),
        function_areas=[area.model_dump(mode="json") for area in body.function_areas],
        safety=safety,
        notes=body.notes,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(site)
    await _flush(session, site.code)
    await audit(session, request, principal, "site.create", "site", site.id, after=snapshot(site))
    return site


def _column_value(field: str, value: Any) -> Any:
    """An input value in the form the column stores."""
    if field == "opening_hours":
        return (value or OpeningHours()).to_document()
    if field == "signage":
        return value.model_dump(mode="json")
    if field == "function_areas":
        return [area.model_dump(mode="json") for area in value]
    if field == "safety":
        return safety_documents(value, "safety")
    if field == "integrated_with":
        return _unique(value)
    if hasattr(value, "value"):  # enums
        return value.value
    return value


async def update_site(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    site_id: uuid.UUID,
    body: SiteUpdate,
) -> Site:
    """PATCH: scope (404), then field rights (403), then If-Match (428/412), then the rules (422).
    A refused request changes nothing."""
    site = await get_visible_site(session, principal, site_id, for_update=True)
    fields = set(body.model_fields_set)
    refused = fields & NEVER_WRITABLE
    if principal.role == "operator":
        refused |= fields - OPERATOR_WRITABLE
    if refused:
        raise field_not_writable(refused, principal.role)
    require_if_match(request, site.id, site.version)

    new = {field: _column_value(field, getattr(body, field)) for field in fields}
    if "street_id" in new or "community_id" in new:
        await _check_location(
            session,
            principal,
            new.get("street_id", site.street_id),
            new.get("community_id", site.community_id),
        )
    if "lat" in new or "lng" in new:
        _check_coordinates(new.get("lat", site.lat), new.get("lng", site.lng))
    if "code" in new and new["code"] != site.code:
        await _check_code_free(session, new["code"], site.id)

    changed = {field: value for field, value in new.items() if getattr(site, field) != value}
    if not changed:
        return site
    before_full = snapshot(site)
    for field, value in changed.items():
        setattr(site, field, value)
    await _touch(session, site)
    after_full = snapshot(site)
    shown = _shown_fields(changed)
    await audit(
        session,
        request,
        principal,
        "site.update",
        "site",
        site.id,
        before={k: before_full[k] for k in shown},
        after={k: after_full[k] for k in shown},
    )
    return site


def _shown_fields(changed: Iterable[str]) -> list[str]:
    shown = list(changed)
    if "opening_hours" in shown:
        shown += ["hours_per_day", "days_per_week"]
    return shown


async def _touch(session: AsyncSession, site: Site) -> None:
    site.version += 1
    site.updated_at = utcnow()
    await _flush(session, site.code)


async def replace_document(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    site_id: uuid.UUID,
    field: str,
    documents: list[dict[str, Any]],
) -> Site:
    """PUT of a whole embedded list (`function_areas` or `safety`); bumps the site's version."""
    site = await get_visible_site(session, principal, site_id, for_update=True)
    require_if_match(request, site.id, site.version)
    before = getattr(site, field)
    if before != documents:
        setattr(site, field, documents)
        await _touch(session, site)
        await audit(
            session,
            request,
            principal,
            f"site.{field}",
            "site",
            site.id,
            before={field: before},
            after={field: documents},
        )
    return site


# ---- organisations linked to a site -----------------------------------------------------------------


def _link_read(link: SiteOrganization, organization: Organization, today: dt.date) -> SiteOrganizationRead:
    return SiteOrganizationRead(
        id=link.id,
        site_id=link.site_id,
        organization_id=link.organization_id,
        relation=link.relation,  # type: ignore[arg-type]
        since=link.since,
        until=link.until,
        active=link.since <= today and (link.until is None or link.until >= today),
        organization=OrganizationBrief.model_validate(organization),
        created_at=link.created_at,
    )


async def list_links(
    session: AsyncSession,
    principal: Principal,
    site_id: uuid.UUID,
    page: PageParams,
    relation: str | None,
) -> tuple[list[SiteOrganizationRead], str | None]:
    await get_visible_site(session, principal, site_id)
    stmt = select(SiteOrganization).where(SiteOrganization.site_id == site_id)
    if relation is not None:
        stmt = stmt.where(SiteOrganization.relation == relation)
    links, cursor = await keyset_page(session, stmt, [SiteOrganization.created_at, SiteOrganization.id], page)
    orgs = {}
    if links:
        rows = await session.scalars(
            select(Organization).where(Organization.id.in_({link.organization_id for link in links}))
        )
        orgs = {org.id: org for org in rows}
    today = today_shanghai()
    return [_link_read(link, orgs[link.organization_id], today) for link in links], cursor


async def link_organization(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    site_id: uuid.UUID,
    body: SiteOrganizationCreate,
) -> SiteOrganizationRead:
    site = await get_visible_site(session, principal, site_id, for_update=True)
    organization = await session.get(Organization, body.organization_id)
    if organization is None:
        raise ValidationFailed("organization_id", "no organization with this id", message_zh="社会组织不存在")
    far_future = dt.date.max
    overlapping = await session.scalar(
        select(SiteOrganization.id).where(
            SiteOrganization.site_id == site.id,
            SiteOrganization.organization_id == body.organization_id,
            SiteOrganization.relation == body.relation.value,
            SiteOrganization.since <= (body.until or far_future),
            or_(SiteOrganization.until.is_(None), SiteOrganization.until >= body.since),
        )
    )
    if overlapping is not None:
        raise SiteLinkOverlaps(
            "This organisation already has this relation to the site for an overlapping period.",
            detail_zh="该组织在重叠的时间段内已与本站点建立相同关系。",
            link_id=str(overlapping),
        )
    link = SiteOrganization(
        id=uuid.uuid4(),
        site_id=site.id,
        organization_id=organization.id,
        relation=body.relation.value,
        since=body.since,
        until=body.until,
        created_at=utcnow(),
    )
    session.add(link)
    await session.flush()
    read = _link_read(link, organization, today_shanghai())
    await audit(session, request, principal, "site.link", "site", site.id, after=read.model_dump(mode="json"))
    return read


async def unlink_organization(
    session: AsyncSession, request: Request, principal: Principal, site_id: uuid.UUID, link_id: uuid.UUID
) -> None:
    site = await get_visible_site(session, principal, site_id, for_update=True)
    link = await session.scalar(
        select(SiteOrganization).where(
            and_(SiteOrganization.id == link_id, SiteOrganization.site_id == site.id)
        )
    )
    if link is None:
        raise SiteLinkNotFound("No link with this id at this site.", detail_zh="该站点不存在此关联记录。")
    organization = await session.get(Organization, link.organization_id)
    before = (
        _link_read(link, organization, today_shanghai()).model_dump(mode="json")
        if organization is not None
        else {"id": str(link.id), "organization_id": str(link.organization_id)}
    )
    await session.delete(link)
    await session.flush()
    await audit(session, request, principal, "site.unlink", "site", site.id, before=before)
