"""End to end: a registry write → the change feed → the dispatcher → a signed POST to a loopback
receiver (allow-listed in the test stack), with retries, ordering, restarts and the delivery log."""

from __future__ import annotations

import ipaddress
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook as StandardWebhook

from services.cli.stack import Stack
from services.gateway.webhooks.destinations import AllowList, IPAddress
from services.gateway.webhooks.dispatcher import delivery_client, post_event
from services.gateway.webhooks.signing import new_secret
from tests.conftest import TEST_ENV, RunningStack, bearer
from tests.registry.factories import create_site
from tests.webhooks.helpers import (
    Received,
    Receiver,
    create_webhook,
    deliveries,
    running_receiver,
    verify_from_scratch,
    wait_for_deliveries,
)

# Generous: the dispatcher may first have to read through every other test's events.
DEADLINE_S = 180.0


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def webhooks(gateway: httpx.Client, district_token: str) -> Iterator[list[dict[str, Any]]]:
    """Webhooks a test registers; deleted afterwards so they collect no other test's events."""
    created: list[dict[str, Any]] = []
    yield created
    for webhook in created:
        url = f"/api/v1/webhooks/{webhook['id']}"
        gateway.delete(url, headers={**bearer(district_token), "If-Match": "*"})


def _site_events(requests: list[Received], site_id: str) -> list[Received]:
    return [r for r in requests if r.json()["object_id"] == site_id]


def _rename(gateway: httpx.Client, token: str, site_id: str, name: str) -> None:
    url = f"/api/v1/registry/sites/{site_id}"
    etag = gateway.get(url, headers=bearer(token)).headers["etag"]
    response = gateway.patch(url, json={"name": name}, headers={**bearer(token), "If-Match": etag})
    assert response.status_code == 200, response.text


def test_a_write_is_delivered_signed(
    gateway: httpx.Client, district_token: str, receiver: Receiver, webhooks: list[dict[str, Any]]
) -> None:
    path = receiver.new_path()
    webhook = create_webhook(gateway, district_token, receiver.url(path), event_types=["site.*"])
    webhooks.append(webhook)
    site = create_site(gateway, district_token)

    got = receiver.wait_for(path, lambda rs: bool(_site_events(rs, site["id"])), DEADLINE_S)
    request = _site_events(got, site["id"])[0]
    event = request.json()
    assert event["type"] == "site.created" and event["object_type"] == "site"
    assert event["site_id"] == site["id"] and event["data"]["name"] == site["name"]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == event["id"]
    assert request.headers["webhook-timestamp"].isdigit()
    # Two independent verifiers: the standardwebhooks package and one written from the spec.
    assert StandardWebhook(webhook["secret"]).verify(request.body, request.headers)["id"] == event["id"]
    assert verify_from_scratch(webhook["secret"], request.headers, request.body)
    assert not verify_from_scratch(webhook["secret"], request.headers, request.body + b" ")
    # Only the subscribed types arrive.
    assert all(r.json()["type"].startswith("site.") for r in got)

    log = wait_for_deliveries(
        gateway,
        district_token,
        webhook["id"],
        lambda ds: bool(ds) and ds[0]["state"] == "delivered",
        object_id=site["id"],
    )
    delivery = log[0]
    assert delivery["event_id"] == event["id"] and delivery["attempt_count"] == 1
    assert delivery["payload"] == event and delivery["next_attempt_at"] is None
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] == 204 and attempt["success"] is True and attempt["error"] is None
    assert attempt["latency_ms"] >= 0


def test_a_rotated_secret_signs_the_next_deliveries(
    gateway: httpx.Client, district_token: str, receiver: Receiver, webhooks: list[dict[str, Any]]
) -> None:
    path = receiver.new_path()
    webhook = create_webhook(gateway, district_token, receiver.url(path), event_types=["site.created"])
    webhooks.append(webhook)
    rotated = gateway.post(f"/api/v1/webhooks/{webhook['id']}/rotate-secret", headers=bearer(district_token))
    new_secret = rotated.json()["secret"]
    site = create_site(gateway, district_token)
    request = _site_events(
        receiver.wait_for(path, lambda rs: bool(_site_events(rs, site["id"])), DEADLINE_S), site["id"]
    )[0]
    assert verify_from_scratch(new_secret, request.headers, request.body)
    assert not verify_from_scratch(webhook["secret"], request.headers, request.body)


