"""The gateway's tables (schema ``gateway``): users, API clients, signing keys, refresh tokens."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, MetaData, String, Text, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.app import ServiceTables
from services.common.auth import USER_ROLES
from services.common.constraints import enum_check
from services.common.db import NAMING_CONVENTION
from services.common.enums import Role
from services.common.timeutil import utc_now


class Base(DeclarativeBase):
    metadata = MetaData(schema="gateway", naming_convention=NAMING_CONVENTION)


metadata = Base.metadata
tables = ServiceTables(metadata)


class User(Base):
    __tablename__ = "users"
    # People: `integration` is the role of API clients only.
    __table_args__ = (enum_check("role", Role, members=USER_ROLES),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    street_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped whenever the user is deactivated or its role/scope changes: access tokens carry it
    # as `ver`, and the gateway refuses a token whose `ver` is not the current one.
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    # Row version for ETag / If-Match.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utc_now, onupdate=utc_now
    )


class ApiClient(Base):
    """Client-credentials clients: district data platforms (role `integration`) and our own services."""

    __tablename__ = "api_clients"
    # Registered through the API as `integration`; the services' own clients are not rows here.
    __table_args__ = (enum_check("role", Role, members=[Role.INTEGRATION]),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class SigningKey(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(32), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    # A new key is published in the JWKS at once but signs only from `activates_at`, so every
    # service has fetched it before the first token signed with it arrives.
    activates_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    # When a newer key takes over signing; the key stays in the JWKS until its last token expired.
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family", "family_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The token issued when this one was used (so a retry within the grace period can be answered).
    replaced_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class LoginFailure(Base):
    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_username_at", "username", "occurred_at"),
        Index("ix_login_failures_ip_at", "client_ip", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    client_ip: Mapped[str] = mapped_column(String(64))
    # From the one clock, like the window it is counted in (identity.service); the server default
    # only serves rows written by hand.
    occurred_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utc_now, server_default=func.now()
    )
