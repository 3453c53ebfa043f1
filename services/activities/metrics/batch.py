"""The rubric metrics of many sites at once (a whole evaluation round, issue 7 P6).

The same counts as :mod:`services.activities.metrics.service` — same filters, same order of ids —
but every query groups by ``site_id`` over all the sites asked for, so a round of 300 sites costs
about a dozen aggregate queries instead of a dozen per site. Each site's document is the
``GET /metrics`` document (:class:`~services.activities.metrics.schemas.SiteMetrics`, as JSON)
except the ``activities`` part, which the rubric does not read. The documents are built as plain
JSON data (ids aggregated as text by PostgreSQL) and serialised once; the ``themes`` part, with most
of a round's ids, comes from PostgreSQL as JSON already and is written into the answer as it is.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
from pydantic import TypeAdapter
from sqlalchemy import (
    JSON,
    DateTime,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    cast,
    column,
    func,
    not_,
    null,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from services.activities.activities.models import Activity
from services.activities.casework.models import Case, Group
from services.activities.deliberations.models import Deliberation
from services.activities.metrics.service import (
    COMPLETE_DELIBERATION,
    HAS_EVIDENCE,
    LARGE,
    LEVEL_ORDER,
    MID_SIZED,
    TZ,
    check_period,
    hazard_rows,
    months_of,
)
from services.activities.plans.models import ActivityPlan
from services.activities.recognition.models import BrandProject, Recognition
from services.activities.safety.models import SafetyPatrol, SafetyTraining
from services.activities.volunteers.models import Volunteer, VolunteerHours
from services.common.enums import BrandProjectKind, RecognitionKind
from services.common.timeutil import shanghai_midnight, today_shanghai

Doc = dict[str, Any]
Ids = list[str]
_DATETIME = TypeAdapter(dt.datetime)  # published_at exactly as the single-site document writes it


def text_ids(id_column: Any, *order: Any, where: Any = None) -> Any:
    """``array_agg(id::text ORDER BY order…) [FILTER (WHERE where)]``: ids as text, no decoding."""
    aggregate = func.array_agg(aggregate_order_by(cast(id_column, Text), *order), type_=ARRAY(Text))
    return aggregate.filter(where) if where is not None else aggregate


def _among(site_column: Any, sites: list[uuid.UUID]) -> Any:
    """``site_id = ANY(:sites)``: one array parameter, where ``IN`` would be expanded into one
    parameter per site, re-processed on every execution (~2 ms a query for 300 sites)."""
    return site_column == any_(bindparam("sites", sites, type_=ARRAY(Uuid)))


def id_set(ids: Ids | None) -> Doc:
    """``{"count": n, "ids": [...]}`` around the aggregated list itself (no copy)."""
    if ids is None:
        return {"count": 0, "ids": []}
    return {"count": len(ids), "ids": ids}


async def _by_site(session: AsyncSession, stmt: Any) -> dict[uuid.UUID, Any]:
    return {row.site_id: row for row in await session.execute(stmt)}


async def _by_site_many(session: AsyncSession, stmt: Any) -> dict[uuid.UUID, list[Any]]:
    grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in await session.execute(stmt):
        grouped[row.site_id].append(row)
    return grouped


async def sites_metrics(
    session: AsyncSession, site_ids: Sequence[uuid.UUID], date_from: dt.date, date_to: dt.date
) -> list[Doc]:
    """The metrics document of each site (in the order asked), for the period ``[from, to]``."""
    check_period(date_from, date_to)
    # A round's grouped id lists are sorted in memory, not spilled to disk (this transaction only).
    await session.execute(text("SET LOCAL work_mem = '64MB'"))
    sites = list(dict.fromkeys(site_ids))
    months = months_of(date_from, date_to)
    today = today_shanghai()
    themes = await _themes(session, sites, date_from, date_to, months)
    casework = await _casework(session, sites, date_from, date_to)
    deliberations = await _by_site(
        session,
        select(
            Deliberation.site_id,
            text_ids(
                Deliberation.id, Deliberation.held_on, Deliberation.id, where=COMPLETE_DELIBERATION
            ).label("complete"),
            text_ids(
                Deliberation.id, Deliberation.held_on, Deliberation.id, where=not_(COMPLETE_DELIBERATION)
            ).label("incomplete"),
        )
        .where(_among(Deliberation.site_id, sites), Deliberation.held_on.between(date_from, date_to))
        .group_by(Deliberation.site_id),
    )
    volunteers = await _volunteers(session, sites, date_from, date_to)
    safety = await _safety(session, sites, date_from, date_to, today)
    plans = await _by_site_many(
        session,
        select(
            ActivityPlan.site_id,
            func.to_char(ActivityPlan.month, "YYYY-MM").label("month"),
            ActivityPlan.id,
            ActivityPlan.published_at,
            (ActivityPlan.published_at < func.timezone(TZ, cast(ActivityPlan.month, DateTime))).label(
                "on_time"
            ),
        )
        .where(
            _among(ActivityPlan.site_id, sites),
            ActivityPlan.month.between(
                dt.date.fromisoformat(f"{months[0]}-01"), dt.date.fromisoformat(f"{months[-1]}-01")
            ),
        )
        .order_by(ActivityPlan.site_id, ActivityPlan.month),
    )
    brand = await _brand(session, sites, date_from, date_to)
    recognition = await _by_site_many(
        session,
        select(
            Recognition.site_id,
            Recognition.kind,
            Recognition.level,
            text_ids(Recognition.id, Recognition.date, Recognition.id).label("ids"),
        )
        .where(_among(Recognition.site_id, sites), Recognition.date.between(date_from, date_to))
        .group_by(Recognition.site_id, Recognition.kind, Recognition.level),
    )
    return [
        {
            "site_id": str(site_id),
            "from": date_from.isoformat(),
            "to": date_to.isoformat(),
            "months": months,
            "as_of": today.isoformat(),
            "themes": _themes_doc(themes, site_id, months),
            "casework": casework(site_id),
            "deliberations": _deliberations_doc(deliberations.get(site_id)),
            "volunteers": volunteers(site_id),
            "safety": safety(site_id, months),
            "plans": _plans_doc(plans.get(site_id, []), months),
            "brand": brand(site_id),
            "recognition": _recognition_doc(recognition.get(site_id, [])),
        }
        for site_id in sites
    ]


# ---- activities (C15) ------------------------------------------------------------------------------


async def _themes(
    session: AsyncSession, sites: list[uuid.UUID], date_from: dt.date, date_to: dt.date, months: list[str]
) -> dict[uuid.UUID, orjson.Fragment]:
    """The ``themes`` document of each site with theme activities in the period, built as JSON by
    PostgreSQL from one scan of the narrow rows the aggregates need (tens of thousands of ids
    never become Python objects): per month of the period (every month, in order) the activities
    with and without evidence, and over the period those and the ones of 50–100 and more than 100
    people — each list in the single-site order (``starts_at``, then id)."""
    theme = (
        select(
            Activity.site_id,
            Activity.id,
            Activity.starts_at,
            # The month (Asia/Shanghai) as its position in the period: 1 for the first month.
            func.width_bucket(
                Activity.starts_at,
                bindparam("month_starts", _month_starts(months), type_=ARRAY(DateTime(True))),
            ).label("month"),
            HAS_EVIDENCE.label("counted"),
            and_(HAS_EVIDENCE, MID_SIZED).label("mid"),
            and_(HAS_EVIDENCE, LARGE).label("large"),
        )
        .where(
            _among(Activity.site_id, sites),
            Activity.starts_at >= shanghai_midnight(date_from),
            Activity.starts_at < shanghai_midnight(date_to + dt.timedelta(days=1)),
            Activity.is_theme,
        )
        .cte("theme")
    )
    order = (theme.c.starts_at, theme.c.id)
    counted, left_out = theme.c.counted, not_(theme.c.counted)
    per = (
        select(
            theme.c.site_id,
            theme.c.month,
            func.count().filter(counted).label("with_count"),
            json_ids(theme.c.id, *order, where=counted).label("with_ids"),
            func.count().filter(left_out).label("without_count"),
            json_ids(theme.c.id, *order, where=left_out).label("without_ids"),
        )
        .group_by(theme.c.site_id, theme.c.month)
        .cte("per")
    )
    whole = (
        select(
            theme.c.site_id,
            _json_id_set(func.count().filter(counted), json_ids(theme.c.id, *order, where=counted)).label(
                "with_evidence"
            ),
            _json_id_set(func.count().filter(left_out), json_ids(theme.c.id, *order, where=left_out)).label(
                "without_evidence"
            ),
            _json_id_set(
                func.count().filter(theme.c.mid), json_ids(theme.c.id, *order, where=theme.c.mid)
            ).label("attendance_50_100"),
            _json_id_set(
                func.count().filter(theme.c.large), json_ids(theme.c.id, *order, where=theme.c.large)
            ).label("attendance_over_100"),
        )
        .group_by(theme.c.site_id)
        .cte("whole")
    )
    month = (
        func.unnest(bindparam("months", months, type_=ARRAY(Text)))
        .table_valued(column("month", Text), with_ordinality="position")
        .render_derived(name="period_month")
    )
    per_month = (
        select(
            whole.c.site_id,
            func.json_agg(
                aggregate_order_by(
                    func.json_build_object(
                        "month",
                        month.c.month,
                        "with_evidence",
                        _json_id_set(per.c.with_count, per.c.with_ids),
                        "without_evidence",
                        _json_id_set(per.c.without_count, per.c.without_ids),
                    ),
                    month.c.position,
                )
            ).label("per_month"),
        )
        .select_from(whole)
        .join(month, true())
        .outerjoin(per, and_(per.c.site_id == whole.c.site_id, per.c.month == month.c.position))
        .group_by(whole.c.site_id)
        .cte("per_month")
    )
    document = func.json_build_object(
        "per_month",
        per_month.c.per_month,
        "with_evidence",
        whole.c.with_evidence,
        "without_evidence",
        whole.c.without_evidence,
        "attendance_50_100",
        whole.c.attendance_50_100,
        "attendance_over_100",
        whole.c.attendance_over_100,
    )
    return {
        site_id: orjson.Fragment(doc)
        for site_id, doc in await session.execute(
            select(whole.c.site_id, cast(document, Text)).join(
                per_month, per_month.c.site_id == whole.c.site_id
            )
        )
    }


def _month_starts(months: list[str]) -> list[dt.datetime]:
    """The instant each month of ``months`` (``YYYY-MM``) begins in Asia/Shanghai, in order."""
    return [shanghai_midnight(dt.date.fromisoformat(f"{m}-01")) for m in months]


def json_ids(id_column: Any, *order: Any, where: Any) -> Any:
    """:func:`text_ids` of the rows ``where`` holds, as a JSON array. The rows left out are NULLs
    removed afterwards rather than a ``FILTER``: every list of a group then aggregates in the same
    order, which PostgreSQL sorts the group's rows by once for all of them (not once per list)."""
    ids = func.array_agg(aggregate_order_by(case((where, cast(id_column, Text))), *order), type_=ARRAY(Text))
    return func.array_to_json(func.array_remove(ids, null(), type_=ARRAY(Text)), type_=JSON)


