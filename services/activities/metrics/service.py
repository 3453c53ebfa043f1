"""The counts Table C.1 needs for one site and period, each with the ids of the records counted.

Everything is computed in PostgreSQL with aggregates (``count``, ``sum``,
``array_agg(id ORDER BY …) FILTER (WHERE …)`` … ``GROUP BY``): Python only places the aggregated
values into the document and fills the months that have none. Only records dated inside
``[from, to]`` count (activities by ``starts_at`` in Asia/Shanghai); the roster of volunteers counts
everyone registered by ``to``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from fastapi import Request
from sqlalchemy import Date, DateTime, Select, and_, cast, column, func, not_, select, true
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from services.activities.activities.models import Activity
from services.activities.casework.models import Case, Group
from services.activities.deliberations.models import Deliberation
from services.activities.metrics.schemas import (
    ActivityMetrics,
    BrandMetrics,
    CaseworkMetrics,
    DeliberationMetrics,
    HazardMetrics,
    IdSet,
    OverdueHazard,
    PatrolMetrics,
    PatrolMonth,
    PlanMetrics,
    PlanMonth,
    RecognitionKindMetrics,
    RecognitionMetrics,
    SafetyMetrics,
    SiteMetrics,
    ThemeMetrics,
    ThemeMonth,
    TrainingMetrics,
    VolunteerMetrics,
)
from services.activities.plans.models import ActivityPlan
from services.activities.recognition.models import BrandProject, Recognition
from services.activities.safety.models import SafetyPatrol, SafetyTraining
from services.activities.scope import site_not_found
from services.activities.volunteers.models import Volunteer, VolunteerHours
from services.common.enums import BrandProjectKind, RecognitionKind, RecognitionLevel
from services.common.errors import ValidationFailed
from services.common.timeutil import shanghai_midnight, today_shanghai

TZ = "Asia/Shanghai"
MAX_PERIOD = dt.timedelta(days=731)
LEVEL_ORDER = list(RecognitionLevel)  # district < city < province < national


def check_period(date_from: dt.date, date_to: dt.date) -> None:
    if date_to < date_from:
        raise ValidationFailed("to", "must not be before from", message_zh="结束日期不能早于开始日期")
    if date_to - date_from > MAX_PERIOD:
        raise ValidationFailed("to", "the period may span at most two years", message_zh="统计期间最长两年")


def months_of(date_from: dt.date, date_to: dt.date) -> list[str]:
    months, year, month = [], date_from.year, date_from.month
    while (year, month) <= (date_to.year, date_to.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def ids(column: Any, *order: Any, where: Any = None) -> Any:
    """``array_agg(column ORDER BY order…) [FILTER (WHERE where)]``."""
    aggregate = func.array_agg(aggregate_order_by(column, *order))
    return aggregate.filter(where) if where is not None else aggregate


async def _one(session: AsyncSession, stmt: Select[Any]) -> Any:
    return (await session.execute(stmt)).one()


async def site_metrics(
    session: AsyncSession, request: Request, site_id: uuid.UUID, date_from: dt.date, date_to: dt.date
) -> SiteMetrics:
    check_period(date_from, date_to)
    if not await request.app.state.sites.exists(site_id):
        raise site_not_found()
    months = months_of(date_from, date_to)
    today = today_shanghai()
    return SiteMetrics(
        site_id=site_id,
        period_from=date_from,
        period_to=date_to,
        months=months,
        as_of=today,
        themes=await _themes(session, site_id, date_from, date_to, months),
        activities=await _activities(session, site_id, date_from, date_to),
        casework=await _casework(session, site_id, date_from, date_to),
        deliberations=await _deliberations(session, site_id, date_from, date_to),
        volunteers=await _volunteers(session, site_id, date_from, date_to),
        safety=await _safety(session, site_id, date_from, date_to, months, today),
        plans=await _plans(session, site_id, months),
        brand=await _brand(session, site_id, date_from, date_to),
        recognition=await _recognition(session, site_id, date_from, date_to),
    )


# ---- activities (C15) ------------------------------------------------------------------------------


def _activity_period(site_id: uuid.UUID, date_from: dt.date, date_to: dt.date) -> Any:
    return and_(
        Activity.site_id == site_id,
        Activity.starts_at >= shanghai_midnight(date_from),
        Activity.starts_at < shanghai_midnight(date_to + dt.timedelta(days=1)),
    )


# A theme activity counts for C15 only with a handwritten sign-in sheet and a photo in its evidence:
# the flags every write keeps in step with the evidence (services.activities.activities.service), so
# a round's theme activities are counted from an index alone (ix_activities_theme_site_starts).
HAS_EVIDENCE = and_(Activity.has_sign_in_sheet, Activity.has_photo)
COUNTED_THEME = and_(Activity.is_theme, HAS_EVIDENCE)
MID_SIZED = Activity.attendance.between(50, 100)
LARGE = Activity.attendance > 100


async def _themes(
    session: AsyncSession, site_id: uuid.UUID, date_from: dt.date, date_to: dt.date, months: list[str]
) -> ThemeMetrics:
    order = (Activity.starts_at, Activity.id)
    month = func.to_char(func.timezone(TZ, Activity.starts_at), "YYYY-MM")
    per_month = {
        row.month: row
        for row in await session.execute(
            select(
                month.label("month"),
                ids(Activity.id, *order, where=HAS_EVIDENCE).label("with_evidence"),
                ids(Activity.id, *order, where=not_(HAS_EVIDENCE)).label("without_evidence"),
            )
            .where(_activity_period(site_id, date_from, date_to), Activity.is_theme)
            .group_by(month)
        )
    }
    sizes = await _one(
        session,
        select(
            ids(Activity.id, *order, where=HAS_EVIDENCE),
            ids(Activity.id, *order, where=not_(HAS_EVIDENCE)),
            ids(Activity.id, *order, where=and_(HAS_EVIDENCE, MID_SIZED)),
            ids(Activity.id, *order, where=and_(HAS_EVIDENCE, LARGE)),
        ).where(_activity_period(site_id, date_from, date_to), Activity.is_theme),
    )
    return ThemeMetrics(
        per_month=[
            ThemeMonth(
                month=m,
                with_evidence=IdSet.of(per_month[m].with_evidence if m in per_month else None),
                without_evidence=IdSet.of(per_month[m].without_evidence if m in per_month else None),
            )
            for m in months
        ],
        with_evidence=IdSet.of(sizes[0]),
        without_evidence=IdSet.of(sizes[1]),
        attendance_50_100=IdSet.of(sizes[2]),
        attendance_over_100=IdSet.of(sizes[3]),
    )


async def _activities(
    session: AsyncSession, site_id: uuid.UUID, date_from: dt.date, date_to: dt.date
) -> ActivityMetrics:
    order = (Activity.starts_at, Activity.id)
    total, mid, large = await _one(
        session,
        select(
            func.count(),
            ids(Activity.id, *order, where=MID_SIZED),
            ids(Activity.id, *order, where=LARGE),
        ).where(_activity_period(site_id, date_from, date_to)),
    )
    return ActivityMetrics(total=total, attendance_50_100=IdSet.of(mid), attendance_over_100=IdSet.of(large))


# ---- casework (C16), deliberations (C17), volunteers (C13) -----------------------------------------


async def _casework(
    session: AsyncSession, site_id: uuid.UUID, date_from: dt.date, date_to: dt.date
) -> CaseworkMetrics:
    cases, groups = await _one(
        session,
        select(
            select(ids(Case.id, Case.opened_on, Case.id))
            .where(Case.site_id == site_id, Case.opened_on.between(date_from, date_to))
            .scalar_subquery(),
            select(ids(Group.id, Group.opened_on, Group.id))
            .where(Group.site_id == site_id, Group.opened_on.between(date_from, date_to))
            .scalar_subquery(),
        ),
    )
    case_set, group_set = IdSet.of(cases), IdSet.of(groups)
    return CaseworkMetrics(
        cases=case_set, groups=group_set, cases_and_groups=case_set.count + group_set.count
    )


# Counts for C17 only with rules agreed, a resolution reached and the resolution carried out.
COMPLETE_DELIBERATION = and_(
    Deliberation.rules.op("~")(r"\S"),
    Deliberation.resolution.op("~")(r"\S"),
    Deliberation.execution_status == "done",
)


async def _deliberations(
    session: AsyncSession, site_id: uuid.UUID, date_from: dt.date, date_to: dt.date
) -> DeliberationMetrics:
    order = (Deliberation.held_on, Deliberation.id)
    complete, incomplete = await _one(
        session,
        select(
            ids(Deliberation.id, *order, where=COMPLETE_DELIBERATION),
            ids(Deliberation.id, *order, where=not_(COMPLETE_DELIBERATION)),
        ).where(Deliberation.site_id == site_id, Deliberation.held_on.between(date_from, date_to)),
    )
    return DeliberationMetrics(complete=IdSet.of(complete), incomplete=IdSet.of(incomplete))


async def _volunteers(
    session: AsyncSession, site_id: uuid.UUID, date_from: dt.date, date_to: dt.date
) -> VolunteerMetrics:
    registered, hours, entries = await _one(
        session,
        select(
            select(ids(Volunteer.id, Volunteer.registered_on, Volunteer.id))
            .where(Volunteer.site_id == site_id, Volunteer.registered_on <= date_to)
            .scalar_subquery(),
            select(func.coalesce(func.sum(VolunteerHours.hours), 0))
            .where(VolunteerHours.site_id == site_id, VolunteerHours.date.between(date_from, date_to))
            .scalar_subquery(),
            select(ids(VolunteerHours.id, VolunteerHours.date, VolunteerHours.id))
            .where(VolunteerHours.site_id == site_id, VolunteerHours.date.between(date_from, date_to))
            .scalar_subquery(),
        ),
    )
    return VolunteerMetrics(
        registered=IdSet.of(registered),
        hours=Decimal(hours).quantize(Decimal("0.1")),
        hour_entries=IdSet.of(entries),
    )


# ---- safety (C10) ----------------------------------------------------------------------------------


async def _safety(
    session: AsyncSession,
    site_id: uuid.UUID,
    date_from: dt.date,
    date_to: dt.date,
    months: list[str],
    today: dt.date,
) -> SafetyMetrics:
    t_order = (SafetyTraining.held_on, SafetyTraining.id)
    with_record, without_record = await _one(
        session,
        select(
            ids(SafetyTraining.id, *t_order, where=SafetyTraining.has_record),
            ids(SafetyTraining.id, *t_order, where=not_(SafetyTraining.has_record)),
        ).where(SafetyTraining.site_id == site_id, SafetyTraining.held_on.between(date_from, date_to)),
    )
    in_period = and_(SafetyPatrol.site_id == site_id, SafetyPatrol.patrolled_on.between(date_from, date_to))
    p_order = (SafetyPatrol.patrolled_on, SafetyPatrol.id)
    month = func.to_char(SafetyPatrol.patrolled_on, "YYYY-MM")
    per_month = {
        m: patrol_ids
        for m, patrol_ids in await session.execute(
            select(month, ids(SafetyPatrol.id, *p_order)).where(in_period).group_by(month)
        )
    }
    patrols_with, patrols_without = await _one(
        session,
        select(
            ids(SafetyPatrol.id, *p_order, where=SafetyPatrol.has_record),
            ids(SafetyPatrol.id, *p_order, where=not_(SafetyPatrol.has_record)),
        ).where(in_period),
    )
    return SafetyMetrics(
        trainings=TrainingMetrics(with_record=IdSet.of(with_record), without_record=IdSet.of(without_record)),
        patrols=PatrolMetrics(
            per_month=[PatrolMonth(month=m, patrols=IdSet.of(per_month.get(m))) for m in months],
            months_without_patrol=[m for m in months if m not in per_month],
            with_record=IdSet.of(patrols_with),
            without_record=IdSet.of(patrols_without),
        ),
        hazards=await _hazards(session, in_period, today),
    )


def hazard_rows(today: dt.date) -> tuple[Any, Any, Any, Any]:
    """Each hazard of a patrol as a row (join it to ``SafetyPatrol`` with ``true()``), with its
    ``due_on``, ``rectified_on`` and whether it is overdue: still open after ``due_on`` (as of
    ``today``) or fixed after it (C10: 发现隐患未能及时整改, −0.5 each)."""
    hazard = (
        func.jsonb_array_elements(SafetyPatrol.hazards)
        .table_valued(column("value", JSONB), with_ordinality="position")
        .render_derived(name="hazard")
    )
    due_on = cast(hazard.c.value["due_on"].astext, Date)
    rectified_on = cast(hazard.c.value["rectified_on"].astext, Date)
    overdue = (rectified_on.is_(None) & (due_on < today)) | (rectified_on > due_on)
    return hazard, due_on, rectified_on, overdue


async def _hazards(session: AsyncSession, in_period: Any, today: dt.date) -> HazardMetrics:
    """Hazards of the period's patrols and the overdue ones (:func:`hazard_rows`)."""
    hazard, due_on, rectified_on, overdue = hazard_rows(today)
    item = func.jsonb_build_object(
        "patrol_id",
        SafetyPatrol.id,
        "index",
        hazard.c.position - 1,
        "description",
        hazard.c.value["description"].astext,
        "due_on",
        due_on,
        "rectified_on",
        rectified_on,
    )
    total, overdue_items = await _one(
        session,
        select(
            func.count(),
            func.jsonb_agg(
                aggregate_order_by(item, SafetyPatrol.patrolled_on, SafetyPatrol.id, hazard.c.position)
            ).filter(overdue),
        )
        .select_from(SafetyPatrol)
        .join(hazard, true())
        .where(in_period),
    )
    items = [OverdueHazard.model_validate(i) for i in overdue_items or []]
    return HazardMetrics(total=total, overdue_count=len(items), overdue=items)


