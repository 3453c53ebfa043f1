from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
)

from services.activities.dates import PastDate
from services.common.stored import StoredRead

CENT = Decimal("0.01")
LineName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]

# Money in yuan: a decimal string with at most two decimals ("12000.50"), never a float (SPEC §3).
_money_out = PlainSerializer(lambda v: str(v.quantize(CENT)), return_type=str, when_used="always")
MoneyIn = Annotated[
    Decimal,
    Field(max_digits=14, decimal_places=2, examples=["12000.50"]),
    AfterValidator(lambda v: v.quantize(CENT)),
]
Money = Annotated[Decimal, _money_out, Field(examples=["12000.50"])]


def _not_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _not_zero(value: Decimal) -> Decimal:
    if value == 0:
        raise ValueError("must not be zero")
    return value


class BudgetLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line: LineName = Field(description="Budget line name, e.g. 活动经费")
    amount: Annotated[MoneyIn, AfterValidator(_not_negative)]


def _unique_lines(lines: list[BudgetLine] | None) -> list[BudgetLine] | None:
    if lines is None:
        return None
    names = [line.line for line in lines]
    if len(set(names)) != len(names):
        raise ValueError("budget line names must be unique")
    return lines


class FundAccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID
    project: str = Field(min_length=1, max_length=200)
    year: int = Field(ge=2000, le=2100)
    budget_lines: list[BudgetLine] = Field(min_length=1, max_length=100)

    _check_lines = field_validator("budget_lines")(_unique_lines)


class FundAccountUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str | None = Field(None, min_length=1, max_length=200)
    budget_lines: list[BudgetLine] | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="The complete new list of lines. A line may not drop below what is already spent on it "
        "(409 `budget_line_exceeded`), nor disappear while it has entries (409 `budget_line_in_use`).",
    )

    _check_lines = field_validator("budget_lines")(_unique_lines)


class BudgetLineRead(BaseModel):
    line: str
    amount: Money


class FundAccountRead(StoredRead):
    id: uuid.UUID
    site_id: uuid.UUID
    project: str
    year: int
    budget_lines: list[BudgetLineRead]
    created_at: dt.datetime
    updated_at: dt.datetime


class FundEntryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line: LineName = Field(description="One of the account's budget lines")
    amount: Annotated[MoneyIn, AfterValidator(_not_zero)] = Field(
        description="Yuan spent; negative only to reverse an earlier entry (with `reverses_entry_id`)"
    )
    spent_on: PastDate
    voucher_no: str = Field("", max_length=50, description="凭证号")
    purpose: str = Field("", max_length=200)
    reverses_entry_id: uuid.UUID | None = Field(
        None, description="The entry this negative entry reverses (same line; in total at most its amount)"
    )


class FundEntryUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line: LineName | None = None
    amount: Annotated[MoneyIn, AfterValidator(_not_zero)] | None = None
    spent_on: PastDate | None = None
    voucher_no: str | None = Field(None, max_length=50)
    purpose: str | None = Field(None, max_length=200)


class FundEntryRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account_id: uuid.UUID
    site_id: uuid.UUID
    line: str
    amount: Money
    spent_on: dt.date
    voucher_no: str
    purpose: str
    reverses_entry_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
    editable_until: dt.datetime = Field(description="End of the 24-hour correction window")


class FundLineReport(BaseModel):
    line: str
    budget: Money
    spent: Money
    remaining: Money
    rate: Decimal | None = Field(
        description="spent / budget as a decimal string, 4 places (0.6000 = 60 %); null for a zero budget",
    )


class FundAccountReport(BaseModel):
    account_id: uuid.UUID
    site_id: uuid.UUID
    project: str
    year: int
    lines: list[FundLineReport]
    total: FundLineReport
