from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

from services.common.enums import ServiceCategory
from services.common.stored import StoredRead

# Any four-digit year but 0000 (there is no year 0: "0000-01" must be a 422, not a failed date()).
MONTH_PATTERN = r"^(\d{3}[1-9]|\d{2}[1-9]\d|\d[1-9]\d{2}|[1-9]\d{3})-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN)


def parse_month(value: Any) -> dt.date:
    """ "2026-03" → 2026-03-01 (months are stored as their first day); dates pass as their month."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.replace(day=1)
    if not isinstance(value, str) or not _MONTH.match(value):
        raise ValueError('must be a month "YYYY-MM", e.g. "2026-03"')
    return dt.date(int(value[:4]), int(value[5:7]), 1)


def month_code(month: dt.date) -> str:
    return month.strftime("%Y-%m")


# A month (Asia/Shanghai): "2026-03" on the wire, the month's first day in the database.
Month = Annotated[
    dt.date,
    BeforeValidator(parse_month),
    PlainSerializer(month_code, return_type=str),
    WithJsonSchema({"type": "string", "pattern": MONTH_PATTERN, "examples": ["2026-03"]}),
]


class PlanItem(BaseModel):
    """One planned activity of the month."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date = Field(description="A day within the plan's month")
    title: str = Field(min_length=1, max_length=200)
    category: ServiceCategory
    location: str | None = Field(None, max_length=200)


class ActivityPlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID
    month: Month = Field(description='The planned month, "YYYY-MM" (may be a future month)')
    items: list[PlanItem] = Field(default_factory=list, max_length=500)


class ActivityPlanUpdate(BaseModel):
    """Only the items change; the site and month of a plan are fixed."""

    model_config = ConfigDict(extra="forbid")

    items: list[PlanItem] = Field(max_length=500, description="Replaces the whole list of items")


class ActivityPlanRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    site_id: uuid.UUID
    month: Month
    items: list[PlanItem]
    published_at: dt.datetime | None = Field(description="When the plan was announced (null: not yet)")
    published_late: bool = Field(
        description="Published after its month had begun (Asia/Shanghai): earns no C14 plan point"
    )
    created_at: dt.datetime
    updated_at: dt.datetime
