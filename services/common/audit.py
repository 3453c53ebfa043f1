"""The audit log: who did what to which object, when and from where.

Each service keeps its own ``audit_log`` table in its own schema (a service
never writes another's schema) and writes to it in the same transaction as the
change it records, so an audit row exists exactly when the change does.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import Enum
from typing import Any

from fastapi import Request
from fastapi.encoders import decimal_encoder, jsonable_encoder
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, Uuid, func, insert
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.outbox import Redactor, emit, event_type, no_redaction
from services.common.requestid import current_request_id
from services.common.timeutil import utc_now


def audit_table(metadata: MetaData) -> Table:
    return Table(
        "audit_log",
        metadata,
        Column("id", Uuid, primary_key=True, default=uuid.uuid4),
        Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("actor", String(200), nullable=False),
        Column("actor_role", String(32), nullable=False),
        Column("action", String(64), nullable=False),
        Column("object_type", String(64), nullable=False),
        Column("object_id", String(64), nullable=True),
        Column("before", JSONB, nullable=True),
        Column("after", JSONB, nullable=True),
        Column("request_id", String(128), nullable=True),
        Column("client_ip", String(64), nullable=True),
        Column("note", Text, nullable=True),
    )


def client_ip(request: Request | None) -> str | None:
    if request is None:
        return None
    # Behind the gateway (which drops client-sent X-Forwarded-For and sets its own) the header is
    # trusted; at the gateway itself it is the client's word and ignored.
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and getattr(request.app.state, "trust_forwarded_for", False):
        return forwarded.split(",")[0].strip()[:64]
    return request.client.host if request.client else None


def json_ready(value: Any) -> Any:
    """What FastAPI's ``jsonable_encoder`` makes of the values our rows and audit snapshots hold
    (enums, ids, times, decimals, lists and dicts of them), without its generic machinery: for the
    audit and event form of hot and bulk writes."""
    if isinstance(value, Enum):
        return json_ready(value.value)
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return decimal_encoder(value)
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    return jsonable_encoder(value)  # anything rarer


def audit_values(
    *,
    actor: Principal | None,
    action: str,
    object_type: str,
    object_id: Any = None,
    before: Any = None,
    after: Any = None,
    request: Request | None = None,
    note: str | None = None,
    actor_name: str | None = None,
) -> dict[str, Any]:
    """One audit row; ``before``/``after`` must already be JSON-ready."""
    return {
        "id": uuid.uuid4(),
        "occurred_at": utc_now(),
        "actor": actor.sub if actor else (actor_name or "system"),
        "actor_role": actor.role if actor else "system",
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id) if object_id is not None else None,
        "before": before,
        "after": after,
        "request_id": current_request_id(),
        "client_ip": client_ip(request),
        "note": note,
    }


async def record_audit(
    session: AsyncSession,
    table: Table,
    *,
    actor: Principal | None,
    action: str,
    object_type: str,
    object_id: Any = None,
    before: Any = None,
    after: Any = None,
    request: Request | None = None,
    note: str | None = None,
    actor_name: str | None = None,
    encoded: bool = False,
) -> None:
    """Write one audit row. ``encoded``: ``before``/``after`` are JSON-ready already."""
    if not encoded:
        before = jsonable_encoder(before) if before is not None else None
        after = jsonable_encoder(after) if after is not None else None
    await session.execute(
        insert(table).values(
            audit_values(
                actor=actor,
                action=action,
                object_type=object_type,
                object_id=object_id,
                before=before,
                after=after,
                request=request,
                note=note,
                actor_name=actor_name,
            )
        )
    )


class AuditWriter:
    """A service's audit function, bound to its own audit table (:func:`audit_writer`)."""

    def __init__(self, table: Table, *, outbox: Table | None = None, redact: Redactor = no_redaction) -> None:
        self.table = table
        self.outbox = outbox
        self.redact = redact

    async def __call__(
        self,
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
        # Encoded once here, for the audit row and the event alike.
        before = jsonable_encoder(before) if before is not None else None
        after = jsonable_encoder(after) if after is not None else None
        await record_audit(
            session,
            self.table,
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            before=before,
            after=after,
            request=request,
            note=note,
            encoded=True,
        )
        if self.outbox is not None:
            change = self.change(action, object_type, object_id, before, after)
            if change is not None:
                emit(session, self.outbox, **change)

    def change(
        self, action: str, object_type: str, object_id: Any, previous: Any, state: Any
    ) -> dict[str, Any] | None:
        """The change-feed event of an audited action (``emit``'s arguments), or None for actions
        that change nothing. ``previous``/``state``: the object before and after, JSON-ready."""
        kind = event_type(action, object_type)
        if kind is None:
            return None
        if isinstance(state, dict):
            data: dict[str, Any] | None = self.redact(object_type, state)
        else:
            data = None if state is None else {"value": state}
        site_id = None
        for snapshot in (state, previous):
            if isinstance(snapshot, dict) and snapshot.get("site_id"):
                site_id = snapshot["site_id"]
                break
        if site_id is None and object_type == "site":
            site_id = object_id
        return {
            "type": kind,
            "object_type": object_type,
            "object_id": object_id,
            "site_id": site_id,
            "data": data,
        }


def audit_writer(
    table: Table, *, outbox: Table | None = None, redact: Redactor = no_redaction
) -> AuditWriter:
    """A service's audit function, bound to its own audit table.

    With ``outbox``, every audited change also emits its change-feed event in the same
    transaction (:mod:`services.common.outbox`): ``<object_type>.<verb>`` with the object's new
    state passed through ``redact`` (personal data masked). Audited reads emit nothing.
    """
    return AuditWriter(table, outbox=outbox, redact=redact)
