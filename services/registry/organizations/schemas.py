"""Organisations (社会组织 / 社区社会组织) with their 统一社会信用代码 (SPEC §4, GB 32100)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from services.common.enums import OrganizationKind, Registration
from services.common.stored import StoredRead
from services.registry.organizations.uscc import uscc_problem


def _normalise_uscc(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _check_uscc(value: str) -> str:
    problem = uscc_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


Uscc = Annotated[
    str,
    BeforeValidator(_normalise_uscc),
    AfterValidator(_check_uscc),
    Field(
        description="统一社会信用代码: 18 characters, check character per GB 32100. "
        "Lower-case input is accepted and stored upper-case.",
        examples=["91330100799655058B"],
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=100, examples=["滨江区亲邻社会工作服务中心"])]
ServiceArea = Annotated[str, Field(min_length=1, max_length=64)]


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    uscc: Uscc
    kind: OrganizationKind
    registration: Registration
    service_areas: list[ServiceArea] = Field(default_factory=list, max_length=50)


class OrganizationUpdate(BaseModel):
    """Only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    uscc: Uscc | None = None
    kind: OrganizationKind | None = None
    registration: Registration | None = None
    service_areas: list[ServiceArea] | None = Field(default=None, max_length=50)

    @field_validator("name", "uscc", "kind", "registration", "service_areas")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Defaults are not validated, so this only refuses an explicit null.
        if value is None:
            raise ValueError("may not be null")
        return value


class OrganizationRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    uscc: str
    kind: OrganizationKind
    registration: Registration
    service_areas: list[str]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
