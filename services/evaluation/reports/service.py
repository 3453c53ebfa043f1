"""Reports: a site's projection (self-assessment), the district and street overview, the scorecard
as a spreadsheet.

Scope:

* projection — district and integration any site; a street the sites of its street; an operator
  the sites of its claim; an evaluator the sites it is assigned to in a round still open or closed.
  Out of scope answers 404 ``site_not_found`` like an unknown site. The manual indicators and C18
  come from the site's last accepted scorecard — for streets, operators and evaluators only one of
  a published round (they see scorecards only after publication).
* overview — the district, any street or the whole district; a street only its own street
  (another street's id answers 404 ``street_not_found``).
* export — exactly the scorecard's own visibility
  (:func:`services.evaluation.scorecards.service.get_scorecard`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal
from typing import Any

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.enums import RoundKind, RoundState, ScorecardState, Tier
from services.common.errors import NotFound, ValidationFailed, define_titles
from services.common.timeutil import today_shanghai
from services.evaluation.clients import DirectoryEntry, Upstream
from services.evaluation.improvement.service import SiteNotFound
from services.evaluation.reports import export, projection
from services.evaluation.reports.schemas import (
    IndicatorAverage,
    IndicatorProjectionRead,
    MissingRead,
    NeedRead,
    OverviewRead,
    ProjectionRead,
    RankedSite,
    RoundRef,
    SatisfactionReport,
    SatisfactionSite,
    ScorecardBasis,
    TierCounts,
    YearSummary,
)
from services.evaluation.rounds.models import Assignment, Round
from services.evaluation.rubrics import service as rubrics
from services.evaluation.rubrics.models import Rubric
from services.evaluation.scorecards import service as scorecards
from services.evaluation.scorecards.inputs import activity_inputs, registry_inputs
from services.evaluation.scorecards.models import Scorecard, ScorecardItem

UNRESTRICTED = frozenset({"district", "integration", "service"})
DEFAULT_RUBRIC = "2023-draft"
POINTS = Decimal("0.01")
RATIO = Decimal("0.0001")
TIER_ORDER = {Tier.BASIC.value: 0, Tier.STANDARD.value: 1, Tier.DEMONSTRATION.value: 2}

define_titles({"street_not_found": ("Street not found", "街道不存在")})


class StreetNotFound(NotFound):
    code = "street_not_found"

    def __init__(self) -> None:
        super().__init__("No street with this id in your scope.", detail_zh="街道不存在。")


def _points(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(POINTS)


def _pts(value: Decimal) -> Decimal:
    return Decimal(value).quantize(POINTS)


def _ratio(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(RATIO, rounding=ROUND_DOWN)


# ---- projection ------------------------------------------------------------------------------------


async def _assigned(session: AsyncSession, evaluator_id: uuid.UUID | None, site_id: uuid.UUID) -> bool:
    if evaluator_id is None:
        return False
    found = await session.scalar(
        select(Assignment.id)
        .join(Round, Round.id == Assignment.round_id)
        .where(
            Assignment.evaluator_id == evaluator_id,
            Assignment.site_id == site_id,
            Round.state.in_([RoundState.OPEN.value, RoundState.CLOSED.value]),
        )
        .limit(1)
    )
    return found is not None


async def site_in_scope(
    session: AsyncSession, upstream: Upstream, principal: Principal, site_id: uuid.UUID
) -> DirectoryEntry:
    """The registry's entry for a site the principal may project, else 404 ``site_not_found``."""
    if principal.role == "operator" and not (principal.sites and site_id in principal.sites):
        raise SiteNotFound()
    if principal.role == "evaluator" and not await _assigned(session, principal.user_id, site_id):
        raise SiteNotFound()
    if principal.role not in (*UNRESTRICTED, "operator", "evaluator", "street"):
        raise SiteNotFound()
    entries = await upstream.site_directory(ids=[site_id])
    if not entries:
        raise SiteNotFound()
    entry = entries[0]
    if principal.role == "street" and entry.street_id != principal.street_id:
        raise SiteNotFound()
    return entry


