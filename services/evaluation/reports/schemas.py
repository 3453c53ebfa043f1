"""Projection (self-assessment) and overview reports (SPEC §6)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.enums import IndicatorSource, RoundKind, Tier

# ---- projection ------------------------------------------------------------------------------------


class NeedRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    input: str = Field(description="The rubric input (or a part of it, e.g. themes.per_month.2026-03)")
    current: Any = Field(description="Its value now (numbers with decimals as strings)")
    target: Any = Field(description="The value that earns the full points")
    more: Any = Field(None, description="target − current when both are numbers (negative: fewer)")
    next_target: Any = Field(None, description="For counts in steps and levels: the next step or level")
    more_for_next: Any = None


class MissingRead(BaseModel):
    points: Decimal = Field(description="What closing this gap would add")
    text_en: str
    text_zh: str
    either: bool = Field(description="Any one of the `needs` closes the gap (alternatives)")
    needs: list[NeedRead]


ProjectionBasis = Literal["computed", "last_scorecard", "assumed_zero"]


class IndicatorProjectionRead(BaseModel):
    code: str
    seq: int
    dimension: str
    sub_dimension: str
    name: str
    source: IndicatorSource
    max_points: Decimal
    points: Decimal = Field(description="Projected points")
    missing_points: Decimal = Field(description="max_points − points")
    basis: ProjectionBasis = Field(
        description="`computed` from this year's data; `last_scorecard` from the last accepted "
        "scorecard (manual indicators, the survey); `assumed_zero` when there is none"
    )
    assumed_zero: bool = Field(
        description="Counted as 0 (wholly or in part) for lack of an evaluator's value"
    )
    assumed_inputs: list[str] = Field(description="The inputs counted as 0/none")
    summary_en: str = Field(description="What is missing for full points, in one line")
    summary_zh: str
    missing: list[MissingRead]
    rule: list[str] = Field(description="The engine's lines for the projected points")
    message: str | None = Field(description="Why part of the rule could not be evaluated, if so")
    inputs: dict[str, Any] = Field(description="The inputs read: value, source, counted ids, excluded")


class ScorecardBasis(BaseModel):
    scorecard_id: uuid.UUID
    round_id: uuid.UUID
    round_title: str
    round_year: int
    round_kind: RoundKind
    accepted_at: dt.datetime | None
    satisfaction_rate: Decimal | None


class ProjectionRead(BaseModel):
    site_id: uuid.UUID
    site_name: str
    street_id: uuid.UUID
    year: int
    period_start: dt.date
    period_end: dt.date = Field(description="Today, or 31 December for a past year")
    months_covered: int = Field(description="Months the period touches (C15's yearly counts are pro-rated)")
    rubric_version: str
    last_scorecard: ScorecardBasis | None = Field(
        description="The accepted scorecard the manual indicators and C18 are taken from"
    )
    total: Decimal
    max_points: Decimal
    ratio: Decimal | None
    tier: Tier | None = Field(description="The hub type the projected ratio would give (Annex A)")
    missing_points: Decimal
    indicators: list[IndicatorProjectionRead]


# ---- overview --------------------------------------------------------------------------------------


class RoundRef(BaseModel):
    id: uuid.UUID
    title: str
    year: int
    published_at: dt.datetime | None


class TierCounts(BaseModel):
    demonstration: int = 0
    standard: int = 0
    basic: int = 0


class YearSummary(BaseModel):
    year: int
    rounds: list[RoundRef] = Field(description="The published final rounds counted")
    site_count: int
    tiers: TierCounts
    average_total: Decimal | None
    average_ratio: Decimal | None
    average_satisfaction_rate: Decimal | None


class IndicatorAverage(BaseModel):
    code: str
    name: str
    max_points: Decimal
    average_points: Decimal | None
    average_share: Decimal | None = Field(description="average_points / max_points")
    previous_average_points: Decimal | None
    sites: int


TierChange = Literal["up", "down", "same", "new"]


class RankedSite(BaseModel):
    rank: int = Field(description="1 = highest total; equal totals share a rank")
    site_id: uuid.UUID
    site_name: str
    street_id: uuid.UUID
    scorecard_id: uuid.UUID
    total: Decimal | None
    max_applicable: Decimal | None
    ratio: Decimal | None
    tier: Tier | None
    satisfaction_rate: Decimal | None
    previous_total: Decimal | None
    previous_ratio: Decimal | None
    previous_tier: Tier | None
    delta_total: Decimal | None = Field(description="total − previous year's total")
    tier_change: TierChange = Field(description="Against the previous year; `new` without a previous result")


class SatisfactionSite(BaseModel):
    site_id: uuid.UUID
    site_name: str
    street_id: uuid.UUID
    rate: Decimal | None
    previous_rate: Decimal | None


class SatisfactionReport(BaseModel):
    threshold: Decimal = Field(description="7.1.1: residents' satisfaction should be at least 90 %")
    average_rate: Decimal | None
    previous_average_rate: Decimal | None
    sites: list[SatisfactionSite] = Field(description="Lowest rate first")
    below_threshold: list[SatisfactionSite]


class OverviewRead(BaseModel):
    year: int
    street_id: uuid.UUID | None = Field(description="The street reported on; null: the whole district")
    current: YearSummary
    previous: YearSummary
    indicators: list[IndicatorAverage]
    ranking: list[RankedSite]
    satisfaction: SatisfactionReport
