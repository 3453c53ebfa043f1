"""The metrics document the evaluation service reads (Table C.1 inputs, each with the records counted).

Every counted set is an :class:`IdSet` — ``{"count": n, "ids": [...]}`` with ``count == len(ids)`` —
so an indicator's explanation can name exactly which records earned (or missed) its points.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, PlainSerializer

from services.common.enums import RecognitionLevel

Hours = Annotated[Decimal, PlainSerializer(lambda v: str(v), return_type=str), Field(examples=["512.5"])]


class IdSet(BaseModel):
    count: int
    ids: list[uuid.UUID] = Field(description="The records counted, oldest first")

    @classmethod
    def of(cls, ids: list[uuid.UUID] | None) -> IdSet:
        ids = list(ids or [])
        return cls(count=len(ids), ids=ids)


class ThemeMonth(BaseModel):
    month: str = Field(examples=["2026-03"])
    with_evidence: IdSet = Field(
        description="Theme activities with a sign-in sheet AND a photo: count for C15"
    )
    without_evidence: IdSet = Field(
        description="Theme activities lacking a sign-in sheet or a photo: excluded"
    )


class ThemeMetrics(BaseModel):
    per_month: list[ThemeMonth] = Field(description="Every month of the period, zeros included")
    with_evidence: IdSet = Field(description="All counted theme activities of the period")
    without_evidence: IdSet = Field(description="All excluded theme activities of the period")
    attendance_50_100: IdSet = Field(description="Counted theme activities with 50 ≤ attendance ≤ 100")
    attendance_over_100: IdSet = Field(description="Counted theme activities with attendance > 100")


class ActivityMetrics(BaseModel):
    """Every activity of the period, theme or not, evidence or not (for explanations and projections)."""

    total: int
    attendance_50_100: IdSet
    attendance_over_100: IdSet


class CaseworkMetrics(BaseModel):
    cases: IdSet = Field(description="Cases (个案) opened in the period")
    groups: IdSet = Field(description="Groups (小组) opened in the period")
    cases_and_groups: int = Field(description="C16 input: cases + groups")


class DeliberationMetrics(BaseModel):
    complete: IdSet = Field(description="Rules, resolution and execution (`done`) recorded: count for C17")
    incomplete: IdSet = Field(description="Held in the period but missing one of the three: excluded")


class VolunteerMetrics(BaseModel):
    registered: IdSet = Field(description="Volunteers on the roster by the period's end (registered_on ≤ to)")
    hours: Hours = Field(description="Volunteer hours served in the period (C13)")
    hour_entries: IdSet = Field(description="The volunteer-hour records summed")


class TrainingMetrics(BaseModel):
    with_record: IdSet
    without_record: IdSet = Field(description="Records incomplete: −0.5 in C10")


class PatrolMonth(BaseModel):
    month: str
    patrols: IdSet


class OverdueHazard(BaseModel):
    patrol_id: uuid.UUID
    index: int = Field(description="0-based position in the patrol's `hazards`")
    description: str
    due_on: dt.date
    rectified_on: dt.date | None


class HazardMetrics(BaseModel):
    total: int = Field(description="Hazards found by the period's patrols")
    overdue_count: int = Field(description="Hazards not fixed by their due date: −0.5 each in C10")
    overdue: list[OverdueHazard]


class PatrolMetrics(BaseModel):
    per_month: list[PatrolMonth] = Field(description="Every month of the period, zeros included")
    months_without_patrol: list[str]
    with_record: IdSet
    without_record: IdSet = Field(description="Records incomplete: −0.5 in C10")


class SafetyMetrics(BaseModel):
    trainings: TrainingMetrics
    patrols: PatrolMetrics
    hazards: HazardMetrics


PlanStatus = Literal["on_time", "late", "unpublished", "missing"]


class PlanMonth(BaseModel):
    month: str
    status: PlanStatus = Field(
        description="`on_time`: published before the month began (C14); `late`: published after it began; "
        "`unpublished`: drafted, never published; `missing`: no plan"
    )
    plan_id: uuid.UUID | None
    published_at: dt.datetime | None


class PlanMetrics(BaseModel):
    per_month: list[PlanMonth] = Field(description="Every month of the period")
    on_time: IdSet
    late: IdSet
    unpublished: IdSet
    missing_months: list[str]
    all_published_before_month: bool = Field(description="C14 input: every month's plan was on time")


class BrandMetrics(BaseModel):
    overall_brand: IdSet = Field(description="Overall brands (整体性品牌) started in the period")
    overall_brand_exists: bool = Field(description="C19 input `brand.overall`")
    implemented_projects: IdSet = Field(description="Brand service projects carried out: 2.5 each in C19")
    planned_projects: IdSet = Field(description="Brand service projects not (yet) implemented: excluded")


class RecognitionKindMetrics(BaseModel):
    highest_level: RecognitionLevel | None = Field(description="Highest level reached; null when none")
    highest: IdSet = Field(description="The records at the highest level")
    by_level: dict[RecognitionLevel, IdSet] = Field(description="Every level, empty ones included")


class RecognitionMetrics(BaseModel):
    exchange: RecognitionKindMetrics = Field(description="经验交流/领导批示 (C20)")
    media: RecognitionKindMetrics = Field(description="媒体报道 (C20)")
    honour: RecognitionKindMetrics = Field(description="荣誉表彰 (C21)")


class SiteMetrics(BaseModel):
    site_id: uuid.UUID
    period_from: dt.date = Field(serialization_alias="from")
    period_to: dt.date = Field(serialization_alias="to")
    months: list[str] = Field(description="Months the period touches (YYYY-MM, Asia/Shanghai)")
    as_of: dt.date = Field(
        description="Today (Asia/Shanghai): hazards still open after their due date are overdue"
    )
    themes: ThemeMetrics
    activities: ActivityMetrics
    casework: CaseworkMetrics
    deliberations: DeliberationMetrics
    volunteers: VolunteerMetrics
    safety: SafetyMetrics
    plans: PlanMetrics
    brand: BrandMetrics
    recognition: RecognitionMetrics