def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(
    gateway: httpx.Client, district_token: str, receiver: Receiver, webhooks: list[dict[str, Any]]
) -> None:
    path = receiver.new_path(lambda request, seen: (503, {}) if seen < 2 else (200, {}))
    webhook = create_webhook(gateway, district_token, receiver.url(path), event_types=["site.created"])
    webhooks.append(webhook)
    site = create_site(gateway, district_token)

    log = wait_for_deliveries(
        gateway,
        district_token,
        webhook["id"],
        lambda ds: bool(ds) and ds[0]["state"] == "delivered",
        DEADLINE_S,
        object_id=site["id"],
    )
    delivery = log[0]
    assert delivery["attempt_count"] == 3
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 503, 200]
    assert [a["success"] for a in delivery["attempts"]] == [False, False, True]
    assert delivery["attempts"][0]["error"] == "HTTP 503"
    times = [a["attempted_at"] for a in delivery["attempts"]]
    assert times == sorted(times) and len(set(times)) == 3
    assert delivery["first_attempt_at"] == times[0]

    requests = receiver.received(path)
    assert len(requests) == 3
    # The same webhook-id every time (receivers drop duplicates by it), each attempt freshly signed.
    assert {r.headers["webhook-id"] for r in requests} == {delivery["event_id"]}
    for request in requests:
        assert StandardWebhook(webhook["secret"]).verify(request.body, request.headers)


@pytest.mark.slow
def test_a_delivery_is_failed_after_the_window_then_retried_by_hand(
    gateway: httpx.Client, district_token: str, receiver: Receiver, webhooks: list[dict[str, Any]]
) -> None:
    """The test stack's retry window is 10 s (LINJU_WEBHOOK_RETRY_WINDOW_S)."""
    healthy = threading.Event()
    path = receiver.new_path(lambda request, seen: (200, {}) if healthy.is_set() else (500, {}))
    webhook = create_webhook(gateway, district_token, receiver.url(path), event_types=["site.created"])
    webhooks.append(webhook)
    site = create_site(gateway, district_token)

    failed = wait_for_deliveries(
        gateway,
        district_token,
        webhook["id"],
        lambda ds: bool(ds) and ds[0]["state"] == "failed",
        DEADLINE_S,
        object_id=site["id"],
    )[0]
    assert failed["attempt_count"] >= 3 and failed["next_attempt_at"] is None
    assert {a["status_code"] for a in failed["attempts"]} == {500}
    retry_url = f"/api/v1/webhooks/{webhook['id']}/deliveries/{failed['id']}/retry"

    healthy.set()
    retried = gateway.post(retry_url, headers=bearer(district_token))
    assert retried.status_code == 200, retried.text
    assert retried.json()["state"] == "pending"
    delivered = wait_for_deliveries(
        gateway,
        district_token,
        webhook["id"],
        lambda ds: ds[0]["state"] == "delivered",
        DEADLINE_S,
        object_id=site["id"],
    )[0]
    assert delivered["attempt_count"] == failed["attempt_count"] + 1
    assert delivered["attempts"][-1]["status_code"] == 200
    again = gateway.post(retry_url, headers=bearer(district_token))
    assert again.status_code == 409 and again.json()["code"] == "delivery_already_delivered"
    # Another webhook's id in the path: the delivery is not found there.
    other = create_webhook(gateway, district_token, receiver.url(receiver.new_path()), event_types=["x.y"])
    webhooks.append(other)
    elsewhere = gateway.post(
        f"/api/v1/webhooks/{other['id']}/deliveries/{failed['id']}/retry", headers=bearer(district_token)
    )
    assert elsewhere.status_code == 404 and elsewhere.json()["code"] == "delivery_not_found"


def test_redirects_are_not_followed(
    gateway: httpx.Client, district_token: str, receiver: Receiver, webhooks: list[dict[str, Any]]
) -> None:
    target = receiver.new_path()
    path = receiver.new_path(lambda request, seen: (307, {"location": receiver.url(target)}))
    webhook = create_webhook(gateway, district_token, receiver.url(path), event_types=["site.created"])
    webhooks.append(webhook)
    site = create_site(gateway, district_token)

    log = wait_for_deliveries(
        gateway,
        district_token,
        webhook["id"],
        lambda ds: bool(ds) and ds[0]["attempt_count"] >= 2,
        DEADLINE_S,
        object_id=site["id"],
    )
    attempt = log[0]["attempts"][0]
    assert attempt["status_code"] == 307 and attempt["success"] is False
    assert "redirect not followed" in attempt["error"]
    assert log[0]["state"] in ("pending", "failed")
    assert receiver.received(target) == []


