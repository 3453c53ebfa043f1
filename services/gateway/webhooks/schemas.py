from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.common.enums import DeliveryState
from services.common.stored import StoredRead

# `*` (everything), `site.*` (a family, at any depth) or an exact type such as `site.tier_changed`.
EVENT_TYPE_PATTERN = r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$"

EventTypePattern = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=EVENT_TYPE_PATTERN)]


def event_type_matches(patterns: list[str], event_type: str) -> bool:
    """True when any pattern (``*``, ``family.*`` or an exact type) selects ``event_type``."""
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookCreate(_Input):
    url: str = Field(
        min_length=1,
        max_length=2048,
        description="Where events are POSTed. https in production; private, loopback, link-local and "
        "cloud-metadata addresses are refused.",
        examples=["https://data.example.gov.cn/linju/events"],
    )
    event_types: list[EventTypePattern] = Field(
        min_length=1,
        max_length=50,
        description="Event types to receive: exact (`site.updated`), a family (`site.*`) or `*`.",
        examples=[["site.*", "round.published"]],
    )
    description: str = Field("", max_length=500)
    enabled: bool = True


class WebhookUpdate(_Input):
    url: str | None = Field(None, min_length=1, max_length=2048)
    event_types: list[EventTypePattern] | None = Field(None, min_length=1, max_length=50)
    description: str | None = Field(None, max_length=500)
    enabled: bool | None = None


class WebhookRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class WebhookWithSecret(WebhookRead):
    secret: str = Field(
        description="`whsec_…`: the key of the `webhook-signature` HMAC. Shown in this response only; "
        "store it now."
    )


class DeliveryAttemptRead(StoredRead):
    model_config = ConfigDict(from_attributes=True)

    attempted_at: dt.datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null when it did not answer.")
    latency_ms: int
    success: bool
    error: str | None


class DeliveryRead(StoredRead):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: str
    event_type: str
    object_type: str
    object_id: str
    state: DeliveryState
    attempt_count: int
    next_attempt_at: dt.datetime | None = Field(description="When the next attempt is due (pending only).")
    first_attempt_at: dt.datetime | None
    last_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime
    payload: dict[str, object] = Field(description="The event, exactly as it is POSTed.")
    attempts: list[DeliveryAttemptRead] = Field(description="Every attempt, oldest first.")
