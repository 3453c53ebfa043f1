"""Improvement plans (7.2.2): the operator's answer to a finding of a published round."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.common.enums import FindingSeverity, ImprovementState
from services.common.stored import StoredRead
from services.common.timeutil import today_shanghai


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ImprovementPlanCreate(_Input):
    finding_id: uuid.UUID = Field(description="The finding answered; one plan per finding")
    actions: str = Field(
        min_length=1, max_length=5000, description="What will be done", examples=["每月增开2场主题活动"]
    )
    owner: str = Field(min_length=1, max_length=100, description="Who is responsible", examples=["张主任"])
    due_on: dt.date = Field(description="When the actions will be done: today or later (Asia/Shanghai)")

    @field_validator("due_on")
    @classmethod
    def _not_in_the_past(cls, due_on: dt.date) -> dt.date:
        if due_on < today_shanghai():
            raise ValueError("must be today or later")
        return due_on


class ProgressCreate(_Input):
    text: str = Field(min_length=1, max_length=2000, description="What was done since the last report")


class ProgressEntry(BaseModel):
    at: dt.datetime
    by: str = Field(description="The user who reported")
    text: str


class FindingBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    scorecard_id: uuid.UUID
    indicator_code: str
    code: str | None = Field(description="Machine code of an automatic finding, e.g. satisfaction_below_90")
    text: str
    severity: FindingSeverity


class ImprovementPlanRead(StoredRead):
    id: uuid.UUID
    finding: FindingBrief
    round_id: uuid.UUID
    site_id: uuid.UUID
    street_id: uuid.UUID
    actions: str
    owner: str
    due_on: dt.date
    state: ImprovementState
    overdue: bool = Field(description="Not done yet and past its due date")
    progress: list[ProgressEntry] = Field(description="Progress reports, oldest first")
    verified_by: str | None
    verified_at: dt.datetime | None
    created_by: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
