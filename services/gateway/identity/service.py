"""Users, API clients, login, token issue/refresh/logout: the gateway's identity rules."""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.audit import record_audit
from services.common.auth import Principal
from services.common.errors import AppError, Conflict, NotFound, TooManyRequests, ValidationFailed
from services.common.etag import require_if_match
from services.common.timeutil import utc_now
from services.common.tokens import hash_opaque_token, new_opaque_token
from services.gateway.database import ApiClient, LoginFailure, RefreshToken, User, tables
from services.gateway.identity.live import announce_account_change
from services.gateway.identity.passwords import hash_password, verify_password
from services.gateway.identity.schemas import ClientCreate, UserCreate, UserUpdate, check_role_scope
from services.gateway.keys.service import KeyRing
from services.gateway.settings import GatewaySettings

SERVICE_NAMES = ("registry", "activities", "evaluation", "gateway")


class InvalidGrant(AppError):
    status = 400
    code = "invalid_grant"


# ---- users -------------------------------------------------------------------------------------


async def create_user(
    session: AsyncSession, data: UserCreate, *, actor: Principal | None, request: Request | None
) -> User:
    user = User(
        username=data.username,
        display_name=data.display_name,
        password_hash=await asyncio.to_thread(hash_password, data.password),
        role=data.role,
        street_id=data.street_id,
        organization_id=data.organization_id,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"Username '{data.username}' already exists.", detail_zh="用户名已存在。", code="username_taken"
        ) from exc
    await record_audit(
        session,
        tables.audit,
        actor=actor,
        action="user.create",
        object_type="user",
        object_id=user.id,
        after=_user_audit(user),
        request=request,
        actor_name="cli",
    )
    return user


def _user_audit(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "street_id": user.street_id,
        "organization_id": user.organization_id,
        "active": user.active,
    }


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("No user with this id.", detail_zh="用户不存在。", code="user_not_found")
    return user


async def update_user(
    session: AsyncSession, user_id: uuid.UUID, data: UserUpdate, *, actor: Principal, request: Request
) -> User:
    user = await session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise NotFound("No user with this id.", detail_zh="用户不存在。", code="user_not_found")
    if request is not None:
        require_if_match(request, user.id, user.version)
    before = _user_audit(user)
    changes = data.model_dump(exclude_unset=True)
    password = changes.pop("password", None)
    role = changes.get("role", user.role)
    street_id = changes.get("street_id", user.street_id if "role" not in changes else None)
    organization_id = changes.get("organization_id", user.organization_id if "role" not in changes else None)
    try:
        check_role_scope(role, street_id, organization_id)
    except ValueError as exc:
        field = "street_id" if "street" in str(exc) else "organization_id"
        raise ValidationFailed(field, str(exc)) from exc
    scope_changed = (role, street_id, organization_id) != (user.role, user.street_id, user.organization_id)
    user.role, user.street_id, user.organization_id = role, street_id, organization_id
    if "display_name" in changes and changes["display_name"] is not None:
        user.display_name = changes["display_name"]
    deactivated = changes.get("active") is False and user.active
    if changes.get("active") is not None:
        user.active = changes["active"]
    if password is not None:
        user.password_hash = await asyncio.to_thread(hash_password, password)
    if scope_changed or deactivated or password is not None:
        # Every access token carries the version: bumping it stops them all at once.
        user.token_version += 1
        await announce_account_change(session, str(user.id))
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utc_now())
        )
    user.updated_at = utc_now()
    user.version += 1
    await session.flush()
    await record_audit(
        session,
        tables.audit,
        actor=actor,
        action="user.update",
        object_type="user",
        object_id=user.id,
        before=before,
        after=_user_audit(user),
        request=request,
    )
    return user


# ---- API clients -------------------------------------------------------------------------------


async def create_client(
    session: AsyncSession, data: ClientCreate, *, actor: Principal, request: Request
) -> tuple[ApiClient, str]:
    secret = new_opaque_token()
    client = ApiClient(
        client_id=data.client_id, name=data.name, secret_hash=hash_opaque_token(secret), role="integration"
    )
    session.add(client)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"Client id '{data.client_id}' already exists.",
            detail_zh="客户端编号已存在。",
            code="client_id_taken",
        ) from exc
    await record_audit(
        session,
        tables.audit,
        actor=actor,
        action="client.create",
        object_type="api_client",
        object_id=client.id,
        after={"client_id": client.client_id, "name": client.name},
        request=request,
    )
    return client, secret


# ---- login throttling --------------------------------------------------------------------------


async def check_login_throttle(
    session: AsyncSession, settings: GatewaySettings, username: str, ip: str
) -> None:
    since = utc_now() - dt.timedelta(seconds=settings.login_window_s)
    account_failures = await session.scalar(
        select(func.count()).where(LoginFailure.username == username, LoginFailure.occurred_at > since)
    )
    ip_failures = await session.scalar(
        select(func.count()).where(LoginFailure.client_ip == ip, LoginFailure.occurred_at > since)
    )
    if (account_failures or 0) >= settings.login_max_failures_per_account or (
        ip_failures or 0
    ) >= settings.login_max_failures_per_ip:
        oldest = await session.scalar(
            select(func.min(LoginFailure.occurred_at)).where(
                (LoginFailure.username == username) | (LoginFailure.client_ip == ip),
                LoginFailure.occurred_at > since,
            )
        )
        retry_after = settings.login_window_s
        if oldest is not None:
            retry_after = max(1, int((oldest - since).total_seconds()) + 1)
        raise TooManyRequests(
            retry_after,
            "Too many failed logins; try again later.",
            detail_zh="登录失败次数过多,请稍后再试。",
            code="login_throttled",
        )