# ---- plans (C14) -----------------------------------------------------------------------------------


async def _plans(session: AsyncSession, site_id: uuid.UUID, months: list[str]) -> PlanMetrics:
    first_month = dt.date.fromisoformat(f"{months[0]}-01")
    last_month = dt.date.fromisoformat(f"{months[-1]}-01")
    # On time = published before 00:00 Asia/Shanghai of the plan's first day.
    month_began = func.timezone(TZ, cast(ActivityPlan.month, DateTime))
    rows = await session.execute(
        select(
            func.to_char(ActivityPlan.month, "YYYY-MM"),
            ActivityPlan.id,
            ActivityPlan.published_at,
            (ActivityPlan.published_at < month_began).label("on_time"),
        )
        .where(ActivityPlan.site_id == site_id, ActivityPlan.month.between(first_month, last_month))
        .order_by(ActivityPlan.month)
    )
    plans = {m: (plan_id, published_at, on_time) for m, plan_id, published_at, on_time in rows}
    per_month = []
    for m in months:
        if m not in plans:
            per_month.append(PlanMonth(month=m, status="missing", plan_id=None, published_at=None))
            continue
        plan_id, published_at, on_time = plans[m]
        status = "unpublished" if published_at is None else "on_time" if on_time else "late"
        per_month.append(PlanMonth(month=m, status=status, plan_id=plan_id, published_at=published_at))

    def with_status(status: str) -> IdSet:
        return IdSet.of([p.plan_id for p in per_month if p.status == status and p.plan_id is not None])

    return PlanMetrics(
        per_month=per_month,
        on_time=with_status("on_time"),
        late=with_status("late"),
        unpublished=with_status("unpublished"),
        missing_months=[p.month for p in per_month if p.status == "missing"],
        all_published_before_month=all(p.status == "on_time" for p in per_month),
    )


