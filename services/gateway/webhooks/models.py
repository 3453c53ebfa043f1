"""Webhook tables (schema ``gateway``): endpoints, deliveries, their attempts, feed cursors."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.common.constraints import enum_check, recorded_when
from services.common.enums import DeliveryState
from services.common.timeutil import utc_now
from services.gateway.database import Base


class Webhook(Base):
    """An endpoint of a district data platform that receives change events by POST."""

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_created_at_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    url: Mapped[str] = mapped_column(Text)
    # Exact types (`site.updated`), a family (`site.*`) or everything (`*`).
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The signing secret `whsec_<base64>`: kept in clear because every delivery is signed with it
    # (HMAC needs the key itself, a hash would not do); shown to the client only when created or
    # rotated.
    secret: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class WebhookDelivery(Base):
    """One event for one webhook: pending until a 2xx answer (delivered) or the retry window ends
    (failed)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # A feed event is queued at most once per webhook, whatever happens to the cursor.
        UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_webhook_event"),
        enum_check("state", DeliveryState),
        # Delivered once and for good: a delivered delivery is never retried.
        recorded_when("delivered_at", "state", [DeliveryState.DELIVERED]),
        # The dispatcher's work queue: due pending deliveries.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
        ),
        # In order per object: the earlier pending delivery of the same object blocks a later one.
        Index(
            "ix_webhook_deliveries_object",
            "webhook_id",
            "object_type",
            "object_id",
            "seq",
            postgresql_where=text("state = 'pending'"),
        ),
        # The delivery log of a webhook, in queue order.
        Index("ix_webhook_deliveries_webhook_seq", "webhook_id", "seq"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Queue order: deliveries are inserted in feed order, so `seq` orders the events of an object.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False), unique=True)
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    # Start of the retry window (the first attempt, or the first after a manual retry).
    first_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class WebhookDeliveryAttempt(Base):
    """One POST of a delivery: its answer's status code (None when no answer), latency, error."""

    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (Index("ix_webhook_delivery_attempts_delivery", "delivery_id", "attempted_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    attempted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    success: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)


class FeedCursor(Base):
    """How far the dispatcher has read each domain service's change feed."""

    __tablename__ = "feed_cursors"

    service: Mapped[str] = mapped_column(String(32), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    # Events still behind the cursor at the last poll (the feed's `remaining`), for /metrics;
    # `updated_at` is when the cursor or the backlog last changed.
    remaining: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
