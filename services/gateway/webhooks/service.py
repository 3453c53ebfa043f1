"""Webhook registration and the delivery log: the rules behind /api/v1/webhooks."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.audit import record_audit
from services.common.auth import Principal
from services.common.errors import Conflict, NotFound, ValidationFailed, define_titles
from services.common.etag import require_if_match
from services.common.pagination import PageParams, keyset_page
from services.common.stored import reads_stored
from services.common.timeutil import utc_now
from services.gateway.database import tables
from services.gateway.settings import GatewaySettings
from services.gateway.webhooks.destinations import (
    AllowList,
    DestinationRefused,
    Resolver,
    check_destination,
    parse_url,
    system_resolver,
)
from services.gateway.webhooks.models import Webhook, WebhookDelivery, WebhookDeliveryAttempt
from services.gateway.webhooks.schemas import (
    DeliveryAttemptRead,
    DeliveryRead,
    WebhookCreate,
    WebhookUpdate,
)
from services.gateway.webhooks.signing import new_secret

define_titles(
    {
        "webhook_not_found": ("Webhook not found", "推送地址不存在"),
        "delivery_not_found": ("Delivery not found", "推送记录不存在"),
        "delivery_in_progress": ("The delivery is being attempted right now", "该推送正在发送中"),
        "delivery_already_delivered": ("The delivery was already delivered", "该推送已成功送达"),
    }
)


def _webhook_not_found() -> NotFound:
    return NotFound("No webhook with this id.", detail_zh="推送地址不存在。", code="webhook_not_found")


def _delivery_not_found() -> NotFound:
    return NotFound("No delivery with this id.", detail_zh="推送记录不存在。", code="delivery_not_found")


async def validate_url(url: str, settings: GatewaySettings, resolver: Resolver = system_resolver) -> str:
    """The URL if a webhook may point at it; 422 naming ``url`` otherwise (see destinations.py)."""
    try:
        parsed = parse_url(url, require_https=settings.env == "production")
        await check_destination(parsed, AllowList.parse(settings.webhook_allowed_hosts), resolver)
    except DestinationRefused as exc:
        raise ValidationFailed("url", exc.reason, message_zh=exc.reason_zh) from exc
    return url


def _audit_view(webhook: Webhook) -> dict[str, Any]:
    # Never the secret.
    return {
        "url": webhook.url,
        "event_types": list(webhook.event_types),
        "description": webhook.description,
        "enabled": webhook.enabled,
    }


async def list_webhooks(session: AsyncSession, page: PageParams) -> tuple[list[Webhook], str | None]:
    return await keyset_page(session, select(Webhook), [Webhook.created_at, Webhook.id], page)


async def get_webhook(session: AsyncSession, webhook_id: uuid.UUID, *, for_update: bool = False) -> Webhook:
    stmt = select(Webhook).where(Webhook.id == webhook_id)
    if for_update:
        stmt = stmt.with_for_update()
    webhook = await session.scalar(stmt)
    if webhook is None:
        raise _webhook_not_found()
    return webhook


async def create_webhook(
    session: AsyncSession,
    data: WebhookCreate,
    *,
    settings: GatewaySettings,
    actor: Principal,
    request: Request,
) -> tuple[Webhook, str]:
    url = await validate_url(data.url, settings)
    secret = new_secret()
    now = utc_now()
    webhook = Webhook(
        id=uuid.uuid4(),
        url=url,
        event_types=list(dict.fromkeys(data.event_types)),
        description=data.description,
        enabled=data.enabled,
        secret=secret,
        created_by=actor.sub,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(webhook)
    await session.flush()
    await record_audit(
        session,
        tables.audit,
        actor=actor,
        action="webhook.create",
        object_type="webhook",
        object_id=webhook.id,
        after=_audit_view(webhook),
        request=request,
    )
    return webhook, secret


async def update_webhook(
    session: AsyncSession,
    webhook_id: uuid.UUID,
    data: WebhookUpdate,
    *,
    settings: GatewaySettings,
    actor: Principal,
    request: Request,
) -> Webhook:
    webhook = await get_webhook(session, webhook_id, for_update=True)
    require_if_match(request, webhook.id, webhook.version)
    before = _audit_view(webhook)
    changes = data.model_dump(exclude_unset=True)
    for field in ("url", "event_types", "description", "enabled"):
        if field in changes and changes[field] is None:
            raise ValidationFailed(field, "must not be null", message_zh="不能为 null")
    if "url" in changes and changes["url"] != webhook.url:
        webhook.url = await validate_url(changes["url"], settings)
    if "event_types" in changes:
        webhook.event_types = list(dict.fromkeys(changes["event_types"]))
    if "description" in changes:
        webhook.description = changes["description"]
    if "enabled" in changes:
        webhook.enabled = changes["enabled"]
    webhook.version += 1
    webhook.updated_at = utc_now()
    await session.flush()
    await record_audit(
        session,
        tables.audit,
        actor=actor,
        action="webhook.update",
        object_type="webhook",
        object_id=webhook.id,
        before=before,
        after=_audit_view(webhook),
        request=request,
    )
    return webhook


async def rotate_secret(
    session: AsyncSession, webhook_id: uuid.UUID, *, actor: Principal, request: Request
) -> tuple[Webhook, str]:
    webhook = await get_webhook(session, webhook_id, for_update=True)
    secret = new_secret()
    webhook.secret = secret
    webhook.version += 1
    webhook.updated_at = utc_now()
    await session.flush()
    await record_audit(
        session,
        tables.audit,
        actor=actor,
        action="webhook.rotate_secret",
        object_type="webhook",
        object_id=webhook.id,
        request=request,
        note="signing secret replaced",
    )
    return webhook, secret


async def delete_webhook(
    session: AsyncSession, webhook_id: uuid.UUID, *, actor: Principal, request: Request
) -> None:
    webhook = await get_webhook(session, webhook_id, for_update=True)
    require_if_match(request, webhook.id, webhook.version)
    before = _audit_view(webhook)
    # Its deliveries and their attempts go with it (ON DELETE CASCADE).
    await session.delete(webhook)
    await session.flush()
    await record_audit(
        session,
        tables.audit,
        actor=actor,
        action="webhook.delete",
        object_type="webhook",
        object_id=webhook_id,
        before=before,
        request=request,
    )


# ---- deliveries --------------------------------------------------------------------------------


async def _attempts_by_delivery(
    session: AsyncSession, delivery_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[WebhookDeliveryAttempt]]:
    by_delivery: dict[uuid.UUID, list[WebhookDeliveryAttempt]] = {d: [] for d in delivery_ids}
    if not delivery_ids:
        return by_delivery
    rows = await session.scalars(
        select(WebhookDeliveryAttempt)
        .where(WebhookDeliveryAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookDeliveryAttempt.attempted_at, WebhookDeliveryAttempt.id)
    )
    for attempt in rows:
        by_delivery[attempt.delivery_id].append(attempt)
    return by_delivery


@reads_stored("gateway.webhook_deliveries")
def delivery_read(delivery: WebhookDelivery, attempts: list[WebhookDeliveryAttempt]) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.id,
        webhook_id=delivery.webhook_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        object_type=delivery.object_type,
        object_id=delivery.object_id,
        state=delivery.state,  # type: ignore[arg-type]
        attempt_count=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if delivery.state == "pending" else None,
        first_attempt_at=delivery.first_attempt_at,
        last_attempt_at=delivery.last_attempt_at,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
        payload=delivery.payload,
        attempts=[DeliveryAttemptRead.model_validate(a) for a in attempts],
    )


async def list_deliveries(
    session: AsyncSession,
    webhook_id: uuid.UUID,
    page: PageParams,
    *,
    state: str | None = None,
    event_type: str | None = None,
    object_id: str | None = None,
) -> tuple[list[DeliveryRead], str | None]:
    await get_webhook(session, webhook_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if state is not None:
        stmt = stmt.where(WebhookDelivery.state == state)
    if event_type is not None:
        stmt = stmt.where(WebhookDelivery.event_type == event_type)
    if object_id is not None:
        stmt = stmt.where(WebhookDelivery.object_id == object_id)
    # Queue order: for one object, the order its events happened and are delivered in.
    rows, cursor = await keyset_page(session, stmt, [WebhookDelivery.seq], page)
    attempts = await _attempts_by_delivery(session, [d.id for d in rows])
    return [delivery_read(d, attempts[d.id]) for d in rows], cursor


async def retry_delivery(
    session: AsyncSession,
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    *,
    actor: Principal,
    request: Request,
) -> DeliveryRead:
    """Make a pending or failed delivery due now, with a fresh retry window."""
    await get_webhook(session, webhook_id)
    in_webhook = (WebhookDelivery.id == delivery_id) & (WebhookDelivery.webhook_id == webhook_id)
    delivery = await session.scalar(
        select(WebhookDelivery).where(in_webhook).with_for_update(skip_locked=True)
    )
    if delivery is None:
        if await session.scalar(select(WebhookDelivery.id).where(in_webhook)) is None:
            raise _delivery_not_found()
        # The dispatcher holds the row while it is POSTing it.
        raise Conflict(
            "The delivery is being attempted right now; look at its attempts in a few seconds.",
            detail_zh="该推送正在发送中,请稍后查看发送记录。",
            code="delivery_in_progress",
        )
    if delivery.state == "delivered":
        raise Conflict(
            "The delivery was already delivered.",
            detail_zh="该推送已成功送达。",
            code="delivery_already_delivered",
        )
    before = {"state": delivery.state, "next_attempt_at": delivery.next_attempt_at}
    delivery.state = "pending"
    delivery.next_attempt_at = utc_now()
    # A new 24-hour window starts with the next attempt.
    delivery.first_attempt_at = None
    await session.flush()
    await record_audit(
        session,
        tables.audit,
        actor=actor,
        action="webhook_delivery.retry",
        object_type="webhook_delivery",
        object_id=delivery.id,
        before=before,
        after={"state": delivery.state, "next_attempt_at": delivery.next_attempt_at},
        request=request,
    )
    attempts = await _attempts_by_delivery(session, [delivery.id])
    return delivery_read(delivery, attempts[delivery.id])
