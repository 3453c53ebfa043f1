"""`GET /internal/sites/{id}/evaluation-inputs`: the registry facts Table C.1 scores, with record ids.

The evaluation service computes a scorecard from these facts (SPEC §6): the door sign (C02), the
function areas and their attributes (C05–C07), the opening hours (C14), the staff and their
training (C11) and the organisations linked to the site (C12). Every count carries the ids it
counted, and the records left out say why, so each point can be explained. Staff and organisation
figures are SQL aggregates. Service tokens only; never routed by the gateway.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy import Uuid, and_, any_, bindparam, func, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import ServiceOnly
from services.common.db import DbSession
from services.common.enums import Certificate, FloorMaterial, OrganizationKind, Registration, SiteOrgRelation
from services.common.errors import ValidationFailed
from services.registry.organizations.models import Organization
from services.registry.scope import site_not_found
from services.registry.sites.models import Site, SiteOrganization
from services.registry.sites.schemas import OpeningHours
from services.registry.staff.models import StaffMember, StaffTraining

router = APIRouter(prefix="/internal", tags=["internal"], include_in_schema=False)

# Anti-slip ratings "above R9" (C05).
SLIP_ABOVE_R9 = frozenset({"r10", "r11", "r12", "r13"})
MAX_DECORATION_COLORS = 3


class Excluded(BaseModel):
    id: uuid.UUID
    why: str


class ElderlyCenterFacts(BaseModel):
    present: bool
    slip_above_r9: bool = Field(description="Floor anti-slip rating R10–R13")
    warm_walls: bool


class ChildrenRoomFacts(BaseModel):
    present: bool
    soft_floor: bool
    science_art: bool = Field(description="Science education / art training programmes")


class PresenceFacts(BaseModel):
    present: bool


class DeliberationHallFacts(BaseModel):
    present: bool
    walls_not_wood_or_marble: bool
    tile_floor: bool


class OneStopOfficeFacts(BaseModel):
    present: bool
    tricolor_sign: bool
    few_colors: bool = Field(description="At most three decoration colours")
    tile_or_vinyl_floor: bool
    desk_unobstructed: bool


class AreaFacts(BaseModel):
    """Function areas (4.3.1): every flag is false when the area is absent or the attribute unknown."""

    elderly_center: ElderlyCenterFacts
    children_room: ChildrenRoomFacts
    public_activity_room: PresenceFacts
    reading_room: PresenceFacts
    deliberation_hall: DeliberationHallFacts
    one_stop_office: OneStopOfficeFacts


class StaffFacts(BaseModel):
    active_ids: list[uuid.UUID] = Field(description="Staff active at some time in the period")
    intermediate_or_senior_ids: list[uuid.UUID]
    junior_ids: list[uuid.UUID]
    uncertified_ids: list[uuid.UUID]
    training_ids: list[uuid.UUID] = Field(description="Trainings of active staff held in the period")
    training_hours: Decimal = Field(description="Hours of those trainings")
    avg_training_hours: Decimal = Field(
        description="training_hours / active staff, rounded down to 0.01 (0 without active staff)"
    )


class OrganizationFacts(BaseModel):
    introduced_ids: list[uuid.UUID] = Field(description="Organisations introduced, link active in the period")
    incubated_ids: list[uuid.UUID] = Field(
        description="Incubated community social organisations, filed or registered, link active in the period"
    )
    incubated_excluded: list[Excluded]


class EvaluationInputs(BaseModel):
    site_id: uuid.UUID
    period_from: dt.date = Field(serialization_alias="from")
    period_to: dt.date = Field(serialization_alias="to")
    status: str
    door_sign: bool
    areas: AreaFacts
    hours_per_day: Decimal | None = Field(description="Shortest opening of the open days (site read model)")
    days_per_week: int
    staff: StaffFacts
    organizations: OrganizationFacts


def area_facts(documents: list[dict[str, Any]]) -> AreaFacts:
    """Flags per area kind; a site may list a kind twice — any area of the kind may earn a flag."""

    def of(kind: str) -> list[dict[str, Any]]:
        return [d for d in documents if d.get("kind") == kind]

    def any_(areas: list[dict[str, Any]], test: Any) -> bool:
        return any(test(a) for a in areas)

    elderly, children = of("elderly_center"), of("children_room")
    hall, office = of("deliberation_hall"), of("one_stop_office")
    return AreaFacts(
        elderly_center=ElderlyCenterFacts(
            present=bool(elderly),
            slip_above_r9=any_(elderly, lambda a: a.get("slip_rating") in SLIP_ABOVE_R9),
            warm_walls=any_(elderly, lambda a: a.get("warm_walls") is True),
        ),
        children_room=ChildrenRoomFacts(
            present=bool(children),
            soft_floor=any_(children, lambda a: a.get("soft_floor") is True),
            science_art=any_(children, lambda a: a.get("science_art_programs") is True),
        ),
        public_activity_room=PresenceFacts(present=bool(of("public_activity_room"))),
        reading_room=PresenceFacts(present=bool(of("reading_room"))),
        deliberation_hall=DeliberationHallFacts(
            present=bool(hall),
            # Unknown (null) wall cladding earns nothing: the point is for walls known not to be.
            walls_not_wood_or_marble=any_(hall, lambda a: a.get("wall_wood_or_marble") is False),
            tile_floor=any_(hall, lambda a: a.get("floor_material") == FloorMaterial.TILE),
        ),
        one_stop_office=OneStopOfficeFacts(
            present=bool(office),
            tricolor_sign=any_(office, lambda a: a.get("tricolor_sign") is True),
            few_colors=any_(
                office,
                lambda a: (
                    a.get("decoration_colors") is not None and a["decoration_colors"] <= MAX_DECORATION_COLORS
                ),
            ),
            tile_or_vinyl_floor=any_(
                office, lambda a: a.get("floor_material") in (FloorMaterial.TILE, FloorMaterial.VINYL)
            ),
            desk_unobstructed=any_(office, lambda a: a.get("desk_unobstructed") is True),
        ),
    )


def _ids(column: Any, *conditions: Any) -> Any:
    """``array_agg(column ORDER BY column) FILTER (WHERE …)``, never null."""
    aggregated: Any = func.array_agg(aggregate_order_by(column, column))
    if conditions:
        aggregated = aggregated.filter(and_(*conditions))
    return func.coalesce(aggregated, literal([], ARRAY(Uuid)))


def _no_staff() -> StaffFacts:
    return StaffFacts(
        active_ids=[],
        intermediate_or_senior_ids=[],
        junior_ids=[],
        uncertified_ids=[],
        training_ids=[],
        training_hours=Decimal(0),
        avg_training_hours=Decimal("0.00"),
    )


async def staff_facts(
    session: AsyncSession, site_ids: Sequence[uuid.UUID], start: dt.date, end: dt.date
) -> dict[uuid.UUID, StaffFacts]:
    """Staff active in the period by certificate, and their training, for each site (one grouped
    query each, however many sites; a site without active staff gets no entry)."""
    active = (
        select(StaffMember.id, StaffMember.site_id, StaffMember.certificate)
        .where(
            StaffMember.site_id == any_(_ids_param(site_ids)),
            StaffMember.active_from <= end,
            or_(StaffMember.active_until.is_(None), StaffMember.active_until >= start),
        )
        .cte("active_staff")
    )
    senior = (Certificate.INTERMEDIATE.value, Certificate.SENIOR.value)
    people = await session.execute(
        select(
            active.c.site_id,
            _ids(active.c.id).label("active_ids"),
            _ids(active.c.id, active.c.certificate.in_(senior)).label("senior_ids"),
            _ids(active.c.id, active.c.certificate == Certificate.JUNIOR.value).label("junior_ids"),
            _ids(active.c.id, active.c.certificate == Certificate.NONE.value).label("uncertified_ids"),
        ).group_by(active.c.site_id)
    )
    trainings = {
        row.site_id: row
        for row in await session.execute(
            select(
                active.c.site_id,
                _ids(StaffTraining.id).label("ids"),
                func.coalesce(func.sum(StaffTraining.hours), 0).label("hours"),
            )
            .join(active, active.c.id == StaffTraining.staff_id)
            .where(StaffTraining.date >= start, StaffTraining.date <= end)
            .group_by(active.c.site_id)
        )
    }
    facts = {}
    for row in people:
        trained = trainings.get(row.site_id)
        hours = Decimal(trained.hours if trained else 0)
        count = len(row.active_ids)
        # Rounded *down* so 19.999 h never passes as the 20 h C11 asks for.
        average = (hours / count).quantize(Decimal("0.01"), rounding=ROUND_DOWN) if count else Decimal("0.00")
        facts[row.site_id] = StaffFacts(
            active_ids=row.active_ids,
            intermediate_or_senior_ids=row.senior_ids,
            junior_ids=row.junior_ids,
            uncertified_ids=row.uncertified_ids,
            training_ids=trained.ids if trained else [],
            training_hours=hours,
            avg_training_hours=average,
        )
    return facts


async def organization_facts(
    session: AsyncSession, site_ids: Sequence[uuid.UUID], start: dt.date, end: dt.date
) -> dict[uuid.UUID, OrganizationFacts]:
    """Organisations introduced and incubated during the period, for each site (one grouped
    query; a site without links in the period gets no entry)."""
    link_in_period = and_(
        SiteOrganization.site_id == any_(_ids_param(site_ids)),
        SiteOrganization.since <= end,
        or_(SiteOrganization.until.is_(None), SiteOrganization.until >= start),
    )
    org_id = Organization.id
    introduced = SiteOrganization.relation == SiteOrgRelation.INTRODUCED.value
    incubated = SiteOrganization.relation == SiteOrgRelation.INCUBATED.value
    community_org = Organization.kind == OrganizationKind.COMMUNITY_SOCIAL_ORG.value
    standing = Organization.registration.in_([r.value for r in Registration])
    rows = await session.execute(
        select(
            SiteOrganization.site_id,
            func.coalesce(
                func.array_agg(org_id.distinct()).filter(introduced), literal([], ARRAY(Uuid))
            ).label("introduced"),
            func.coalesce(
                func.array_agg(org_id.distinct()).filter(incubated, community_org, standing),
                literal([], ARRAY(Uuid)),
            ).label("incubated"),
            func.coalesce(
                func.array_agg(org_id.distinct()).filter(incubated, ~community_org),
                literal([], ARRAY(Uuid)),
            ).label("incubated_not_community"),
        )
        .select_from(SiteOrganization)
        .join(Organization, Organization.id == SiteOrganization.organization_id)
        .where(link_in_period)
        .group_by(SiteOrganization.site_id)
    )
    facts = {}
    for row in rows:
        counted = set(row.incubated)
        excluded = [
            Excluded(id=oid, why="incubated organisation is not a community social organisation")
            for oid in sorted(set(row.incubated_not_community) - counted)
        ]
        facts[row.site_id] = OrganizationFacts(
            introduced_ids=sorted(row.introduced), incubated_ids=sorted(counted), incubated_excluded=excluded
        )
    return facts


def _ids_param(ids: Sequence[uuid.UUID]) -> Any:
    """One array parameter for many ids (``= ANY(:ids)``): ``IN`` would be expanded into one
    parameter per id, re-processed on every execution."""
    return bindparam("ids", list(ids), type_=ARRAY(Uuid))


NO_ORGANIZATIONS = OrganizationFacts(introduced_ids=[], incubated_ids=[], incubated_excluded=[])


def _check_period(period_from: dt.date, period_to: dt.date) -> None:
    if period_to < period_from:
        raise ValidationFailed("to", "must be on or after from", message_zh="结束日期不能早于开始日期")


async def evaluation_inputs_of(
    session: AsyncSession, site_ids: Sequence[uuid.UUID], period_from: dt.date, period_to: dt.date
) -> list[EvaluationInputs]:
    """The facts of each existing site among ``site_ids`` (in that order) for the period."""
    wanted = list(dict.fromkeys(site_ids))
    # The columns read, as rows (300 sites' full ORM objects cost more than the rest of the facts).
    sites = {
        site.id: site
        for site in await session.execute(
            select(Site.id, Site.status, Site.signage, Site.function_areas, Site.opening_hours).where(
                Site.id == any_(_ids_param(wanted))
            )
        )
    }
    found = [site_id for site_id in wanted if site_id in sites]
    staff = await staff_facts(session, found, period_from, period_to) if found else {}
    organizations = await organization_facts(session, found, period_from, period_to) if found else {}
    facts = []
    for site_id in found:
        site = sites[site_id]
        hours = OpeningHours.model_validate(site.opening_hours or {})
        facts.append(
            EvaluationInputs(
                site_id=site.id,
                period_from=period_from,
                period_to=period_to,
                status=site.status,
                door_sign=bool((site.signage or {}).get("door_sign")),
                areas=area_facts(site.function_areas or []),
                hours_per_day=hours.hours_per_day,
                days_per_week=hours.days_per_week,
                staff=staff.get(site_id) or _no_staff(),
                organizations=organizations.get(site_id, NO_ORGANIZATIONS),
            )
        )
    return facts


@router.get("/sites/{site_id}/evaluation-inputs", response_model=EvaluationInputs)
async def evaluation_inputs(
    session: DbSession,
    _: ServiceOnly,
    site_id: uuid.UUID,
    period_from: Annotated[dt.date, Query(alias="from")],
    period_to: Annotated[dt.date, Query(alias="to")],
) -> EvaluationInputs:
    """The registry facts of one site for an evaluation period (Table C.1: C02, C05–C07, C11, C12,
    C14): area flags, opening hours, staff active in the period by certificate with their average
    training hours, and the introduced and incubated organisations linked during the period."""
    _check_period(period_from, period_to)
    facts = await evaluation_inputs_of(session, [site_id], period_from, period_to)
    if not facts:
        raise site_not_found()
    return facts[0]


class SitesInputsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    site_ids: list[uuid.UUID] = Field(min_length=1, max_length=5000)
    period_from: dt.date = Field(alias="from")
    period_to: dt.date = Field(alias="to")


_FACTS_LIST = TypeAdapter(list[EvaluationInputs])


@router.post("/evaluation-inputs")
async def many_evaluation_inputs(session: DbSession, _: ServiceOnly, body: SitesInputsQuery) -> Response:
    """The `GET /internal/sites/{id}/evaluation-inputs` facts of many sites for one period (a whole
    evaluation round), as `{"items": [...]}` in the order of `site_ids`; unknown ids are left out.
    Staff and organisation figures are one grouped query each for all the sites."""
    _check_period(body.period_from, body.period_to)
    facts = await evaluation_inputs_of(session, body.site_ids, body.period_from, body.period_to)
    return Response(
        b'{"items":' + _FACTS_LIST.dump_json(facts, by_alias=True) + b"}", media_type="application/json"
    )