async def record_login_failure(sessionmaker: Any, username: str, ip: str) -> None:
    """Failures are recorded in their own transaction: the request's own one is rolled back by the error."""
    async with sessionmaker() as session, session.begin():
        session.add(LoginFailure(username=username, client_ip=ip))
        await session.execute(
            delete(LoginFailure).where(LoginFailure.occurred_at < utc_now() - dt.timedelta(days=1))
        )


# ---- authentication ----------------------------------------------------------------------------


async def authenticate_user(
    session: AsyncSession, request: Request, settings: GatewaySettings, username: str, password: str
) -> User:
    # The socket's address: a client-sent X-Forwarded-For must not reset its own throttle.
    ip = request.client.host if request.client else "unknown"
    await check_login_throttle(session, settings, username, ip)
    user = await session.scalar(select(User).where(User.username == username))
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        await record_login_failure(request.app.state.sessionmaker, username, ip)
        raise InvalidGrant("Wrong username or password.", detail_zh="用户名或密码错误。")
    return user


@dataclass(frozen=True)
class ClientIdentity:
    subject: str
    role: str
    version: int


async def authenticate_client(
    session: AsyncSession, settings: GatewaySettings, client_id: str, client_secret: str
) -> ClientIdentity:
    invalid = AppError(
        "Unknown client or wrong secret.",
        detail_zh="客户端编号或密钥错误。",
        code="invalid_client",
        status=401,
    )
    if client_id.startswith("service:"):
        name = client_id.removeprefix("service:")
        if name not in SERVICE_NAMES or not hmac.compare_digest(client_secret, settings.service_secret):
            raise invalid
        return ClientIdentity(subject=client_id, role="service", version=1)
    client = await session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    if (
        client is None
        or not client.active
        or not hmac.compare_digest(client.secret_hash, hash_opaque_token(client_secret))
    ):
        raise invalid
    return ClientIdentity(
        subject=f"client:{client.client_id}", role=client.role, version=client.token_version
    )


# ---- tokens ------------------------------------------------------------------------------------


def user_claims(user: User, sites: list[uuid.UUID] | None) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "role": user.role,
        "ver": user.token_version,
        "street_id": str(user.street_id) if user.street_id else None,
        "organization_id": str(user.organization_id) if user.organization_id else None,
    }
    if sites is not None:
        claims["sites"] = sorted(str(s) for s in sites)
    return claims


async def issue_access_token(
    session: AsyncSession, keyring: KeyRing, settings: GatewaySettings, subject: str, claims: dict[str, Any]
) -> str:
    signer = await keyring.signer(session)
    return signer.sign(subject, claims, ttl_s=settings.access_token_ttl_s)


async def new_refresh_token(
    session: AsyncSession, settings: GatewaySettings, user_id: uuid.UUID, family_id: uuid.UUID | None = None
) -> tuple[RefreshToken, str]:
    raw = new_opaque_token()
    token = RefreshToken(
        token_hash=hash_opaque_token(raw),
        family_id=family_id or uuid.uuid4(),
        user_id=user_id,
        issued_at=utc_now(),
        expires_at=utc_now() + dt.timedelta(seconds=settings.refresh_token_ttl_s),
    )
    session.add(token)
    await session.flush()
    return token, raw


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )


class RefreshRefused(Exception):
    """The refresh token cannot be used. Raised *after* any revocation was written:
    the router answers 400 without rolling back, so the revocation is kept."""


async def rotate_refresh_token(
    session: AsyncSession, settings: GatewaySettings, raw: str
) -> tuple[User, RefreshToken, str]:
    """Use a refresh token: returns the user and its successor token.

    A token used a second time means it was stolen (or the client is buggy): the
    whole family is revoked — except for a retry within the grace period, which
    gets a new successor (the previous successor is revoked).
    """
    token = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_opaque_token(raw)).with_for_update()
    )
    now = utc_now()
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        raise RefreshRefused
    if token.used_at is not None:
        successor = await session.get(RefreshToken, token.replaced_by) if token.replaced_by else None
        within_grace = now - token.used_at <= dt.timedelta(seconds=settings.refresh_reuse_grace_s)
        if (
            within_grace
            and successor is not None
            and successor.used_at is None
            and successor.revoked_at is None
        ):
            successor.revoked_at = now
        else:
            await revoke_family(session, token.family_id)
            raise RefreshRefused
    user = await session.get(User, token.user_id)
    if user is None or not user.active:
        raise RefreshRefused
    successor_token, successor_raw = await new_refresh_token(session, settings, user.id, token.family_id)
    token.used_at = token.used_at or now
    token.replaced_by = successor_token.id
    await session.flush()
    return user, successor_token, successor_raw


async def logout(session: AsyncSession, raw: str) -> None:
    token = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_opaque_token(raw))
    )
    if token is not None:
        await revoke_family(session, token.family_id)