def _json_id_set(count: Any, ids: Any) -> Any:
    """:func:`id_set` built by PostgreSQL: ``{"count": n, "ids": [...]}``, 0 and [] for none."""
    return func.json_build_object(
        "count", func.coalesce(count, 0), "ids", func.coalesce(ids, func.json_build_array()), type_=JSON
    )


def _themes_doc(themes: dict[uuid.UUID, orjson.Fragment], site_id: uuid.UUID, months: list[str]) -> Any:
    """A site's theme activities: the document PostgreSQL built (:func:`_themes`), written as it
    is; a site without any, built here."""
    built = themes.get(site_id)
    if built is not None:
        return built
    return {
        "per_month": [
            {"month": m, "with_evidence": id_set(None), "without_evidence": id_set(None)} for m in months
        ],
        "with_evidence": id_set(None),
        "without_evidence": id_set(None),
        "attendance_50_100": id_set(None),
        "attendance_over_100": id_set(None),
    }


# ---- casework (C16), deliberations (C17), volunteers (C13) -----------------------------------------


async def _casework(
    session: AsyncSession, sites: list[uuid.UUID], date_from: dt.date, date_to: dt.date
) -> Any:
    cases = await _by_site(
        session,
        select(Case.site_id, text_ids(Case.id, Case.opened_on, Case.id).label("ids"))
        .where(_among(Case.site_id, sites), Case.opened_on.between(date_from, date_to))
        .group_by(Case.site_id),
    )
    groups = await _by_site(
        session,
        select(Group.site_id, text_ids(Group.id, Group.opened_on, Group.id).label("ids"))
        .where(_among(Group.site_id, sites), Group.opened_on.between(date_from, date_to))
        .group_by(Group.site_id),
    )

    def of(site_id: uuid.UUID) -> Doc:
        case_set = id_set(cases[site_id].ids if site_id in cases else None)
        group_set = id_set(groups[site_id].ids if site_id in groups else None)
        return {
            "cases": case_set,
            "groups": group_set,
            "cases_and_groups": case_set["count"] + group_set["count"],
        }

    return of


