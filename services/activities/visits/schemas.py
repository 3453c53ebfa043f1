from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.activities.dates import PastTime
from services.activities.personal import DISCLOSURE_DESCRIPTION, Disclosure, IdNumber, PersonName, PhoneNumber
from services.common.stored import StoredRead


def not_null(value: object) -> object:
    """In an update, leaving a member out keeps it; `null` is refused for members that cannot be empty."""
    if value is None:
        raise ValueError("must not be null")
    return value


class VisitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID
    visited_at: PastTime = Field(description="RFC 3339 with offset; not in the future.")
    headcount: int = Field(1, ge=1, le=10_000, description="People who came together (at least 1).")
    purpose: str = Field("", max_length=200, description="来访事由")
    needs: str = Field("", max_length=5000, description="诉求 raised during the visit")
    visitor_name: PersonName | None = Field(
        None, description="Personal data: masked in lists and for other roles."
    )
    visitor_phone: PhoneNumber | None = None
    visitor_id_number: IdNumber | None = Field(None, description="Input only: stored masked, never whole.")


class VisitUpdate(BaseModel):
    """Members left out stay as they are; `null` clears an optional member."""

    model_config = ConfigDict(extra="forbid")

    visited_at: PastTime | None = None
    headcount: int | None = Field(None, ge=1, le=10_000)
    purpose: str | None = Field(None, max_length=200)
    needs: str | None = Field(None, max_length=5000)
    visitor_name: PersonName | None = None
    visitor_phone: PhoneNumber | None = None
    visitor_id_number: IdNumber | None = Field(None, description="Input only; replaces the stored one.")

    @field_validator("visited_at", "headcount", "purpose", "needs")
    @classmethod
    def _not_null(cls, value: object) -> object:
        return not_null(value)


class VisitRead(StoredRead):
    id: uuid.UUID
    site_id: uuid.UUID
    visited_at: dt.datetime
    headcount: int
    purpose: str
    needs: str
    visitor_name: str | None
    visitor_phone: str | None
    visitor_id_number_masked: str | None = Field(description="Always masked: 3301**********1234.")
    personal_data: Disclosure = Field(description=DISCLOSURE_DESCRIPTION)
    created_at: dt.datetime
    updated_at: dt.datetime
