from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from services.activities.dates import PastDate
from services.common.enums import DeliberationForm, ExecutionStatus
from services.common.stored import StoredRead


class DeliberationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID
    held_on: PastDate
    topic: str = Field(min_length=1, max_length=200)
    form: DeliberationForm
    participants: int = Field(0, ge=0, le=100_000)
    rules: str = Field("", max_length=5000, description="议事规则 agreed for this deliberation")
    resolution: str = Field("", max_length=5000, description="议事结果 (the resolution reached)")
    execution_status: ExecutionStatus = ExecutionStatus.PENDING


class DeliberationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    held_on: PastDate | None = None
    topic: str | None = Field(None, min_length=1, max_length=200)
    form: DeliberationForm | None = None
    participants: int | None = Field(None, ge=0, le=100_000)
    rules: str | None = Field(None, max_length=5000)
    resolution: str | None = Field(None, max_length=5000)
    execution_status: ExecutionStatus | None = None


class DeliberationRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    site_id: uuid.UUID
    held_on: dt.date
    topic: str
    form: DeliberationForm
    participants: int
    rules: str
    resolution: str
    execution_status: ExecutionStatus
    complete: bool = Field(description="Rules, resolution and execution recorded: counts for C17 (民主协商)")
    created_at: dt.datetime
    updated_at: dt.datetime
