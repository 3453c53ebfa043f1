from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.activities.dates import PastDate
from services.common.stored import StoredRead

# ---- safety trainings (消防安全教育培训) -------------------------------------------------------------


class SafetyTrainingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID
    held_on: PastDate
    topic: str = Field(min_length=1, max_length=200)
    attendance: int = Field(0, ge=0, le=100_000)
    has_record: bool = Field(True, description="A complete training record exists (C10: 教育培训记录)")


class SafetyTrainingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    held_on: PastDate | None = None
    topic: str | None = Field(None, min_length=1, max_length=200)
    attendance: int | None = Field(None, ge=0, le=100_000)
    has_record: bool | None = None


class SafetyTrainingRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    site_id: uuid.UUID
    held_on: dt.date
    topic: str
    attendance: int
    has_record: bool
    created_at: dt.datetime
    updated_at: dt.datetime


# ---- safety patrols (消防安全巡查) and their hazards --------------------------------------------------


class HazardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=500)
    due_on: dt.date = Field(description="Date by which the hazard must be fixed (not before the patrol)")
    rectified_on: PastDate | None = Field(None, description="Date it was fixed (not before the patrol)")


class HazardRead(BaseModel):
    index: int = Field(description="0-based position, used by the rectify action")
    description: str
    due_on: dt.date
    rectified_on: dt.date | None
    overdue: bool = Field(
        description="Not fixed by its due date: still open after `due_on`, or fixed after it "
        "(C10: 发现隐患未能及时整改)"
    )


class SafetyPatrolCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID
    patrolled_on: PastDate
    inspector: str = Field(min_length=1, max_length=50)
    has_record: bool = Field(True, description="A complete patrol record exists (C10: 巡查记录)")
    hazards: list[HazardIn] = Field(default_factory=list, max_length=100)


class SafetyPatrolUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patrolled_on: PastDate | None = None
    inspector: str | None = Field(None, min_length=1, max_length=50)
    has_record: bool | None = None
    hazards: list[HazardIn] | None = Field(
        None, max_length=100, description="Replaces the whole list of hazards"
    )


class SafetyPatrolRead(StoredRead):
    id: uuid.UUID
    site_id: uuid.UUID
    patrolled_on: dt.date
    inspector: str
    has_record: bool
    hazards: list[HazardRead]
    created_at: dt.datetime
    updated_at: dt.datetime


class HazardRectify(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rectified_on: dt.date | None = Field(
        None, description="Defaults to today (Asia/Shanghai); not in the future, not before the patrol"
    )


def hazard_overdue(hazard: dict[str, Any], today: dt.date) -> bool:
    due_on = dt.date.fromisoformat(hazard["due_on"])
    rectified = hazard.get("rectified_on")
    if rectified is None:
        return today > due_on
    return dt.date.fromisoformat(rectified) > due_on
