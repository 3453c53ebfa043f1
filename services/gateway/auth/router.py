"""`/api/v1/auth/*`: OAuth2 token endpoint (password and client_credentials), refresh, logout, me."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from services.common.db import DbSession
from services.common.errors import AppError, problem_response
from services.common.responses import json_response
from services.gateway.database import User
from services.gateway.identity import service
from services.gateway.identity.live import LivePrincipal
from services.gateway.identity.schemas import MeRead, RefreshRequest, TokenResponse

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _token_response(body: TokenResponse) -> Response:
    return json_response(body.model_dump(exclude_none=True), headers=NO_STORE)


async def _user_token_pair(request: Request, session: DbSession, user: User) -> TokenResponse:
    state = request.app.state
    sites = await state.scopes.sites_for(session, user)
    access = await service.issue_access_token(
        session, state.keyring, state.settings, str(user.id), service.user_claims(user, sites)
    )
    return TokenResponse(access_token=access, expires_in=state.settings.access_token_ttl_s)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return client_id, secret


@router.post(
    "/token",
    response_model=TokenResponse,
    summary="Log in (password) or authenticate an API client (client_credentials)",
    responses={400: {"description": "invalid_grant"}, 401: {"description": "invalid_client"}, 429: {}},
)
async def issue_token(
    request: Request,
    session: DbSession,
    grant_type: Annotated[str, Form(description="`password` or `client_credentials`")],
    username: Annotated[str | None, Form(max_length=64)] = None,
    password: Annotated[str | None, Form(max_length=256)] = None,
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=256)] = None,
    scope: Annotated[str | None, Form(max_length=256)] = None,
) -> Response:
    """OAuth2 token endpoint (form-encoded, RFC 6749).

    * `grant_type=password` with `username` and `password`: a user's access token
      (≤ 15 min) and a refresh token. After 5 failures for an account, or 20 from one
      address, within 15 minutes: 429 with `Retry-After`.
    * `grant_type=client_credentials` with `client_id`/`client_secret` (form or HTTP
      Basic): an access token for a data-platform client (role `integration`); no
      refresh token.
    """
    state = request.app.state
    if grant_type == "password":
        if not username or password is None:
            missing = [name for name, value in (("username", username), ("password", password)) if not value]
            raise AppError(
                "username and password are required for the password grant.",
                detail_zh="密码模式需要提供用户名和密码。",
                code="validation_failed",
                status=422,
                errors=[{"field": name, "message": "required"} for name in missing],
            )
        user = await service.authenticate_user(session, request, state.settings, username, password)
        pair = await _user_token_pair(request, session, user)
        _, refresh_raw = await service.new_refresh_token(session, state.settings, user.id)
        pair.refresh_token = refresh_raw
        return _token_response(pair)
    if grant_type == "client_credentials":
        basic = _basic_credentials(request)
        if basic is not None:
            client_id, client_secret = basic
        if not client_id or not client_secret:
            raise AppError(
                "client_id and client_secret are required.",
                detail_zh="需要提供客户端编号和密钥。",
                code="invalid_client",
                status=401,
            )
        identity = await service.authenticate_client(session, state.settings, client_id, client_secret)
        access = await service.issue_access_token(
            session,
            state.keyring,
            state.settings,
            identity.subject,
            {"role": identity.role, "ver": identity.version},
        )
        return _token_response(
            TokenResponse(access_token=access, expires_in=state.settings.access_token_ttl_s)
        )
    raise AppError(
        f"Unsupported grant_type '{grant_type}'.",
        detail_zh="不支持的授权类型。",
        code="unsupported_grant_type",
        status=400,
    )


@router.post("/refresh", response_model=TokenResponse, summary="Exchange a refresh token for a new pair")
async def refresh(request: Request, session: DbSession, body: RefreshRequest) -> Response:
    """Refresh tokens rotate: each use returns a new refresh token and the old one stops working.

    Presenting an already-used refresh token revokes the whole family (every token descended
    from the same login) — a retry of the same refresh within 10 seconds is tolerated. The new
    access token carries freshly resolved `sites`.
    """
    try:
        user, _, refresh_raw = await service.rotate_refresh_token(
            session, request.app.state.settings, body.refresh_token
        )
    except service.RefreshRefused:
        # Answer without raising so a family revocation written above is committed.
        return problem_response(
            status=400,
            code="invalid_grant",
            detail="The refresh token is invalid, expired or revoked.",
            detail_zh="刷新令牌无效、已过期或已被吊销。",
            accept_language=request.headers.get("accept-language"),
        )
    pair = await _user_token_pair(request, session, user)
    pair.refresh_token = refresh_raw
    return _token_response(pair)


@router.post("/logout", status_code=204, summary="Revoke a refresh token and its family")
async def logout(session: DbSession, body: RefreshRequest) -> Response:
    """Ends the login the refresh token belongs to.

    Access tokens already issued expire on their own (≤ 15 min)."""
    await service.logout(session, body.refresh_token)
    return Response(status_code=204)


@router.get("/me", response_model=MeRead, summary="Who am I (from the access token)")
async def me(request: Request, session: DbSession, principal: LivePrincipal) -> MeRead:
    claims = request.state.token_claims
    user = await session.get(User, principal.user_id) if principal.user_id else None
    return MeRead(
        sub=principal.sub,
        role=principal.role,
        username=user.username if user else None,
        display_name=user.display_name if user else None,
        street_id=principal.street_id,
        organization_id=principal.organization_id,
        sites=sorted(principal.sites) if principal.sites is not None else None,
        expires_at=dt.datetime.fromtimestamp(claims["exp"], dt.UTC),
    )