# ---- brand (C19) and recognition (C20, C21) ---------------------------------------------------------


async def _brand(
    session: AsyncSession, site_id: uuid.UUID, date_from: dt.date, date_to: dt.date
) -> BrandMetrics:
    order = (BrandProject.started_on, BrandProject.id)
    service_project = BrandProject.kind == BrandProjectKind.SERVICE_PROJECT.value
    overall, implemented, planned = await _one(
        session,
        select(
            ids(BrandProject.id, *order, where=BrandProject.kind == BrandProjectKind.OVERALL_BRAND.value),
            ids(BrandProject.id, *order, where=and_(service_project, BrandProject.implemented)),
            ids(BrandProject.id, *order, where=and_(service_project, not_(BrandProject.implemented))),
        ).where(BrandProject.site_id == site_id, BrandProject.started_on.between(date_from, date_to)),
    )
    overall_set = IdSet.of(overall)
    return BrandMetrics(
        overall_brand=overall_set,
        overall_brand_exists=overall_set.count > 0,
        implemented_projects=IdSet.of(implemented),
        planned_projects=IdSet.of(planned),
    )


async def _recognition(
    session: AsyncSession, site_id: uuid.UUID, date_from: dt.date, date_to: dt.date
) -> RecognitionMetrics:
    grouped: dict[str, dict[str, list[uuid.UUID]]] = {kind.value: {} for kind in RecognitionKind}
    for kind, level, record_ids in await session.execute(
        select(Recognition.kind, Recognition.level, ids(Recognition.id, Recognition.date, Recognition.id))
        .where(Recognition.site_id == site_id, Recognition.date.between(date_from, date_to))
        .group_by(Recognition.kind, Recognition.level)
    ):
        grouped.setdefault(kind, {})[level] = record_ids

    def of_kind(kind: RecognitionKind) -> RecognitionKindMetrics:
        levels = grouped[kind.value]
        reached = [level for level in LEVEL_ORDER if levels.get(level.value)]
        highest = reached[-1] if reached else None
        return RecognitionKindMetrics(
            highest_level=highest,
            highest=IdSet.of(levels.get(highest.value) if highest else None),
            by_level={level: IdSet.of(levels.get(level.value)) for level in LEVEL_ORDER},
        )

    return RecognitionMetrics(
        exchange=of_kind(RecognitionKind.EXCHANGE),
        media=of_kind(RecognitionKind.MEDIA),
        honour=of_kind(RecognitionKind.HONOUR),
    )
