"""Scorecards (SPEC §6): one per site and round, its 21 items, findings, survey and transitions."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.common.enums import (
    FindingSeverity,
    IndicatorSource,
    RoundKind,
    RoundState,
    ScorecardState,
    SurveyChannel,
    Tier,
)
from services.common.stored import StoredRead
from services.evaluation.improvement.schemas import ImprovementPlanRead

MAX_SURVEY_BATCH = 500


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ---- reads -----------------------------------------------------------------------------------------


class ScorecardSummary(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    round_id: uuid.UUID
    site_id: uuid.UUID
    street_id: uuid.UUID
    site_name: str
    state: ScorecardState
    total: Decimal | None = Field(description="Σ final points of the applicable indicators")
    max_applicable: Decimal | None = Field(description="Σ maximum points of the applicable indicators")
    ratio: Decimal | None = Field(description="total / max_applicable, rounded down to 4 decimals")
    tier: Tier | None = Field(description="Set when a final round is published (Annex A)")
    satisfaction_rate: Decimal | None = Field(description="C18: answers rated 4 or 5 / all answers")
    computed_at: dt.datetime | None
    submitted_at: dt.datetime | None
    accepted_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class RoundBrief(BaseModel):
    id: uuid.UUID
    year: int
    kind: RoundKind
    title: str
    state: RoundState
    period_start: dt.date
    period_end: dt.date
    rubric_version: str


class ManualInputSpec(BaseModel):
    name: str
    type: str
    levels: list[str] | None = None
    max: int | None = None
    zh: str = ""


class ItemRead(StoredRead):
    code: str
    seq: int
    dimension: str
    sub_dimension: str
    name: str
    rule_text: str
    source: IndicatorSource
    max_points: Decimal
    applicable: bool
    auto_points: Decimal | None = Field(
        description="Computed from the registry, the activities and the survey"
    )
    manual_inputs: dict[str, Any] = Field(description="The evaluator's values (manual and hybrid indicators)")
    manual_points: Decimal | None = Field(
        description="A manual indicator's points from the evaluator's values"
    )
    override_points: Decimal | None = Field(description="The evaluator's override of the computed value")
    override_reason: str | None
    final_points: Decimal | None = Field(
        description="What counts: manual points, else override, else computed"
    )
    explanation: dict[str, Any] = Field(
        description="`rule` lines, the `inputs` read (value, source, counted ids, excluded with why), "
        "`counted` ids per input, `excluded` records with why, and `message` when not computed"
    )
    manual_input_spec: list[ManualInputSpec] = Field(description="The values PUT …/items/{code} accepts")
    updated_by: str | None
    updated_at: dt.datetime


class FindingRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    scorecard_id: uuid.UUID
    round_id: uuid.UUID
    site_id: uuid.UUID
    indicator_code: str
    code: str | None = Field(description="Machine code of an automatic finding, e.g. satisfaction_below_90")
    text: str
    severity: FindingSeverity
    created_by: str
    created_at: dt.datetime


class SurveySummary(BaseModel):
    respondents: int
    by_channel: dict[SurveyChannel, int]
    min_per_channel: int = Field(description="Respondents needed per channel before submitting (7.1.1)")
    complete: bool = Field(description="Every channel has at least min_per_channel respondents")
    answers: int = Field(description="Ratings given (a respondent may skip a dimension)")
    satisfied_answers: int
    satisfaction_rate: Decimal | None = Field(description="satisfied_answers / answers; null without answers")


class TransitionRead(BaseModel):
    action: str
    actor: str
    actor_role: str
    at: dt.datetime
    note: str | None
    before: str | None
    after: str | None


class ScorecardRead(ScorecardSummary):
    round: RoundBrief
    items: list[ItemRead]
    findings: list[FindingRead]
    survey: SurveySummary
    history: list[TransitionRead] = Field(description="Submissions, returns, acceptances and reopenings")
    open_improvement_plans: list[ImprovementPlanRead] = Field(
        default_factory=list,
        description="The site's improvement plans not verified yet, from earlier rounds (7.2.2)",
    )


# ---- writes ----------------------------------------------------------------------------------------


class ItemUpdate(_Input):
    """Either `inputs` (the evaluator's values of a manual indicator, or of a hybrid one that declares
    manual inputs such as C10) or `override_points` + `reason` (an auto or hybrid indicator)."""

    inputs: dict[str, Any] | None = Field(
        None,
        description="Every declared manual input by its full name, e.g. "
        '{"manual.C04.waste_sorting": true, "manual.C04.issues_found": 1}',
    )
    override_points: Decimal | None = Field(
        None, description="0 … max_points in steps of 0.5; null clears the override"
    )
    reason: str | None = Field(
        None,
        max_length=2000,
        description="Why the computed value is overridden, or why the indicator does not apply",
    )
    applicable: bool | None = Field(
        None,
        description="false: the indicator does not apply to this site (needs `reason`); it then counts "
        "neither in the total nor in the maximum (Annex A: ratio = total / max of applicable indicators)",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> ItemUpdate:
        kinds = [
            self.inputs is not None,
            "override_points" in self.model_fields_set,
            self.applicable is not None,
        ]
        if sum(kinds) != 1:
            raise ValueError(
                "send exactly one of: inputs (manual values), override_points (with a reason), "
                "applicable (false with a reason)"
            )
        return self


class FindingCreate(_Input):
    indicator_code: str = Field(pattern=r"^C\d{2}$", examples=["C04"])
    text: str = Field(min_length=1, max_length=2000)
    severity: FindingSeverity


class SurveyRatings(_Input):
    """Ratings 1–5 of the six dimensions of C18; a respondent may skip some, but not all."""

    space: int | None = Field(None, ge=1, le=5, description="空间改造")
    functions: int | None = Field(None, ge=1, le=5, description="功能构成")
    service: int | None = Field(None, ge=1, le=5, description="服务水平")
    pricing: int | None = Field(None, ge=1, le=5, description="惠民定价")
    participation: int | None = Field(None, ge=1, le=5, description="参与积极性")
    belonging: int | None = Field(None, ge=1, le=5, description="社区归属感")

    @model_validator(mode="after")
    def _at_least_one(self) -> SurveyRatings:
        if not self.given():
            raise ValueError("rate at least one dimension")
        return self

    def given(self) -> dict[str, int]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class SurveyResponseCreate(_Input):
    channel: SurveyChannel
    ratings: SurveyRatings
    respondent_phone: str | None = Field(
        None, pattern=r"^\+?[0-9][0-9 -]{4,19}$", description="Stored masked only (138****5678)"
    )

    @field_validator("respondent_phone")
    @classmethod
    def _digits_only(cls, value: str | None) -> str | None:
        return value.replace(" ", "").replace("-", "") if value else value


class SurveyBatchCreate(_Input):
    responses: list[SurveyResponseCreate] = Field(min_length=1, max_length=MAX_SURVEY_BATCH)


class SurveyWriteResult(BaseModel):
    created: int
    survey: SurveySummary
    finding: FindingRead | None = Field(description="The open satisfaction_below_90 finding, if any")


class CommentBody(_Input):
    comment: str = Field(
        min_length=1, max_length=2000, description="What to change (returned to the evaluator)"
    )


class ReasonBody(_Input):
    reason: str = Field(min_length=1, max_length=2000, description="Why an accepted scorecard is reopened")
