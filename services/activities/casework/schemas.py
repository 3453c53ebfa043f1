from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.activities.dates import PastDate
from services.activities.personal import DISCLOSURE_DESCRIPTION, Disclosure, IdNumber, PersonName, PhoneNumber
from services.common.enums import CaseStage, TargetGroup
from services.common.stored import StoredRead


def not_null(value: object) -> object:
    """In an update, leaving a member out keeps it; `null` is refused for members that cannot be empty."""
    if value is None:
        raise ValueError("must not be null")
    return value


# ---- cases (个案, MZ/T 094) ------------------------------------------------------------------------


class CaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID
    target_group: TargetGroup
    opened_on: PastDate = Field(description="Intake date (接案); not in the future.")
    closed_on: PastDate | None = Field(None, description="Closing date (结案); not before `opened_on`.")
    stage: CaseStage = CaseStage.INTAKE
    sessions: int = Field(0, ge=0, le=10_000, description="Sessions held with the client so far.")
    client_name: PersonName = Field(description="Personal data: masked in lists and for other roles.")
    client_phone: PhoneNumber | None = None
    client_id_number: IdNumber | None = Field(
        None,
        description="Input only: stored masked (3301**********1234) with a keyed digest, never whole.",
    )
    summary: str = Field("", max_length=10_000, description="Anonymised summary (evaluators read it).")


class CaseUpdate(BaseModel):
    """Members left out stay as they are; `null` clears an optional member."""

    model_config = ConfigDict(extra="forbid")

    target_group: TargetGroup | None = None
    opened_on: PastDate | None = None
    closed_on: PastDate | None = None
    stage: CaseStage | None = None
    sessions: int | None = Field(None, ge=0, le=10_000)
    client_name: PersonName | None = None
    client_phone: PhoneNumber | None = None
    client_id_number: IdNumber | None = Field(None, description="Input only; replaces the stored one.")
    summary: str | None = Field(None, max_length=10_000)

    @field_validator("target_group", "opened_on", "stage", "sessions", "client_name", "summary")
    @classmethod
    def _not_null(cls, value: object) -> object:
        return not_null(value)


class CaseRead(StoredRead):
    id: uuid.UUID
    site_id: uuid.UUID
    target_group: TargetGroup
    opened_on: dt.date
    closed_on: dt.date | None
    stage: CaseStage
    sessions: int
    client_name: str | None = Field(description="张* in lists and for roles other than operator/district.")
    client_phone: str | None = Field(description="138****5678 in lists and for other roles.")
    client_id_number_masked: str | None = Field(description="Always masked: 3301**********1234.")
    summary: str
    personal_data: Disclosure = Field(description=DISCLOSURE_DESCRIPTION)
    created_at: dt.datetime
    updated_at: dt.datetime


# ---- groups (小组, MZ/T 095) ------------------------------------------------------------------------


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID
    name: str = Field(min_length=1, max_length=100)
    target_group: TargetGroup
    opened_on: PastDate
    closed_on: PastDate | None = Field(None, description="Not before `opened_on`.")
    stage: CaseStage = CaseStage.INTAKE
    sessions: int = Field(0, ge=0, le=10_000)
    members: int = Field(0, ge=0, le=10_000)
    summary: str = Field("", max_length=10_000)


class GroupUpdate(BaseModel):
    """Members left out stay as they are; `closed_on: null` reopens the group."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100)
    target_group: TargetGroup | None = None
    opened_on: PastDate | None = None
    closed_on: PastDate | None = None
    stage: CaseStage | None = None
    sessions: int | None = Field(None, ge=0, le=10_000)
    members: int | None = Field(None, ge=0, le=10_000)
    summary: str | None = Field(None, max_length=10_000)

    @field_validator("name", "target_group", "opened_on", "stage", "sessions", "members", "summary")
    @classmethod
    def _not_null(cls, value: object) -> object:
        return not_null(value)


class GroupRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    site_id: uuid.UUID
    name: str
    target_group: TargetGroup
    opened_on: dt.date
    closed_on: dt.date | None
    stage: CaseStage
    sessions: int
    members: int
    summary: str
    created_at: dt.datetime
    updated_at: dt.datetime
