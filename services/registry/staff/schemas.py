"""Operating staff of a site and their training (5.2 运营人员, 5.2.3 继续教育)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from services.common.enums import Certificate
from services.common.stored import StoredRead

TENTH = Decimal("0.1")

Name = Annotated[str, Field(min_length=1, max_length=50, examples=["王晓梅"])]
Position = Annotated[str, Field(max_length=50, examples=["项目主管"])]
CertificateNo = Annotated[str, Field(min_length=1, max_length=50)]


class StaffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID
    name: Name
    position: Position = ""
    full_time: bool = True
    certificate: Certificate = Certificate.NONE
    certificate_no: CertificateNo | None = None
    active_from: dt.date
    active_until: dt.date | None = Field(
        default=None, description="Last working day; on or after `active_from`."
    )


class StaffUpdate(BaseModel):
    """Only the fields sent are changed; `certificate_no` and `active_until` may be set to null."""

    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID | None = None
    name: Name | None = None
    position: Position | None = None
    full_time: bool | None = None
    certificate: Certificate | None = None
    certificate_no: CertificateNo | None = None
    active_from: dt.date | None = None
    active_until: dt.date | None = None

    @field_validator("site_id", "name", "position", "full_time", "certificate", "active_from")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Defaults are not validated, so this only refuses an explicit null.
        if value is None:
            raise ValueError("may not be null")
        return value


class StaffRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    site_id: uuid.UUID
    name: str
    position: str
    full_time: bool
    certificate: Certificate
    certificate_no: str | None
    active_from: dt.date
    active_until: dt.date | None
    active: bool = Field(description="Working at the site today (Asia/Shanghai).")
    training_year: int = Field(description="The year `training_hours` counts (`?year=`, default this year).")
    training_hours: Decimal = Field(description="Training hours recorded in `training_year`.")
    training_shortfall: bool = Field(
        description="5.2.3: a certified social worker (junior, intermediate or senior) with fewer than "
        "50 training hours in `training_year`."
    )
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


def _to_tenths(value: Decimal) -> Decimal:
    return value.quantize(TENTH)


Hours = Annotated[
    Decimal,
    Field(
        gt=0,
        le=24,
        max_digits=3,
        decimal_places=1,
        description="Hours, more than 0 and at most 24.",
        examples=["3.5"],
    ),
    AfterValidator(_to_tenths),
]


class TrainingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: dt.date = Field(description="Day of the training; not in the future (Asia/Shanghai).")
    topic: Annotated[str, Field(min_length=1, max_length=200, examples=["社会工作伦理与实务继续教育"])]
    hours: Hours


class TrainingRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    staff_id: uuid.UUID
    date: dt.date
    topic: str
    hours: Decimal
    created_at: dt.datetime
