from __future__ import annotations

import uuid
from enum import StrEnum

from pydantic import BaseModel, Field

MAX_RECORDS = 10_000


class BatchKind(StrEnum):
    """What one batch holds: records of a single kind, each shaped like that resource's POST body."""

    ACTIVITIES = "activities"
    VISITS = "visits"
    VOLUNTEER_HOURS = "volunteer-hours"
    DELIBERATIONS = "deliberations"
    SAFETY_TRAININGS = "safety-trainings"


class RecordError(BaseModel):
    line: int = Field(description="1-based NDJSON line number, or array index + 1")
    field: str = Field(
        description='The field at fault ("" for the record as a whole), e.g. `evidence.0.kind`'
    )
    message: str


class BatchResult(BaseModel):
    kind: BatchKind
    count: int
    ids: list[uuid.UUID] = Field(description="Ids of the created records, in the order of the batch")
