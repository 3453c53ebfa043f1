"""Service purchase contracts (5.1 服务购买合同)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field, field_validator

from services.common.enums import ContractMode
from services.common.stored import StoredRead
from services.common.timeutil import today_shanghai

CENT = Decimal("0.01")


def _to_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


Amount = Annotated[
    Decimal,
    Field(
        ge=0,
        max_digits=14,
        decimal_places=2,
        description="Contract amount in yuan, a decimal string (at most 2 decimals).",
        examples=["480000.00"],
    ),
    AfterValidator(_to_cents),
]
Deliverables = Annotated[str, Field(max_length=5000, description="服务内容与考核要求, free text.")]


class ContractCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID
    organization_id: uuid.UUID
    mode: ContractMode
    starts_on: dt.date
    ends_on: dt.date = Field(description="Last day covered; on or after `starts_on`.")
    amount: Amount
    deliverables: Deliverables = ""


class ContractUpdate(BaseModel):
    """Only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    mode: ContractMode | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    amount: Amount | None = None
    deliverables: Deliverables | None = None

    @field_validator("site_id", "organization_id", "mode", "starts_on", "ends_on", "amount", "deliverables")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Defaults are not validated, so this only refuses an explicit null.
        if value is None:
            raise ValueError("may not be null")
        return value


class ContractRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    site_id: uuid.UUID
    organization_id: uuid.UUID
    mode: ContractMode
    starts_on: dt.date
    ends_on: dt.date
    amount: Decimal
    deliverables: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def active(self) -> bool:
        """True when the contract covers today (Asia/Shanghai): its organisation operates the site."""
        return self.starts_on <= today_shanghai() <= self.ends_on
