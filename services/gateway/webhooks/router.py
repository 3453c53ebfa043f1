"""`/api/v1/webhooks`: district data platforms register endpoints that receive change events."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.common.db import DbSession
from services.common.enums import DeliveryState
from services.common.etag import make_etag, set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination
from services.gateway.identity.live import LiveDistrict
from services.gateway.webhooks import service
from services.gateway.webhooks.schemas import (
    DeliveryRead,
    WebhookCreate,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(prefix="/api/v1", tags=["webhooks"])


def _with_secret(webhook: object, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret(**WebhookRead.model_validate(webhook).model_dump(), secret=secret)


@router.get("/webhooks", response_model=Page[WebhookRead], summary="List webhooks")
async def list_webhooks(session: DbSession, _: LiveDistrict, page: Pagination) -> Page[WebhookRead]:
    rows, cursor = await service.list_webhooks(session, page)
    return Page(items=[WebhookRead.model_validate(w) for w in rows], next_cursor=cursor)


@router.post("/webhooks", response_model=WebhookWithSecret, status_code=201, summary="Register a webhook")
async def create_webhook(
    request: Request,
    session: DbSession,
    actor: LiveDistrict,
    body: WebhookCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """Events whose type matches `event_types` are POSTed to `url` as JSON, signed the Standard
    Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature`).

    The signing `secret` is in this response only (a retry with the same `Idempotency-Key` replays
    this response); `POST /webhooks/{id}/rotate-secret` issues a new one. The URL must be https in
    production and must not point at a private, loopback, link-local or cloud-metadata address
    (422 on `url`)."""

    async def create() -> WebhookWithSecret:
        webhook, secret = await service.create_webhook(
            session, body, settings=request.app.state.settings, actor=actor, request=request
        )
        return _with_secret(webhook, secret)

    return await idempotency.run(create, headers=lambda created: {"ETag": make_etag(created.id, 1)})


@router.get("/webhooks/{webhook_id}", response_model=WebhookRead, summary="Get a webhook")
async def get_webhook(
    session: DbSession, _: LiveDistrict, webhook_id: uuid.UUID, response: Response
) -> WebhookRead:
    """The `ETag` header is what `PATCH` and `DELETE` want in `If-Match`. The secret is never shown
    again."""
    webhook = await service.get_webhook(session, webhook_id)
    set_etag(response, webhook.id, webhook.version)
    return WebhookRead.model_validate(webhook)


@router.patch("/webhooks/{webhook_id}", response_model=WebhookRead, summary="Change a webhook")
async def update_webhook(
    request: Request,
    session: DbSession,
    actor: LiveDistrict,
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
    response: Response,
) -> WebhookRead:
    """Needs `If-Match` (428 without, 412 when stale). `enabled: false` pauses deliveries: events
    are not queued for the webhook and its pending deliveries wait until it is enabled again."""
    webhook = await service.update_webhook(
        session, webhook_id, body, settings=request.app.state.settings, actor=actor, request=request
    )
    set_etag(response, webhook.id, webhook.version)
    return WebhookRead.model_validate(webhook)


@router.delete("/webhooks/{webhook_id}", status_code=204, summary="Delete a webhook")
async def delete_webhook(
    request: Request, session: DbSession, actor: LiveDistrict, webhook_id: uuid.UUID
) -> Response:
    """Needs `If-Match`. Its pending deliveries and the delivery log go with it."""
    await service.delete_webhook(session, webhook_id, actor=actor, request=request)
    return Response(status_code=204)


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    response_model=WebhookWithSecret,
    summary="Replace a webhook's signing secret",
)
async def rotate_webhook_secret(
    request: Request, session: DbSession, actor: LiveDistrict, webhook_id: uuid.UUID, response: Response
) -> WebhookWithSecret:
    """Deliveries are signed with the new secret from now on (including retries of older events);
    the new secret is in this response only."""
    webhook, secret = await service.rotate_secret(session, webhook_id, actor=actor, request=request)
    set_etag(response, webhook.id, webhook.version)
    return _with_secret(webhook, secret)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=Page[DeliveryRead],
    summary="List a webhook's deliveries with every attempt",
)
async def list_webhook_deliveries(
    session: DbSession,
    _: LiveDistrict,
    webhook_id: uuid.UUID,
    page: Pagination,
    state: DeliveryState | None = None,
    event_type: Annotated[str | None, Query(max_length=100)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[DeliveryRead]:
    """In queue order: oldest first, and an object's events in the order they happened. Each
    delivery lists its attempts with the receiver's status code (null when it did not answer),
    latency and error."""
    items, cursor = await service.list_deliveries(
        session, webhook_id, page, state=state, event_type=event_type, object_id=object_id
    )
    return Page(items=items, next_cursor=cursor)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    response_model=DeliveryRead,
    summary="Attempt a pending or failed delivery now",
)
async def retry_webhook_delivery(
    request: Request, session: DbSession, actor: LiveDistrict, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryRead:
    """The delivery is due at once, with a fresh retry window; 409 when it was already delivered
    or is being attempted at this moment."""
    return await service.retry_delivery(session, webhook_id, delivery_id, actor=actor, request=request)
