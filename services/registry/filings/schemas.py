"""Construction filings (6.2.2): filing windows, filings and their history, conflicts, build lists."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from services.common.enums import FilingKind, FilingState
from services.common.stored import StoredRead, reads_stored

FacilityType = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Lower-case code of the planned facility (e.g. `hub`, `elderly_care`, `canteen`). "
        "Two live filings for one community with the same code in one year are reported as conflicts.",
        examples=["elderly_care"],
    ),
]
Title = Annotated[str, Field(min_length=1, max_length=200, examples=["星民社区美好生活共同体建设计划"])]
FilerName = Annotated[str, Field(min_length=1, max_length=100, examples=["西兴街道"])]
CENTS = Decimal("0.01")


def _two_places(value: Decimal) -> Decimal:
    # Answer "1300000.00" for an input of "1300000", as the stored NUMERIC(…, 2) does.
    return value.quantize(CENTS)


Area = Annotated[
    Decimal,
    Field(ge=0, max_digits=10, decimal_places=2, description="Square metres.", examples=["650.00"]),
    AfterValidator(_two_places),
]
Money = Annotated[
    Decimal,
    Field(
        ge=0, max_digits=14, decimal_places=2, description="Yuan, a decimal string.", examples=["1200000.50"]
    ),
    AfterValidator(_two_places),
]
Comment = Annotated[str, Field(max_length=2000)]
Year = Annotated[int, Field(ge=2000, le=2100, examples=[2027])]


def _finish_not_before_start(value: dt.date | None, info: ValidationInfo) -> dt.date | None:
    start = info.data.get("planned_start")
    if value is not None and start is not None and value < start:
        raise ValueError("must be on or after planned_start")
    return value


# ------------------------------------------------------------------------------------------------
# Filing windows
# ------------------------------------------------------------------------------------------------


class FilingWindowSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opens_on: dt.date = Field(examples=["2027-01-01"])
    closes_on: dt.date = Field(examples=["2027-03-31"])

    @field_validator("closes_on")
    @classmethod
    def _closes_after_opens(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        opens_on = info.data.get("opens_on")
        if opens_on is not None and value < opens_on:
            raise ValueError("must be on or after opens_on")
        return value


class FilingWindowRead(BaseModel):
    year: int
    opens_on: dt.date
    closes_on: dt.date
    default: bool = Field(description="True when the district set no window: 1 Jan – 31 Mar applies.")
    open_today: bool = Field(description="Whether today (Asia/Shanghai) lies inside the window.")
    updated_at: dt.datetime | None = None


# ------------------------------------------------------------------------------------------------
# Filings
# ------------------------------------------------------------------------------------------------


class FilingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: Year
    kind: FilingKind
    filer_name: FilerName
    street_id: uuid.UUID
    community_id: uuid.UUID
    facility_type: FacilityType | None = Field(
        default=None, description="Required for `facility`; a `hub_plan` defaults to `hub`."
    )
    title: Title
    planned_area_m2: Area | None = None
    budget: Money | None = None
    funding_source: str = Field(default="", max_length=100, examples=["区级财政+街道配套"])
    planned_start: dt.date | None = None
    planned_finish: dt.date | None = None
    description: str = Field(default="", max_length=10_000)
    filer_organization_id: uuid.UUID | None = Field(
        default=None,
        description="District only: the organisation a facility filing is made for. An operator's "
        "filings are always its own organisation's.",
    )
    late_allowed: bool | None = Field(
        default=None, description="District only: may be submitted outside the filing window."
    )

    _finish = field_validator("planned_finish")(_finish_not_before_start)


class FilingUpdate(BaseModel):
    """Only the fields sent change. `planned_area_m2`, `budget`, `planned_start` and
    `planned_finish` may be cleared with null; the others may not."""

    model_config = ConfigDict(extra="forbid")

    filer_name: FilerName | None = None
    community_id: uuid.UUID | None = None
    facility_type: FacilityType | None = None
    title: Title | None = None
    planned_area_m2: Area | None = None
    budget: Money | None = None
    funding_source: str | None = Field(default=None, max_length=100)
    planned_start: dt.date | None = None
    planned_finish: dt.date | None = None
    description: str | None = Field(default=None, max_length=10_000)
    late_allowed: bool | None = Field(
        default=None, description="District only: may be submitted outside the filing window."
    )

    _finish = field_validator("planned_finish")(_finish_not_before_start)

    @field_validator(
        "filer_name",
        "community_id",
        "facility_type",
        "title",
        "funding_source",
        "description",
        "late_allowed",
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Defaults are not validated, so this only refuses an explicit null.
        if value is None:
            raise ValueError("may not be null")
        return value


class FilingRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    year: int
    kind: FilingKind
    state: FilingState
    filer_name: str
    filer_organization_id: uuid.UUID | None
    street_id: uuid.UUID
    community_id: uuid.UUID
    facility_type: str
    title: str
    planned_area_m2: Decimal | None
    budget: Decimal | None
    funding_source: str
    planned_start: dt.date | None
    planned_finish: dt.date | None
    description: str
    late_allowed: bool
    site_id: uuid.UUID | None = Field(description="The planned site created when a hub_plan was approved.")
    created_by: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class TransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: Comment | None = Field(default=None, examples=["请补充预算明细"])


class FilingTransitionRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    filing_id: uuid.UUID
    action: str = Field(description="`create`, `submit`, `return`, `approve` or `reject`.")
    from_state: FilingState | None
    to_state: FilingState
    actor: str = Field(description="The user id (token subject) who acted.")
    actor_role: str
    comment: str | None
    occurred_at: dt.datetime


class ConflictGroup(BaseModel):
    street_id: uuid.UUID
    community_id: uuid.UUID
    facility_type: str
    filing_ids: list[uuid.UUID]
    count: int


class ConflictReport(BaseModel):
    year: int
    items: list[ConflictGroup]


# ------------------------------------------------------------------------------------------------
# Build lists
# ------------------------------------------------------------------------------------------------


class BuildListItem(BaseModel):
    """A frozen copy of an approved filing as it was when the list was published."""

    model_config = ConfigDict(extra="allow")

    filing_id: uuid.UUID
    kind: FilingKind
    title: str
    filer_name: str
    filer_organization_id: uuid.UUID | None = None
    street_id: uuid.UUID
    community_id: uuid.UUID
    facility_type: str
    planned_area_m2: Decimal | None = None
    budget: Decimal | None = None
    funding_source: str = ""
    planned_start: dt.date | None = None
    planned_finish: dt.date | None = None
    description: str = ""
    site_id: uuid.UUID | None = None
    approved_at: dt.datetime | None = None


class BuildListRead(StoredRead):
    year: int
    version: int
    published_at: dt.datetime
    published_by: str
    item_count: int
    total_budget: Decimal = Field(description="Sum of the items' budgets (yuan).")
    items: list[BuildListItem]

    @classmethod
    @reads_stored("registry.build_lists", row=1)
    def from_row(cls, row: Any) -> BuildListRead:
        items = [BuildListItem.model_validate(item) for item in row.items]
        return cls(
            year=row.year,
            version=row.version,
            published_at=row.published_at,
            published_by=row.published_by,
            item_count=len(items),
            total_budget=sum((item.budget or Decimal(0) for item in items), Decimal("0.00")),
            items=items,
        )