def _deliberations_doc(row: Any) -> Doc:
    return {
        "complete": id_set(row.complete if row else None),
        "incomplete": id_set(row.incomplete if row else None),
    }


async def _volunteers(
    session: AsyncSession, sites: list[uuid.UUID], date_from: dt.date, date_to: dt.date
) -> Any:
    registered = await _by_site(
        session,
        select(
            Volunteer.site_id,
            text_ids(Volunteer.id, Volunteer.registered_on, Volunteer.id).label("ids"),
        )
        .where(_among(Volunteer.site_id, sites), Volunteer.registered_on <= date_to)
        .group_by(Volunteer.site_id),
    )
    hours = await _by_site(
        session,
        select(
            VolunteerHours.site_id,
            func.coalesce(func.sum(VolunteerHours.hours), 0).label("hours"),
            text_ids(VolunteerHours.id, VolunteerHours.date, VolunteerHours.id).label("ids"),
        )
        .where(_among(VolunteerHours.site_id, sites), VolunteerHours.date.between(date_from, date_to))
        .group_by(VolunteerHours.site_id),
    )

    def of(site_id: uuid.UUID) -> Doc:
        served = hours.get(site_id)
        total = Decimal(served.hours if served else 0).quantize(Decimal("0.1"))
        return {
            "registered": id_set(registered[site_id].ids if site_id in registered else None),
            "hours": str(total),
            "hour_entries": id_set(served.ids if served else None),
        }

    return of


