"""``Idempotency-Key`` for POST: a retried request is applied once.

The stored response is written in the *same transaction* as the change it
describes, so "committed" and "remembered" cannot diverge: a crash after
commit still leaves the key, and the client's retry gets the first answer.

* same key + same request  → the first response again (``Idempotent-Replayed: true``);
* same key + other request → 422 ``idempotency_key_reused``;
* same key while the first request is still running → 409
  ``idempotency_key_in_progress`` (a transaction-scoped advisory lock).

Keys are scoped to the caller (``sub``): two users may use the same key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from sqlalchemy import Column, DateTime, Integer, LargeBinary, MetaData, String, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from services.common.auth import CurrentPrincipal, Principal
from services.common.db import DbSession
from services.common.errors import AppError, Conflict, ValidationFailed
from services.common.timeutil import utc_now

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("owner", String(200), primary_key=True),
        Column("key", String(MAX_KEY_LENGTH), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


class Idempotency:
    """Per-request helper; call :meth:`run` with the write to perform."""

    def __init__(self, request: Request, session: AsyncSession, principal: Principal) -> None:
        self.request = request
        self.session = session
        self.principal = principal
        self.table: Table = request.app.state.idempotency_table

    async def _request_hash(self) -> str:
        body = await self.request.body()
        digest = hashlib.sha256()
        digest.update(self.request.method.encode())
        digest.update(
            b"\0" + self.request.url.path.encode() + b"\0" + self.request.url.query.encode() + b"\0"
        )
        digest.update(body)
        return digest.hexdigest()

    async def run(
        self,
        produce: Callable[[], Awaitable[Any]],
        *,
        status_code: int = 201,
        headers: Callable[[Any], dict[str, str]] | None = None,
    ) -> Response:
        key = self.request.headers.get(HEADER)
        if key is None:
            result = await produce()
            return _render(result, status_code, headers(result) if headers else None)
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise ValidationFailed("Idempotency-Key", f"must be 1–{MAX_KEY_LENGTH} printable characters")
        request_hash = await self._request_hash()
        owner = self.principal.sub
        locked = await self.session.scalar(
            text("SELECT pg_try_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"{owner}\x1f{key}"}
        )
        if not locked:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; retry later.",
                detail_zh="相同幂等键的请求仍在处理中,请稍后重试。",
                code="idempotency_key_in_progress",
                headers={"Retry-After": "1"},
            )
        row = (
            await self.session.execute(
                select(self.table.c.request_hash, self.table.c.status_code, self.table.c.body).where(
                    self.table.c.owner == owner, self.table.c.key == key
                )
            )
        ).first()
        if row is not None:
            if row.request_hash != request_hash:
                raise AppError(
                    "This Idempotency-Key was used for a different request.",
                    detail_zh="该幂等键已用于另一个不同的请求。",
                    code="idempotency_key_reused",
                    status=422,
                )
            return Response(
                row.body,
                status_code=row.status_code,
                media_type="application/json",
                headers={"Idempotent-Replayed": "true"},
            )
        result = await produce()
        response = _render(result, status_code, headers(result) if headers else None)
        await self.session.execute(
            self.table.insert().values(
                owner=owner,
                key=key,
                request_hash=request_hash,
                status_code=response.status_code,
                body=bytes(response.body),
                created_at=utc_now(),
            )
        )
        return response


def _render(result: Any, status_code: int, headers: dict[str, str] | None) -> Response:
    if isinstance(result, Response):
        return result
    return Response(
        orjson.dumps(jsonable_encoder(result)),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


async def _idempotency(request: Request, session: DbSession, principal: CurrentPrincipal) -> Idempotency:
    return Idempotency(request, session, principal)


IdempotencyGuard = Annotated[Idempotency, Depends(_idempotency)]
