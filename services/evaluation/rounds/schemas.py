"""Evaluation rounds (7.1.2 midterm/final, 7.2.1 quarterly) and their evaluator assignments."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from services.common.enums import RoundKind, RoundState, ScorecardState, Tier
from services.common.stored import StoredRead

# A round looks at one year at most (7.1.2: "以年度为单位").
MAX_PERIOD = dt.timedelta(days=365)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RoundCreate(_Input):
    year: int = Field(ge=2000, le=2100, examples=[2026])
    kind: RoundKind
    title: str = Field("", max_length=200, examples=["2026年度终期评估"])
    period_start: dt.date = Field(description="First day whose records count")
    period_end: dt.date = Field(description="Last day whose records count (≥ period_start, ≤ a year later)")
    rubric_version: str = Field(min_length=1, max_length=32, examples=["2023-draft"])
    site_ids: list[uuid.UUID] | None = Field(
        None, min_length=1, max_length=1000, description="Sites in scope; default: every `operating` site"
    )

    @field_validator("period_end")
    @classmethod
    def _period(cls, period_end: dt.date, info: ValidationInfo) -> dt.date:
        start = info.data.get("period_start")
        if start is not None and period_end < start:
            raise ValueError("must be on or after period_start")
        if start is not None and period_end - start > MAX_PERIOD:
            raise ValueError("a round covers at most one year")
        return period_end


class TierResult(BaseModel):
    scorecard_id: uuid.UUID
    site_id: uuid.UUID
    total: Decimal | None
    max_applicable: Decimal | None
    ratio: Decimal | None
    tier: Tier | None


class RoundRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    year: int
    kind: RoundKind
    title: str
    period_start: dt.date
    period_end: dt.date
    rubric_version: str
    state: RoundState
    created_by: str
    closed_at: dt.datetime | None
    published_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    site_count: int = Field(0, description="Scorecards (one per site) in the round")
    scorecards_by_state: dict[ScorecardState, int] = Field(default_factory=dict)


class RoundPublished(RoundRead):
    tiers: list[TierResult] = Field(
        description="Per site: total, ratio and — for a final round — the tier written to the registry"
    )


class AssignmentCreate(_Input):
    evaluator_id: uuid.UUID = Field(description="An active user with role `evaluator`")
    site_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000, description="Sites of the round")


class AssignmentRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    round_id: uuid.UUID
    evaluator_id: uuid.UUID
    evaluator_organization_id: uuid.UUID
    site_id: uuid.UUID
    created_by: str
    created_at: dt.datetime


class AssignmentList(BaseModel):
    items: list[AssignmentRead]


class ComputedScorecard(BaseModel):
    scorecard_id: uuid.UUID
    site_id: uuid.UUID
    state: ScorecardState
    total: Decimal | None
    max_applicable: Decimal | None
    ratio: Decimal | None
    satisfaction_rate: Decimal | None


class SkippedScorecard(BaseModel):
    scorecard_id: uuid.UUID
    site_id: uuid.UUID
    state: ScorecardState = Field(description="Submitted or accepted: not with the evaluator, left as it is")


class RoundComputed(BaseModel):
    round_id: uuid.UUID
    computed_at: dt.datetime
    computed: list[ComputedScorecard] = Field(description="Every scorecard computed, by site id")
    skipped: list[SkippedScorecard] = Field(description="Scorecards not computed because of their state")