# ---- safety (C10) ----------------------------------------------------------------------------------


async def _safety(
    session: AsyncSession, sites: list[uuid.UUID], date_from: dt.date, date_to: dt.date, today: dt.date
) -> Any:
    t_order = (SafetyTraining.held_on, SafetyTraining.id)
    trainings = await _by_site(
        session,
        select(
            SafetyTraining.site_id,
            text_ids(SafetyTraining.id, *t_order, where=SafetyTraining.has_record).label("with_record"),
            text_ids(SafetyTraining.id, *t_order, where=not_(SafetyTraining.has_record)).label(
                "without_record"
            ),
        )
        .where(_among(SafetyTraining.site_id, sites), SafetyTraining.held_on.between(date_from, date_to))
        .group_by(SafetyTraining.site_id),
    )
    in_period = and_(
        _among(SafetyPatrol.site_id, sites), SafetyPatrol.patrolled_on.between(date_from, date_to)
    )
    p_order = (SafetyPatrol.patrolled_on, SafetyPatrol.id)
    month = func.to_char(SafetyPatrol.patrolled_on, "YYYY-MM")
    per_month = await _by_site_many(
        session,
        select(SafetyPatrol.site_id, month.label("month"), text_ids(SafetyPatrol.id, *p_order).label("ids"))
        .where(in_period)
        .group_by(SafetyPatrol.site_id, month),
    )
    patrols = await _by_site(
        session,
        select(
            SafetyPatrol.site_id,
            text_ids(SafetyPatrol.id, *p_order, where=SafetyPatrol.has_record).label("with_record"),
            text_ids(SafetyPatrol.id, *p_order, where=not_(SafetyPatrol.has_record)).label("without_record"),
        )
        .where(in_period)
        .group_by(SafetyPatrol.site_id),
    )
    hazard, due_on, rectified_on, overdue = hazard_rows(today)
    hazards = await _by_site_many(
        session,
        select(
            SafetyPatrol.site_id,
            cast(SafetyPatrol.id, Text).label("patrol_id"),
            (hazard.c.position - 1).label("index"),
            hazard.c.value["description"].astext.label("description"),
            due_on.label("due_on"),
            rectified_on.label("rectified_on"),
            overdue.label("overdue"),
        )
        .select_from(SafetyPatrol)
        .join(hazard, true())
        .where(in_period)
        .order_by(SafetyPatrol.site_id, SafetyPatrol.patrolled_on, SafetyPatrol.id, hazard.c.position),
    )

    def of(site_id: uuid.UUID, months: list[str]) -> Doc:
        training = trainings.get(site_id)
        patrol = patrols.get(site_id)
        patrol_months = {row.month: row.ids for row in per_month.get(site_id, [])}
        found = hazards.get(site_id, [])
        overdue_items = [
            {
                "patrol_id": h.patrol_id,
                "index": h.index,
                "description": h.description,
                "due_on": h.due_on.isoformat(),
                "rectified_on": h.rectified_on.isoformat() if h.rectified_on else None,
            }
            for h in found
            if h.overdue
        ]
        return {
            "trainings": {
                "with_record": id_set(training.with_record if training else None),
                "without_record": id_set(training.without_record if training else None),
            },
            "patrols": {
                "per_month": [{"month": m, "patrols": id_set(patrol_months.get(m))} for m in months],
                "months_without_patrol": [m for m in months if m not in patrol_months],
                "with_record": id_set(patrol.with_record if patrol else None),
                "without_record": id_set(patrol.without_record if patrol else None),
            },
            "hazards": {"total": len(found), "overdue_count": len(overdue_items), "overdue": overdue_items},
        }

    return of


