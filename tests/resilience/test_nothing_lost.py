"""Nothing lost, nothing doubled (issue 6, item 7).

Thirty concurrent clients POST activities through the gateway, each with an Idempotency-Key per
activity. Many first attempts are cut: the socket is closed right after the whole request was
sent, or half-way through the body, or the client task is cancelled mid-request. Every client
retries with the same key until it is told "201 Created". At the end, counted in the database:
exactly the rows the clients were told about — same count, same ids, one per key — and every
key replays the id it was first answered with.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import bearer
from tests.resilience.harness import OwnStack, activity_body

pytestmark = pytest.mark.slow

ACTIVITIES = "/api/v1/activities/activities"
CLIENTS = 30
ITEMS_PER_CLIENT = 4
# Answers a client may get before its 201 and retries on: the first attempt (cut) is still
# running (409), or a transport-level failure. Anything else fails the test.
RETRYABLE = {409, 502, 503, 504}
CUTS = ("after_send", "mid_body", "cancel", None)


@dataclass
class Item:
    key: str
    body: dict[str, Any]
    cut: str | None
    created_id: str | None = None
    replayed: bool = False  # told "created" by a replay: an earlier (cut) attempt had committed
    statuses: list[int] = field(default_factory=list)

    @property
    def payload(self) -> bytes:
        # A retry sends the very same bytes (the stored key remembers a hash of them).
        return json.dumps(self.body, separators=(",", ":")).encode()

    def headers(self, token: str) -> dict[str, str]:
        return {**bearer(token), "Idempotency-Key": self.key, "Content-Type": "application/json"}


async def _raw_post(own: OwnStack, token: str, item: Item, *, send_all: bool) -> None:
    """Send the request on a bare socket and hang up without reading the answer."""
    url = urlsplit(own.gateway_url)
    payload = item.payload
    head = (
        f"POST {ACTIVITIES} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {token}\r\n"
        f"Idempotency-Key: {item.key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(head + (payload if send_all else payload[: len(payload) // 2]))
    await writer.drain()
    await asyncio.sleep(random.uniform(0, 0.03))
    writer.transport.abort()  # RST, no goodbye
    del reader


async def _client(own: OwnStack, http: httpx.AsyncClient, token: str, items: list[Item]) -> None:
    for item in items:
        if item.cut in ("after_send", "mid_body"):
            await _raw_post(own, token, item, send_all=item.cut == "after_send")
        elif item.cut == "cancel":
            task = asyncio.ensure_future(
                http.post(ACTIVITIES, content=item.payload, headers=item.headers(token))
            )
            await asyncio.sleep(random.uniform(0.001, 0.05))
            task.cancel()
            # The answer is dropped unread even if the request completed before the cancel.
            await asyncio.gather(task, return_exceptions=True)
        for _ in range(100):
            try:
                response = await http.post(ACTIVITIES, content=item.payload, headers=item.headers(token))
            except httpx.TransportError:
                await asyncio.sleep(0.05)
                continue
            item.statuses.append(response.status_code)
            if response.status_code == 201:
                item.created_id = response.json()["id"]
                item.replayed = response.headers.get("idempotent-replayed") == "true"
                break
            assert response.status_code in RETRYABLE, response.text
            await asyncio.sleep(0.1)


def test_concurrent_clients_with_cuts_and_retries_end_with_exactly_the_rows_they_were_told_about(
    own: OwnStack, client: httpx.Client, operated: dict[str, Any]
) -> None:
    token = operated["operator_token"]
    site_id = operated["site"]["id"]
    marker = f"lost-{uuid.uuid4().hex[:8]}"
    assert client.get(f"{ACTIVITIES}?limit=1", headers=bearer(token)).status_code == 200
    rng = random.Random(20261127)
    clients = [
        [
            Item(
                key=f"{marker}-{c}-{i}",
                body=activity_body(site_id, f"{marker}-{c}-{i}"),
                cut=rng.choice(CUTS),
            )
            for i in range(ITEMS_PER_CLIENT)
        ]
        for c in range(CLIENTS)
    ]
    items = [item for group in clients for item in group]

    async def run() -> None:
        limits = httpx.Limits(max_connections=CLIENTS * 2)
        async with httpx.AsyncClient(base_url=own.gateway_url, timeout=30.0, limits=limits) as http:
            await asyncio.gather(*(_client(own, http, token, group) for group in clients))

    asyncio.run(run())

    told = [item.created_id for item in items]
    assert None not in told, [i.key for i in items if i.created_id is None]
    assert len(set(told)) == len(items)  # one id per key, no two keys share one
    assert {item.cut for item in items} == set(CUTS)
    # The cuts did land after commits: those clients were told by a replay of the first answer.
    assert any(item.replayed for item in items if item.cut == "after_send")

    rows = own.sql(
        "SELECT id::text AS id, title FROM activities.activities WHERE title LIKE $1", f"{marker}-%"
    )
    assert len(rows) == len(items)
    assert sorted(r["id"] for r in rows) == sorted(told)  # type: ignore[type-var]
    assert Counter(r["title"] for r in rows) == Counter(item.key for item in items)
    by_title = {r["title"]: r["id"] for r in rows}
    assert all(by_title[item.key] == item.created_id for item in items)
    keys = own.sql("SELECT key FROM activities.idempotency_keys WHERE key LIKE $1", f"{marker}-%")
    assert sorted(r["key"] for r in keys) == sorted(item.key for item in items)

    # Asking again with any key replays the first answer; nothing new is written.
    for item in items[:: max(1, len(items) // 20)]:
        again = client.post(ACTIVITIES, content=item.payload, headers=item.headers(token))
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == item.created_id
    count = own.sql("SELECT count(*) AS n FROM activities.activities WHERE title LIKE $1", f"{marker}-%")
    assert count[0]["n"] == len(items)
