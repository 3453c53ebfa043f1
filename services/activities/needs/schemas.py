from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.activities.dates import PastDate
from services.activities.personal import DISCLOSURE_DESCRIPTION, Disclosure, IdNumber, PersonName, PhoneNumber
from services.common.enums import ReferralStatus, ServiceCategory
from services.common.stored import StoredRead


def not_null(value: object) -> object:
    """In an update, leaving a member out keeps it; `null` is refused for members that cannot be empty."""
    if value is None:
        raise ValueError("must not be null")
    return value


# ---- needs (需求信息档案, 6.1.2) --------------------------------------------------------------------


class NeedCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID
    recorded_on: PastDate = Field(description="Day the need was recorded; not in the future.")
    category: ServiceCategory | None = Field(None, description="The service category it fits, if any (5.4).")
    description: str = Field(min_length=1, max_length=5000)
    resident_name: PersonName | None = Field(
        None, description="Personal data: masked in lists and for other roles."
    )
    resident_phone: PhoneNumber | None = None
    resident_id_number: IdNumber | None = Field(None, description="Input only: stored masked, never whole.")


class NeedUpdate(BaseModel):
    """Members left out stay as they are; `null` clears an optional member."""

    model_config = ConfigDict(extra="forbid")

    recorded_on: PastDate | None = None
    category: ServiceCategory | None = None
    description: str | None = Field(None, min_length=1, max_length=5000)
    resident_name: PersonName | None = None
    resident_phone: PhoneNumber | None = None
    resident_id_number: IdNumber | None = Field(None, description="Input only; replaces the stored one.")

    @field_validator("recorded_on", "description")
    @classmethod
    def _not_null(cls, value: object) -> object:
        return not_null(value)


class NeedRead(StoredRead):
    id: uuid.UUID
    site_id: uuid.UUID
    recorded_on: dt.date
    category: ServiceCategory | None
    description: str
    resident_name: str | None
    resident_phone: str | None
    resident_id_number_masked: str | None = Field(description="Always masked: 3301**********1234.")
    personal_data: Disclosure = Field(description=DISCLOSURE_DESCRIPTION)
    created_at: dt.datetime
    updated_at: dt.datetime


# ---- referrals (转介, 5.3) --------------------------------------------------------------------------


class ReferralCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    need_id: uuid.UUID = Field(description="The need referred; its site is the referral's site.")
    referred_on: PastDate = Field(description="Not in the future, not before the need was recorded.")
    to_name: str = Field(min_length=1, max_length=100, description="Department or organisation referred to.")
    to_organization_id: uuid.UUID | None = Field(None, description="The registry organisation, if it is one.")


class ReferralUpdate(BaseModel):
    """Corrections only: the status moves with `POST /referrals/{id}/accept` and `/close`."""

    model_config = ConfigDict(extra="forbid")

    referred_on: PastDate | None = None
    to_name: str | None = Field(None, min_length=1, max_length=100)
    to_organization_id: uuid.UUID | None = None

    @field_validator("referred_on", "to_name")
    @classmethod
    def _not_null(cls, value: object) -> object:
        return not_null(value)


class ReferralClose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: str = Field(min_length=1, max_length=5000, description="What came of the referral (转介结果).")


class ReferralRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    site_id: uuid.UUID
    need_id: uuid.UUID
    referred_on: dt.date
    to_name: str
    to_organization_id: uuid.UUID | None
    status: ReferralStatus
    accepted_on: dt.date | None
    closed_on: dt.date | None
    outcome: str
    created_at: dt.datetime
    updated_at: dt.datetime