async def _rubric_for(session: AsyncSession, site_id: uuid.UUID, version: str | None) -> Rubric:
    """The rubric asked for; by default the one of the site's latest round, else Table C.1."""
    if version is not None:
        rubric = await rubrics.find_rubric(session, version)
        if rubric is None:
            raise ValidationFailed(
                "rubric_version",
                f"no rubric version {version!r}",
                message_zh=f"评估细则版本“{version}”不存在",
            )
        return rubric
    latest = await session.scalar(
        select(Round.rubric_version)
        .join(Scorecard, Scorecard.round_id == Round.id)
        .where(Scorecard.site_id == site_id)
        .order_by(Round.period_end.desc(), Round.created_at.desc())
        .limit(1)
    )
    return await rubrics.get_rubric(session, latest or DEFAULT_RUBRIC)


async def last_accepted_scorecard(
    session: AsyncSession, principal: Principal, site_id: uuid.UUID
) -> tuple[Scorecard, Round] | None:
    """The site's most recently accepted scorecard (of a published round, unless the principal sees
    unpublished scorecards anyway)."""
    stmt = (
        select(Scorecard, Round)
        .join(Round, Round.id == Scorecard.round_id)
        .where(Scorecard.site_id == site_id, Scorecard.state == ScorecardState.ACCEPTED.value)
        .order_by(Scorecard.accepted_at.desc().nulls_last(), Scorecard.id)
        .limit(1)
    )
    if principal.role not in UNRESTRICTED:
        stmt = stmt.where(Round.state == RoundState.PUBLISHED.value)
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


def _missing_read(gap: projection.Gap) -> MissingRead:
    return MissingRead(
        points=_pts(gap.points),
        text_en=gap.text_en,
        text_zh=gap.text_zh,
        either=gap.either,
        needs=[NeedRead.model_validate(need) for need in gap.needs],
    )


def _indicator_read(item: projection.IndicatorProjection) -> IndicatorProjectionRead:
    indicator = item.indicator
    if item.gaps:
        summary_en = "; ".join(g.text_en for g in item.gaps)
        summary_zh = ";".join(g.text_zh for g in item.gaps)
    else:
        summary_en, summary_zh = "full points", "已得满分"
    return IndicatorProjectionRead(
        code=indicator["code"],
        seq=indicator["seq"],
        dimension=indicator["dimension"],
        sub_dimension=indicator["sub_dimension"],
        name=indicator["name"],
        source=indicator["source"],
        max_points=_pts(item.max_points),
        points=_pts(item.points),
        missing_points=_pts(item.missing_points),
        basis=item.basis,  # type: ignore[arg-type]
        assumed_zero=item.basis == projection.ASSUMED_ZERO or bool(item.assumed_zero),
        assumed_inputs=item.assumed_zero,
        summary_en=summary_en,
        summary_zh=summary_zh,
        missing=[_missing_read(g) for g in item.gaps],
        rule=item.rule,
        message=item.message,
        inputs=item.inputs,
    )


async def site_projection(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    site_id: uuid.UUID,
    year: int,
    rubric_version: str | None,
) -> ProjectionRead:
    today = today_shanghai()
    if year > today.year:
        raise ValidationFailed("year", "must not be in the future", message_zh="不能晚于今年")
    upstream = Upstream.of(request)
    entry = await site_in_scope(session, upstream, principal, site_id)
    start, end = dt.date(year, 1, 1), min(today, dt.date(year, 12, 31))
    rubric = await _rubric_for(session, site_id, rubric_version)
    facts = await upstream.evaluation_inputs(site_id, start, end)
    metrics = await upstream.activity_metrics(site_id, start, end)
    records = {**registry_inputs(facts), **activity_inputs(metrics)}
    last = await last_accepted_scorecard(session, principal, site_id)
    manual_by_code: dict[str, Mapping[str, Any]] | None = None
    basis = None
    if last is not None:
        card, found = last
        items = await session.scalars(select(ScorecardItem).where(ScorecardItem.scorecard_id == card.id))
        manual_by_code = {item.code: dict(item.manual_inputs or {}) for item in items}
        basis = ScorecardBasis(
            scorecard_id=card.id,
            round_id=found.id,
            round_title=found.title,
            round_year=found.year,
            round_kind=found.kind,  # type: ignore[arg-type]
            accepted_at=card.accepted_at,
            satisfaction_rate=card.satisfaction_rate,
        )
    result = projection.project(
        rubric.document,
        records,
        manual_by_code,
        last[0].satisfaction_rate if last is not None else None,
        projection.Context(metrics=metrics, facts=facts),
    )
    return ProjectionRead(
        site_id=entry.id,
        site_name=entry.name,
        street_id=entry.street_id,
        year=year,
        period_start=start,
        period_end=end,
        months_covered=len(metrics.get("months", [])),
        rubric_version=rubric.version,
        last_scorecard=basis,
        total=_pts(result.total),
        max_points=_pts(result.max_points),
        ratio=result.ratio,
        tier=result.tier,  # type: ignore[arg-type]
        missing_points=_pts(result.max_points - result.total),
        indicators=[_indicator_read(i) for i in result.indicators],
    )


