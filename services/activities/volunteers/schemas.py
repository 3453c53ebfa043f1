from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from services.activities.dates import PastDate
from services.activities.personal import DISCLOSURE_DESCRIPTION, Disclosure, PersonName, PhoneNumber
from services.common.stored import StoredRead

TENTH = Decimal("0.1")


def _to_tenths(value: Decimal) -> Decimal:
    return value.quantize(TENTH)


Hours = Annotated[
    Decimal,
    Field(
        gt=0,
        le=24,
        max_digits=3,
        decimal_places=1,
        description="Hours served that day: more than 0, at most 24, one decimal.",
        examples=["3.5"],
    ),
    AfterValidator(_to_tenths),
]


def not_null(value: object) -> object:
    """In an update, leaving a member out keeps it; `null` is refused for members that cannot be empty."""
    if value is None:
        raise ValueError("must not be null")
    return value


# ---- volunteers (在册志愿者) -------------------------------------------------------------------------


class VolunteerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID
    name: PersonName = Field(description="Personal data: masked in lists and for other roles.")
    phone: PhoneNumber | None = None
    registered_on: PastDate = Field(description="Day registered on the site's roster; not in the future.")


class VolunteerUpdate(BaseModel):
    """Members left out stay as they are; `phone: null` clears the phone."""

    model_config = ConfigDict(extra="forbid")

    name: PersonName | None = None
    phone: PhoneNumber | None = None
    registered_on: PastDate | None = None

    @field_validator("name", "registered_on")
    @classmethod
    def _not_null(cls, value: object) -> object:
        return not_null(value)


class VolunteerRead(StoredRead):
    id: uuid.UUID
    site_id: uuid.UUID
    name: str
    phone: str | None
    registered_on: dt.date
    hours_total: Decimal = Field(description="All hours recorded for this volunteer (C13 counts hours).")
    personal_data: Disclosure = Field(description=DISCLOSURE_DESCRIPTION)
    created_at: dt.datetime
    updated_at: dt.datetime


# ---- volunteer hours -------------------------------------------------------------------------------


class VolunteerHoursCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    volunteer_id: uuid.UUID = Field(description="A volunteer of a site you may write for; its site is used.")
    activity_id: uuid.UUID | None = Field(None, description="The activity served at, of the same site.")
    date: PastDate = Field(description="Day served; not in the future.")
    hours: Hours


class VolunteerHoursUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    activity_id: uuid.UUID | None = None
    date: PastDate | None = None
    hours: Hours | None = None

    @field_validator("date", "hours")
    @classmethod
    def _not_null(cls, value: object) -> object:
        return not_null(value)


class VolunteerHoursRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    site_id: uuid.UUID
    volunteer_id: uuid.UUID
    activity_id: uuid.UUID | None
    date: dt.date
    hours: Decimal
    created_at: dt.datetime
    updated_at: dt.datetime
