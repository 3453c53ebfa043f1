"""`/api/v1/users` and `/api/v1/clients` (district only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from services.common.db import DbSession
from services.common.etag import set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination, keyset_page
from services.gateway.database import ApiClient, User
from services.gateway.identity import service
from services.gateway.identity.live import LiveDistrict
from services.gateway.identity.schemas import (
    ClientCreate,
    ClientCreated,
    ClientRead,
    UserCreate,
    UserRead,
    UserUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["users"])


@router.get("/users", response_model=Page[UserRead], summary="List users")
async def list_users(
    session: DbSession,
    _: LiveDistrict,
    page: Pagination,
    role: Annotated[str | None, Query(pattern="^(district|street|operator|evaluator)$")] = None,
    street_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
    active: bool | None = None,
) -> Page[UserRead]:
    stmt = select(User)
    if role:
        stmt = stmt.where(User.role == role)
    if street_id:
        stmt = stmt.where(User.street_id == street_id)
    if organization_id:
        stmt = stmt.where(User.organization_id == organization_id)
    if active is not None:
        stmt = stmt.where(User.active == active)
    rows, cursor = await keyset_page(session, stmt, [User.created_at, User.id], page)
    return Page(items=[UserRead.model_validate(u) for u in rows], next_cursor=cursor)


@router.post("/users", response_model=UserRead, status_code=201, summary="Create a user")
async def create_user(
    request: Request, session: DbSession, actor: LiveDistrict, body: UserCreate, idempotency: IdempotencyGuard
) -> Response:
    """Roles: `district`, `street` (needs `street_id`), `operator` and `evaluator` (need `organization_id`).
    Passwords are stored as argon2id hashes. Send `Idempotency-Key` to make a retry safe."""

    async def create() -> UserRead:
        user = await service.create_user(session, body, actor=actor, request=request)
        return UserRead.model_validate(user)

    return await idempotency.run(create)


@router.get("/users/{user_id}", response_model=UserRead, summary="Get a user")
async def get_user(session: DbSession, _: LiveDistrict, user_id: uuid.UUID, response: Response) -> UserRead:
    """The `ETag` header is what `PATCH` wants in `If-Match`."""
    user = await service.get_user(session, user_id)
    set_etag(response, user.id, user.version)
    return UserRead.model_validate(user)


@router.patch("/users/{user_id}", response_model=UserRead, summary="Change or deactivate a user")
async def update_user(
    request: Request,
    session: DbSession,
    actor: LiveDistrict,
    user_id: uuid.UUID,
    body: UserUpdate,
    response: Response,
) -> UserRead:
    """Needs `If-Match` with the user's ETag (428 without, 412 when stale).

    Deactivating a user (`active: false`), changing its role or scope, or setting a new password
    invalidates its access and refresh tokens at once."""
    user = await service.update_user(session, user_id, body, actor=actor, request=request)
    # This replica forgets at once; the others on the NOTIFY sent at commit.
    request.app.state.accounts.forget(str(user.id))
    set_etag(response, user.id, user.version)
    return UserRead.model_validate(user)


@router.get("/clients", response_model=Page[ClientRead], tags=["clients"], summary="List API clients")
async def list_clients(session: DbSession, _: LiveDistrict, page: Pagination) -> Page[ClientRead]:
    rows, cursor = await keyset_page(session, select(ApiClient), [ApiClient.created_at, ApiClient.id], page)
    return Page(items=[ClientRead.model_validate(c) for c in rows], next_cursor=cursor)


@router.post(
    "/clients",
    response_model=ClientCreated,
    status_code=201,
    tags=["clients"],
    summary="Create an API client",
)
async def create_client(
    request: Request, session: DbSession, actor: LiveDistrict, body: ClientCreate
) -> ClientCreated:
    """A client-credentials client for a district data platform (role `integration`: read-only,
    personal data masked). The `client_secret` is shown in this response only (so this POST does
    not replay by Idempotency-Key: a replay would need the secret stored)."""
    client, secret = await service.create_client(session, body, actor=actor, request=request)
    return ClientCreated(**ClientRead.model_validate(client).model_dump(), client_secret=secret)