def test_events_of_one_object_arrive_in_order(
    gateway: httpx.Client, district_token: str, receiver: Receiver, webhooks: list[dict[str, Any]]
) -> None:
    """While the site's first event keeps failing, its later events wait (queued, not attempted)."""
    release = threading.Event()
    succeeded: list[str] = []

    def responder(request: Received, seen: int) -> tuple[int, dict[str, str]]:
        if not release.is_set():
            return 500, {}
        succeeded.append(request.json()["id"])
        return 200, {}

    path = receiver.new_path(responder)
    webhook = create_webhook(gateway, district_token, receiver.url(path), event_types=["site.*"])
    webhooks.append(webhook)
    site = create_site(gateway, district_token)
    _rename(gateway, district_token, site["id"], f"{site['name']}·一")
    _rename(gateway, district_token, site["id"], f"{site['name']}·二")

    queued = wait_for_deliveries(
        gateway,
        district_token,
        webhook["id"],
        lambda ds: len(ds) == 3 and ds[0]["attempt_count"] >= 2,
        DEADLINE_S,
        object_id=site["id"],
    )
    assert [d["event_type"] for d in queued] == ["site.created", "site.updated", "site.updated"]
    # The later events were never attempted while the first one was failing.
    assert [d["attempt_count"] for d in queued[1:]] == [0, 0]
    assert {r.json()["id"] for r in receiver.received(path)} == {queued[0]["event_id"]}

    release.set()
    wait_for_deliveries(
        gateway,
        district_token,
        webhook["id"],
        lambda ds: all(d["state"] == "delivered" for d in ds),
        DEADLINE_S,
        object_id=site["id"],
    )
    assert succeeded == [d["event_id"] for d in queued]
    names = [r.json()["data"]["name"] for r in receiver.received(path) if r.json()["id"] in succeeded[1:]]
    assert names == [f"{site['name']}·一", f"{site['name']}·二"]


def test_a_disabled_webhook_gets_nothing(
    gateway: httpx.Client, district_token: str, receiver: Receiver, webhooks: list[dict[str, Any]]
) -> None:
    on_path, off_path = receiver.new_path(), receiver.new_path()
    on = create_webhook(gateway, district_token, receiver.url(on_path), event_types=["site.created"])
    off = create_webhook(
        gateway, district_token, receiver.url(off_path), event_types=["site.created"], enabled=False
    )
    webhooks.extend([on, off])
    site = create_site(gateway, district_token)
    receiver.wait_for(on_path, lambda rs: bool(_site_events(rs, site["id"])), DEADLINE_S)
    # Queued in the same transaction as the enabled webhook's delivery: none for the disabled one.
    assert deliveries(gateway, district_token, off["id"]) == []
    assert receiver.received(off_path) == []


def test_a_dispatcher_restart_loses_nothing_and_two_dispatchers_duplicate_nothing(
    stack: RunningStack,
    gateway: httpx.Client,
    district_token: str,
    receiver: Receiver,
    webhooks: list[dict[str, Any]],
) -> None:
    path = receiver.new_path()
    webhook = create_webhook(gateway, district_token, receiver.url(path), event_types=["site.*"])
    webhooks.append(webhook)
    second = Stack(
        database_url=stack.database_url,
        gateway_port=stack.stack.ports["gateway"],
        ports=dict(stack.stack.ports),
        extra_env=TEST_ENV,
        log_dir=stack.log_dir,
        dispatcher=True,
    )
    # Killed without a chance to finish anything: what it had not committed is simply redone.
    stack.stack.stop_service("dispatcher", signal.SIGKILL)
    try:
        sites = [create_site(gateway, district_token) for _ in range(4)]
        for site in sites:
            _rename(gateway, district_token, site["id"], f"{site['name']}·改")
        assert receiver.received(path) == []
        # Two dispatchers from now on: work is shared, never done twice.
        stack.stack.start_dispatcher()
        second.start_dispatcher()
        ids = {s["id"] for s in sites}
        got = receiver.wait_for(path, lambda rs: len(_of(rs, ids)) >= 8, DEADLINE_S)
    finally:
        second.stop_service("dispatcher")
        if "dispatcher" not in stack.stack.processes:
            stack.stack.start_dispatcher()
    event_ids = [r.headers["webhook-id"] for r in _of(got, ids)]
    assert len(event_ids) == len(set(event_ids)) == 8
    log = [d for d in deliveries(gateway, district_token, webhook["id"]) if d["object_id"] in ids]
    assert len(log) == 8 and {d["state"] for d in log} == {"delivered"}
    assert all(d["attempt_count"] == 1 for d in log)
    assert sorted(d["event_id"] for d in log) == sorted(event_ids)


