"""The registry's audit writer: every write, with before/after, actor, request id and address."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.audit import record_audit
from services.common.auth import Principal
from services.registry.database import tables


async def audit(
    session: AsyncSession,
    request: Request | None,
    actor: Principal | None,
    action: str,
    object_type: str,
    object_id: Any,
    *,
    before: Any = None,
    after: Any = None,
    note: str | None = None,
) -> None:
    await record_audit(
        session,
        tables.audit,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        request=request,
        note=note,
    )
