"""Webhook figures for the gateway's ``GET /metrics`` (Prometheus text exposition).

Read from the gateway schema at scrape time, so they describe every dispatcher process at once:
deliveries by state, failed attempts so far, and each change feed's backlog (events the
dispatcher has not read yet, as the feed reported at the last poll).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from services.common.enums import DeliveryState
from services.gateway.webhooks.models import (
    FeedCursor,
    WebhookDelivery,
    WebhookDeliveryAttempt,
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


async def webhook_metrics(app: Any) -> list[str]:
    async with app.state.sessionmaker() as session:
        states = dict(
            (
                await session.execute(
                    select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)
                )
            ).all()
        )
        failures = await session.scalar(select(func.count()).where(WebhookDeliveryAttempt.success.is_(False)))
        cursors = (await session.execute(select(FeedCursor.service, FeedCursor.remaining))).all()
    lines = [
        "# HELP linju_webhook_deliveries Webhook deliveries by state.",
        "# TYPE linju_webhook_deliveries gauge",
    ]
    for state in DeliveryState:
        lines.append(f'linju_webhook_deliveries{{state="{state}"}} {int(states.get(state, 0))}')
    lines += [
        "# HELP linju_webhook_failures_total Failed webhook delivery attempts (of webhooks not deleted).",
        "# TYPE linju_webhook_failures_total gauge",
        f"linju_webhook_failures_total {int(failures or 0)}",
        "# HELP linju_outbox_backlog Change-feed events not yet read by the webhook dispatcher.",
        "# TYPE linju_outbox_backlog gauge",
    ]
    for service, remaining in sorted(cursors, key=lambda row: row[0]):
        if remaining is not None:
            lines.append(f'linju_outbox_backlog{{service="{_label(service)}"}} {int(remaining)}')
    return lines