# ---- overview --------------------------------------------------------------------------------------


def _final_cards(year: int, street_id: uuid.UUID | None) -> Any:
    """Per site, its scorecard in the latest published final round of ``year`` (a subquery)."""
    stmt: Any = (
        select(
            Scorecard.id.label("scorecard_id"),
            Scorecard.site_id,
            Scorecard.street_id,
            Scorecard.site_name,
            Scorecard.total,
            Scorecard.max_applicable,
            Scorecard.ratio,
            Scorecard.tier,
            Scorecard.satisfaction_rate,
            Round.id.label("round_id"),
            Round.rubric_version,
        )
        .join(Round, Round.id == Scorecard.round_id)
        .where(
            Round.year == year,
            Round.kind == RoundKind.FINAL.value,
            Round.state == RoundState.PUBLISHED.value,
            Scorecard.state == ScorecardState.ACCEPTED.value,
        )
        .distinct(Scorecard.site_id)
        .order_by(Scorecard.site_id, Round.published_at.desc(), Round.id)
    )
    if street_id is not None:
        stmt = stmt.where(Scorecard.street_id == street_id)
    return stmt.subquery(f"final_cards_{year}")


async def _year_summary(session: AsyncSession, year: int, cards: Any) -> YearSummary:
    totals = (
        await session.execute(
            select(
                func.count(),
                func.avg(cards.c.total),
                func.avg(cards.c.ratio),
                func.avg(cards.c.satisfaction_rate),
            ).select_from(cards)
        )
    ).one()
    tiers = TierCounts()
    for tier, count in await session.execute(
        select(cards.c.tier, func.count()).select_from(cards).group_by(cards.c.tier)
    ):
        if tier in TIER_ORDER:
            setattr(tiers, tier, int(count))
    rounds = await session.execute(
        select(Round.id, Round.title, Round.year, Round.published_at)
        .where(Round.id.in_(select(cards.c.round_id)))
        .order_by(Round.published_at, Round.id)
    )
    return YearSummary(
        year=year,
        rounds=[RoundRef(id=r.id, title=r.title, year=r.year, published_at=r.published_at) for r in rounds],
        site_count=int(totals[0]),
        tiers=tiers,
        average_total=_points(totals[1]),
        average_ratio=_ratio(totals[2]),
        average_satisfaction_rate=_ratio(totals[3]),
    )


async def _indicator_averages(session: AsyncSession, cards: Any) -> dict[str, tuple[Decimal, Decimal, int]]:
    rows = await session.execute(
        select(
            ScorecardItem.code,
            func.avg(func.coalesce(ScorecardItem.final_points, 0)),
            func.max(ScorecardItem.max_points),
            func.count(),
        )
        .join(cards, cards.c.scorecard_id == ScorecardItem.scorecard_id)
        .where(ScorecardItem.applicable.is_(True))
        .group_by(ScorecardItem.code)
        .order_by(ScorecardItem.code)
    )
    return {code: (Decimal(avg), Decimal(maximum), int(n)) for code, avg, maximum, n in rows}


async def _indicator_names(session: AsyncSession, cards: Any) -> dict[str, str]:
    versions = list(await session.scalars(select(cards.c.rubric_version).distinct()))
    names: dict[str, str] = {}
    for version in [*versions, DEFAULT_RUBRIC]:
        rubric = await rubrics.find_rubric(session, version)
        for indicator in rubric.document["indicators"] if rubric else []:
            names.setdefault(indicator["code"], indicator["name"])
    return names


