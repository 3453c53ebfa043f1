from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.stored import StoredRead

UserRole = Literal["district", "street", "operator", "evaluator"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Input):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    display_name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=10, max_length=256)
    role: UserRole
    street_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _scope_matches_role(self) -> UserCreate:
        check_role_scope(self.role, self.street_id, self.organization_id)
        return self


def check_role_scope(role: str, street_id: uuid.UUID | None, organization_id: uuid.UUID | None) -> None:
    """A street user needs a street; operators and evaluators need an organisation; nobody needs both."""
    if role == "street" and street_id is None:
        raise ValueError("street_id is required for role street")
    if role in ("operator", "evaluator") and organization_id is None:
        raise ValueError(f"organization_id is required for role {role}")
    if role != "street" and street_id is not None:
        raise ValueError("street_id is only allowed for role street")
    if role not in ("operator", "evaluator") and organization_id is not None:
        raise ValueError("organization_id is only allowed for roles operator and evaluator")


class UserUpdate(_Input):
    display_name: str | None = Field(None, min_length=1, max_length=100)
    password: str | None = Field(None, min_length=10, max_length=256)
    role: UserRole | None = None
    street_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    active: bool | None = None


class UserRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    display_name: str
    role: str
    street_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class ClientCreate(_Input):
    client_id: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=100)


class ClientRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    client_id: str
    name: str
    role: str
    active: bool
    created_at: dt.datetime


class ClientCreated(ClientRead):
    client_secret: str = Field(description="Shown once; store it now. Only its hash is kept.")


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_in: int
    refresh_token: str | None = None


class RefreshRequest(_Input):
    refresh_token: str = Field(min_length=10, max_length=200)


class MeRead(BaseModel):
    sub: str
    role: str
    username: str | None = None
    display_name: str | None = None
    street_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    sites: list[uuid.UUID] | None = None
    expires_at: dt.datetime
