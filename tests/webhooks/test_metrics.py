"""The webhook collector of the gateway's /metrics, against the stack's database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from services.common.db import create_engine, make_sessionmaker
from services.gateway.webhooks.metrics import webhook_metrics
from tests.conftest import RunningStack, bearer
from tests.registry.factories import create_site
from tests.webhooks.helpers import Receiver, create_webhook, running_receiver, wait_for_deliveries


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def _value(lines: list[str], series: str) -> int:
    [line] = [line for line in lines if line.startswith(series + " ")]
    return int(line.rsplit(" ", 1)[1])


def test_deliveries_failures_and_backlog_are_reported(
    stack: RunningStack, gateway: httpx.Client, district_token: str, receiver: Receiver
) -> None:
    path = receiver.new_path(lambda request, seen: (500, {}))
    webhook = create_webhook(gateway, district_token, receiver.url(path), event_types=["site.created"])
    url = f"/api/v1/webhooks/{webhook['id']}"
    try:
        site = create_site(gateway, district_token)
        wait_for_deliveries(
            gateway,
            district_token,
            webhook["id"],
            lambda ds: bool(ds) and ds[0]["attempt_count"] >= 2,
            180.0,
            object_id=site["id"],
        )
        # Paused: its pending delivery stays pending and no further attempt is made.
        etag = gateway.get(url, headers=bearer(district_token)).headers["etag"]
        paused = gateway.patch(
            url, json={"enabled": False}, headers={**bearer(district_token), "If-Match": etag}
        )
        assert paused.status_code == 200

        # An attempt in flight when the webhook was paused may still land: compare with a
        # snapshot that did not change around the scrape.
        for _ in range(50):
            before = _snapshot(stack)
            lines = asyncio.run(_collect(stack.database_url))
            if _snapshot(stack) == before:
                break
        by_state, failed_attempts, backlog = before
    finally:
        gateway.delete(url, headers={**bearer(district_token), "If-Match": "*"})

    assert "# TYPE linju_webhook_deliveries gauge" in lines
    assert _value(lines, 'linju_webhook_deliveries{state="pending"}') == by_state["pending"] >= 1
    for state in ("delivered", "failed"):
        assert _value(lines, f'linju_webhook_deliveries{{state="{state}"}}') == by_state.get(state, 0)
    assert _value(lines, "linju_webhook_failures_total") == failed_attempts >= 2
    # One backlog gauge per domain service's feed, as the feed reported it at the last poll.
    assert set(backlog) == {"registry", "activities", "evaluation"}
    for service, remaining in backlog.items():
        assert remaining is not None
        assert _value(lines, f'linju_outbox_backlog{{service="{service}"}}') == remaining


async def _collect(database_url: str) -> list[str]:
    """What the gateway's collector returns, on an app-like object over the stack's database."""
    engine = create_engine(database_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        app: Any = SimpleNamespace(state=SimpleNamespace(sessionmaker=make_sessionmaker(engine)))
        return await webhook_metrics(app)
    finally:
        await engine.dispose()


def _snapshot(stack: RunningStack) -> tuple[dict[str, int], int, dict[str, int | None]]:
    by_state = {
        row["state"]: row["n"]
        for row in stack.sql("SELECT state, count(*) AS n FROM gateway.webhook_deliveries GROUP BY state")
    }
    failed = stack.sql("SELECT count(*) AS n FROM gateway.webhook_delivery_attempts WHERE NOT success")
    backlog = {r["service"]: r["remaining"] for r in stack.sql("SELECT * FROM gateway.feed_cursors")}
    return by_state, int(failed[0]["n"]), backlog