# ---- plans (C14), brand (C19) and recognition (C20, C21) --------------------------------------------


def _plans_doc(rows: list[Any], months: list[str]) -> Doc:
    plans = {row.month: row for row in rows}
    per_month = []
    for m in months:
        row = plans.get(m)
        if row is None:
            per_month.append({"month": m, "status": "missing", "plan_id": None, "published_at": None})
            continue
        status = "unpublished" if row.published_at is None else "on_time" if row.on_time else "late"
        published = _DATETIME.dump_python(row.published_at, mode="json") if row.published_at else None
        per_month.append({"month": m, "status": status, "plan_id": str(row.id), "published_at": published})

    def with_status(status: str) -> Doc:
        return id_set([p["plan_id"] for p in per_month if p["status"] == status and p["plan_id"] is not None])

    return {
        "per_month": per_month,
        "on_time": with_status("on_time"),
        "late": with_status("late"),
        "unpublished": with_status("unpublished"),
        "missing_months": [p["month"] for p in per_month if p["status"] == "missing"],
        "all_published_before_month": all(p["status"] == "on_time" for p in per_month),
    }


async def _brand(session: AsyncSession, sites: list[uuid.UUID], date_from: dt.date, date_to: dt.date) -> Any:
    order = (BrandProject.started_on, BrandProject.id)
    service_project = BrandProject.kind == BrandProjectKind.SERVICE_PROJECT.value
    rows = await _by_site(
        session,
        select(
            BrandProject.site_id,
            text_ids(
                BrandProject.id, *order, where=BrandProject.kind == BrandProjectKind.OVERALL_BRAND.value
            ).label("overall"),
            text_ids(BrandProject.id, *order, where=and_(service_project, BrandProject.implemented)).label(
                "implemented"
            ),
            text_ids(
                BrandProject.id, *order, where=and_(service_project, not_(BrandProject.implemented))
            ).label("planned"),
        )
        .where(_among(BrandProject.site_id, sites), BrandProject.started_on.between(date_from, date_to))
        .group_by(BrandProject.site_id),
    )

    def of(site_id: uuid.UUID) -> Doc:
        row = rows.get(site_id)
        overall = id_set(row.overall if row else None)
        return {
            "overall_brand": overall,
            "overall_brand_exists": overall["count"] > 0,
            "implemented_projects": id_set(row.implemented if row else None),
            "planned_projects": id_set(row.planned if row else None),
        }

    return of


def _recognition_doc(rows: list[Any]) -> Doc:
    grouped: dict[str, dict[str, Ids]] = {kind.value: {} for kind in RecognitionKind}
    for row in rows:
        grouped.setdefault(row.kind, {})[row.level] = row.ids

    def of_kind(kind: RecognitionKind) -> Doc:
        levels = grouped[kind.value]
        reached = [level for level in LEVEL_ORDER if levels.get(level.value)]
        highest = reached[-1] if reached else None
        return {
            "highest_level": highest.value if highest else None,
            "highest": id_set(levels.get(highest.value) if highest else None),
            "by_level": {level.value: id_set(levels.get(level.value)) for level in LEVEL_ORDER},
        }

    return {
        kind.value: of_kind(kind)
        for kind in (RecognitionKind.EXCHANGE, RecognitionKind.MEDIA, RecognitionKind.HONOUR)
    }
