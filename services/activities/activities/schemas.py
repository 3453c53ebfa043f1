from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    computed_field,
    field_validator,
)

from services.activities.dates import PastTime as _PastTime
from services.common.enums import EvidenceKind, ServiceCategory, TargetGroup
from services.common.stored import StoredRead
from services.common.timeutil import SHANGHAI

PastTime = Annotated[
    _PastTime,
    Field(
        examples=["2026-03-01T09:00:00+08:00"], description="RFC 3339 with a UTC offset; not in the future"
    ),
]

# Read back in business time (Asia/Shanghai), whatever offset the client wrote them with.
LocalTime = Annotated[dt.datetime, AfterValidator(lambda value: value.astimezone(SHANGHAI))]


class Evidence(BaseModel):
    """One piece of evidence (C15: 活动记录、通知、手写签到表、照片): a file stored elsewhere."""

    model_config = ConfigDict(extra="forbid")

    kind: EvidenceKind
    uri: str = Field(min_length=1, max_length=500, description="Where the file is kept")
    sha256: str | None = Field(
        None, pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 of the file, 64 hex digits (optional)"
    )

    @field_validator("sha256")
    @classmethod
    def _lower_case(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None


def ends_not_before_starts(ends_at: dt.datetime, starts_at: dt.datetime) -> None:
    if ends_at < starts_at:
        raise ValueError("must not be before starts_at")


class ActivityCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID
    category: ServiceCategory
    title: str = Field(min_length=1, max_length=200)
    is_theme: bool = Field(False, description="A theme culture activity (主题文化活动, C15)")
    starts_at: PastTime
    ends_at: PastTime
    location: str = Field("", max_length=200)
    attendance: int = Field(0, ge=0, le=100_000, description="Participants counted (C15: 50–100, >100)")
    target_groups: list[TargetGroup] = Field(default_factory=list, max_length=len(TargetGroup))
    partner_org_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=50, description="Registry organisations that co-ran it"
    )
    evidence: list[Evidence] = Field(default_factory=list, max_length=50)

    @field_validator("ends_at")
    @classmethod
    def _ends_after_starts(cls, value: dt.datetime, info: ValidationInfo) -> dt.datetime:
        starts_at = info.data.get("starts_at")
        if starts_at is not None:
            ends_not_before_starts(value, starts_at)
        return value


class ActivityUpdate(BaseModel):
    """Fields to change; `evidence` and `target_groups` replace the whole list."""

    model_config = ConfigDict(extra="forbid")

    category: ServiceCategory | None = None
    title: str | None = Field(None, min_length=1, max_length=200)
    is_theme: bool | None = None
    starts_at: PastTime | None = None
    ends_at: PastTime | None = None
    location: str | None = Field(None, max_length=200)
    attendance: int | None = Field(None, ge=0, le=100_000)
    target_groups: list[TargetGroup] | None = Field(None, max_length=len(TargetGroup))
    partner_org_ids: list[uuid.UUID] | None = Field(None, max_length=50)
    evidence: list[Evidence] | None = Field(None, max_length=50)


class ActivityRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    site_id: uuid.UUID
    category: ServiceCategory
    title: str
    is_theme: bool
    starts_at: LocalTime
    ends_at: LocalTime
    location: str
    attendance: int
    target_groups: list[TargetGroup]
    partner_org_ids: list[uuid.UUID]
    evidence: list[Evidence]
    has_sign_in_sheet: bool = Field(description="The evidence includes a sign-in sheet (手写签到表)")
    has_photo: bool = Field(description="The evidence includes a photo")
    created_at: dt.datetime
    updated_at: dt.datetime

    @computed_field(  # type: ignore[prop-decorator]
        description="A theme activity with a sign-in sheet and a photo: counts for C15 (主题活动)"
    )
    @property
    def counts_for_theme(self) -> bool:
        return self.is_theme and self.has_sign_in_sheet and self.has_photo