def _of(requests: list[Received], object_ids: set[str]) -> list[Received]:
    return [r for r in requests if r.json()["object_id"] in object_ids]


async def test_the_dispatcher_connects_to_the_address_it_checked(receiver: Receiver) -> None:
    """The address check runs before every attempt, and the POST goes to the checked address with
    the URL's own Host header, so a name re-resolving elsewhere (DNS rebinding) cannot slip through."""

    def resolving_to(address: str) -> Any:
        async def resolver(host: str, port: int) -> list[IPAddress]:
            return [ipaddress.ip_address(address)]

        return resolver

    path = receiver.new_path()
    url = f"http://hooks.example.test:{receiver.port}{path}"
    allow = AllowList.parse("127.0.0.1/32")
    async with delivery_client(5.0) as client:
        sent = await post_event(
            client,
            url=url,
            secret=new_secret(),
            event_id="evt-1",
            body=b'{"id":"evt-1"}',
            allow=allow,
            require_https=False,
            resolver=resolving_to("127.0.0.1"),
        )
        assert sent.success and sent.status_code == 204
        [request] = receiver.received(path)
        assert request.headers["host"] == f"hooks.example.test:{receiver.port}"

        rebound = await post_event(
            client,
            url=url,
            secret=new_secret(),
            event_id="evt-2",
            body=b'{"id":"evt-2"}',
            allow=allow,
            require_https=False,
            resolver=resolving_to("10.0.0.1"),
        )
    assert not rebound.success and rebound.status_code is None
    assert rebound.error is not None and "destination refused" in rebound.error
    assert len(receiver.received(path)) == 1


def test_deliveries_are_paginated_and_filtered(
    gateway: httpx.Client, district_token: str, receiver: Receiver, webhooks: list[dict[str, Any]]
) -> None:
    path = receiver.new_path()
    webhook = create_webhook(gateway, district_token, receiver.url(path), event_types=["site.created"])
    webhooks.append(webhook)
    sites = [create_site(gateway, district_token) for _ in range(3)]
    ids = {s["id"] for s in sites}
    wait_for_deliveries(
        gateway,
        district_token,
        webhook["id"],
        lambda ds: ids <= {d["object_id"] for d in ds if d["state"] == "delivered"},
        DEADLINE_S,
    )
    first = gateway.get(
        f"/api/v1/webhooks/{webhook['id']}/deliveries", params={"limit": 2}, headers=bearer(district_token)
    ).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = gateway.get(
        f"/api/v1/webhooks/{webhook['id']}/deliveries",
        params={"limit": 200, "cursor": first["next_cursor"]},
        headers=bearer(district_token),
    ).json()
    seen = [d["id"] for d in first["items"] + rest["items"]]
    assert len(seen) == len(set(seen)) >= 3
    assert deliveries(gateway, district_token, webhook["id"], state="failed") == []
    bad = gateway.get(
        f"/api/v1/webhooks/{webhook['id']}/deliveries",
        params={"state": "lost"},
        headers=bearer(district_token),
    )
    assert bad.status_code == 422
    unknown = gateway.get(f"/api/v1/webhooks/{uuid.uuid4()}/deliveries", headers=bearer(district_token))
    assert unknown.status_code == 404


async def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(receiver: Receiver) -> None:
    def slow(request: Received, seen: int) -> tuple[int, dict[str, str]]:
        time.sleep(2.0)
        return 200, {}

    path = receiver.new_path(slow)
    async with delivery_client(5.0) as client:
        outcome = await post_event(
            client,
            url=receiver.url(path),
            secret=new_secret(),
            event_id="evt-slow",
            body=b"{}",
            allow=AllowList.parse("127.0.0.1/32"),
            require_https=False,
            timeout_s=0.3,
        )
    assert not outcome.success and outcome.status_code is None
    assert outcome.error is not None and outcome.error.startswith("timeout")