def _tier_change(tier: str | None, previous: str | None) -> str:
    if previous is None or tier is None:
        return "new"
    before, now = TIER_ORDER.get(previous, -1), TIER_ORDER.get(tier, -1)
    return "up" if now > before else "down" if now < before else "same"


async def overview(
    session: AsyncSession, principal: Principal, year: int, street_id: uuid.UUID | None
) -> OverviewRead:
    if principal.role == "street":
        if street_id is None:
            street_id = principal.street_id
        if street_id is None or street_id != principal.street_id:
            raise StreetNotFound()
    current, previous = _final_cards(year, street_id), _final_cards(year - 1, street_id)

    this_year = await _year_summary(session, year, current)
    last_year = await _year_summary(session, year - 1, previous)

    averages = await _indicator_averages(session, current)
    previous_averages = await _indicator_averages(session, previous)
    names = await _indicator_names(session, current)
    indicators = [
        IndicatorAverage(
            code=code,
            name=names.get(code, code),
            max_points=_pts(maximum),
            average_points=_points(average),
            average_share=_ratio(average / maximum) if maximum else None,
            previous_average_points=_points(previous_averages[code][0])
            if code in previous_averages
            else None,
            sites=n,
        )
        for code, (average, maximum, n) in averages.items()
    ]

    rank = func.rank().over(order_by=current.c.total.desc().nulls_last()).label("rank")
    rows = await session.execute(
        select(
            rank,
            current,
            previous.c.total.label("previous_total"),
            previous.c.ratio.label("previous_ratio"),
            previous.c.tier.label("previous_tier"),
            previous.c.satisfaction_rate.label("previous_rate"),
        )
        .select_from(current)
        .outerjoin(previous, previous.c.site_id == current.c.site_id)
        .order_by(rank, current.c.site_name, current.c.site_id)
    )
    ranking: list[RankedSite] = []
    rates: list[SatisfactionSite] = []
    for row in rows:
        delta = (
            row.total - row.previous_total
            if row.total is not None and row.previous_total is not None
            else None
        )
        ranking.append(
            RankedSite(
                rank=int(row.rank),
                site_id=row.site_id,
                site_name=row.site_name,
                street_id=row.street_id,
                scorecard_id=row.scorecard_id,
                total=_points(row.total),
                max_applicable=_points(row.max_applicable),
                ratio=row.ratio,
                tier=row.tier,
                satisfaction_rate=row.satisfaction_rate,
                previous_total=_points(row.previous_total),
                previous_ratio=row.previous_ratio,
                previous_tier=row.previous_tier,
                delta_total=_points(delta),
                tier_change=_tier_change(row.tier, row.previous_tier),  # type: ignore[arg-type]
            )
        )
        rates.append(
            SatisfactionSite(
                site_id=row.site_id,
                site_name=row.site_name,
                street_id=row.street_id,
                rate=row.satisfaction_rate,
                previous_rate=row.previous_rate,
            )
        )
    threshold = projection.SATISFACTION_TARGET
    rates.sort(key=lambda s: (s.rate is None, s.rate if s.rate is not None else Decimal(0), s.site_name))
    return OverviewRead(
        year=year,
        street_id=street_id,
        current=this_year,
        previous=last_year,
        indicators=indicators,
        ranking=ranking,
        satisfaction=SatisfactionReport(
            threshold=threshold,
            average_rate=this_year.average_satisfaction_rate,
            previous_average_rate=last_year.average_satisfaction_rate,
            sites=rates,
            below_threshold=[s for s in rates if s.rate is not None and s.rate < threshold],
        ),
    )


# ---- export ----------------------------------------------------------------------------------------


async def scorecard_export(
    session: AsyncSession, principal: Principal, scorecard_id: uuid.UUID
) -> tuple[bytes, str]:
    """The scorecard's workbook and its Content-Disposition, for whoever may read the scorecard."""
    card = await scorecards.get_scorecard(session, principal, scorecard_id)
    read = await scorecards.read_scorecard(session, card)
    return export.scorecard_workbook(read), export.content_disposition(read)
