"""Limits at the gateway (issue 6, item 5): `limit=1000000000` → 422 on every list; request headers
over 16 KiB → 431; a flood of exports, score writes or batches from one caller → 429 with
Retry-After, while other callers and other routes carry on."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.gateway.proxy import policy
from services.gateway.proxy.ratelimit import RateLimiter
from tests.conftest import RunningStack, bearer, login
from tests.gateway.test_proxy import second_gateway

HUGE = "1000000000"


def _list_operations(gateway: httpx.Client) -> list[tuple[str, dict[str, Any]]]:
    """Every GET of the merged document that takes `limit`, once all services are in it."""
    for _ in range(30):
        document = gateway.get("/openapi.json").json()
        services = {path.split("/")[3] for path in document["paths"] if path.startswith("/api/v1/")}
        if {"registry", "activities", "evaluation", "users"} <= services:
            break
    found = []
    for path, item in document["paths"].items():
        operation = item.get("get")
        if operation and any(
            p["name"] == "limit" and p["in"] == "query" for p in operation.get("parameters", [])
        ):
            found.append((path, operation))
    return found


def _fill(path: str, operation: dict[str, Any]) -> str:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            schema = parameter.get("schema", {})
            filler = "2026" if schema.get("type") == "integer" else str(uuid.uuid4())
            path = path.replace("{" + parameter["name"] + "}", filler)
    return path


def test_a_huge_limit_is_422_on_every_list(gateway: httpx.Client, district_token: str) -> None:
    lists = _list_operations(gateway)
    assert {path.split("/")[3] for path, _ in lists} >= {"registry", "activities", "evaluation", "users"}
    assert len(lists) >= 30
    wrong = []
    for path, operation in lists:
        response = gateway.get(_fill(path, operation), params={"limit": HUGE}, headers=bearer(district_token))
        fields = (
            {e["field"] for e in response.json().get("errors", [])} if response.status_code == 422 else set()
        )
        if response.status_code != 422 or "limit" not in fields:
            wrong.append(f"{path}: {response.status_code} {response.text[:120]}")
    assert wrong == []


# ---- 431 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/auth/me", "/api/v1/registry/streets", "/nowhere"])
def test_headers_over_16_kib_are_431_problem_json(
    gateway: httpx.Client, district_token: str, path: str
) -> None:
    one_big = {"X-Padding": "a" * (16 * 1024)}
    many = {f"X-Pad-{i}": "b" * 500 for i in range(34)}
    for extra in (one_big, many):
        response = gateway.get(path, headers={**bearer(district_token), **extra, "Accept-Language": "zh-CN"})
        assert response.status_code == 431, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == "request_header_too_large" and body["title"] == "请求头过大"
        assert body["request_id"] == response.headers["x-request-id"]


def test_headers_just_under_the_limit_pass(gateway: httpx.Client, district_token: str) -> None:
    response = gateway.get(
        "/api/v1/registry/streets", headers={**bearer(district_token), "X-Padding": "a" * (15 * 1024)}
    )
    assert response.status_code == 200, response.text


# ---- 429: per-principal budgets ------------------------------------------------------------------

BUDGET = 5


@pytest.fixture(scope="module")
def limited(stack: RunningStack) -> Iterator[httpx.Client]:
    """A gateway replica of its own whose budgets are BUDGET requests a minute."""
    env = {
        "LINJU_GATEWAY_RATE_LIMIT_EXPORTS_PER_MIN": str(BUDGET),
        "LINJU_GATEWAY_RATE_LIMIT_SCORE_WRITES_PER_MIN": str(BUDGET),
        "LINJU_GATEWAY_RATE_LIMIT_BATCHES_PER_MIN": str(BUDGET),
    }
    with second_gateway(stack, env=env) as url, httpx.Client(base_url=url, timeout=30.0) as client:
        yield client


def _flood(client: httpx.Client, method: str, url: str, token: str, **kw: Any) -> list[httpx.Response]:
    return [client.request(method, url, headers=bearer(token), **kw) for _ in range(100)]


def _assert_throttled(responses: list[httpx.Response], passed: set[int]) -> None:
    statuses = [r.status_code for r in responses]
    # The first BUDGET reach the service (whatever it answers); then 429, but for the odd token
    # refilled while the flood runs (one per 60/BUDGET seconds).
    assert all(s in passed for s in statuses[:BUDGET]), statuses[:BUDGET]
    assert Counter(statuses)[429] >= 100 - BUDGET - 2, Counter(statuses)
    throttled = next(r for r in responses if r.status_code == 429)
    assert throttled.headers["content-type"] == "application/problem+json"
    retry_after = int(throttled.headers["retry-after"])
    assert 1 <= retry_after <= 60 // BUDGET
    body = throttled.json()
    assert body["code"] == "too_many_requests" and body["retry_after"] == retry_after
    assert body["request_id"] == throttled.headers["x-request-id"]


def test_an_export_flood_is_429_with_retry_after(
    limited: httpx.Client, gateway: httpx.Client, district_token: str, street_token: str
) -> None:
    flooder = login(gateway, "district")["access_token"]
    responses = _flood(limited, "GET", "/api/v1/registry/sites/export", flooder, params={"format": "csv"})
    _assert_throttled(responses, {200})
    # The flooder's other routes are not limited …
    assert limited.get("/api/v1/registry/streets", headers=bearer(flooder)).status_code == 200
    # … and another caller still has a budget of its own.
    other = limited.get(
        "/api/v1/registry/sites/export", params={"format": "csv"}, headers=bearer(street_token)
    )
    assert other.status_code == 200
    # The XLSX export of a scorecard and the statistics draw from the same budget of the flooder.
    card = limited.get(f"/api/v1/evaluation/scorecards/{uuid.uuid4()}/export.xlsx", headers=bearer(flooder))
    stats = limited.get("/api/v1/activities/stats", headers=bearer(flooder))
    assert card.status_code == stats.status_code == 429


def test_a_score_write_flood_is_429(limited: httpx.Client, district_token: str) -> None:
    card = uuid.uuid4()  # no such scorecard: the writes that get through are 404
    responses = _flood(limited, "POST", f"/api/v1/evaluation/scorecards/{card}/accept", district_token)
    _assert_throttled(responses, {404})
    item = limited.put(
        f"/api/v1/evaluation/scorecards/{card}/items/C01", json={}, headers=bearer(district_token)
    )
    assert item.status_code == 429
    # Reads of scorecards are not score writes.
    assert (
        limited.get(f"/api/v1/evaluation/scorecards/{card}", headers=bearer(district_token)).status_code
        == 404
    )


def test_a_batch_flood_is_429(limited: httpx.Client, district_token: str) -> None:
    headers = {**bearer(district_token), "Content-Type": "application/json"}
    responses = [
        limited.post(
            "/api/v1/activities/batch", params={"kind": "activities"}, content=b"[]", headers=headers
        )
        for _ in range(100)
    ]
    passed = {r.status_code for r in responses[:BUDGET]}
    assert 429 not in passed and all(s < 500 for s in passed), passed
    _assert_throttled(responses, passed)


def test_refused_requests_do_not_spend_the_budget(limited: httpx.Client, gateway: httpx.Client) -> None:
    """A role the route refuses (403) never reaches the bucket: integration clients may not write."""
    from tests.registry.factories import integration_token

    district = login(gateway, "district")["access_token"]
    platform = integration_token(gateway, district)
    for _ in range(3 * BUDGET):
        response = limited.post(
            f"/api/v1/evaluation/scorecards/{uuid.uuid4()}/submit", headers=bearer(platform)
        )
        assert response.status_code == 403
    # Its exports still have the whole budget.
    for _ in range(BUDGET):
        assert limited.get("/api/v1/registry/sites/export", headers=bearer(platform)).status_code == 200


def test_rate_limited_operations_document_429(gateway: httpx.Client) -> None:
    paths = gateway.get("/openapi.json").json()["paths"]
    assert "429" in paths["/api/v1/registry/sites/export"]["get"]["responses"]
    assert "429" in paths["/api/v1/evaluation/scorecards/{scorecard_id}/submit"]["post"]["responses"]
    assert "429" in paths["/api/v1/evaluation/scorecards/{scorecard_id}/export.xlsx"]["get"]["responses"]
    assert "429" not in paths["/api/v1/registry/streets"]["get"]["responses"]


# ---- the pieces ---------------------------------------------------------------------------------


def test_token_bucket_refills_and_says_how_long_to_wait() -> None:
    limiter = RateLimiter({"exports": 30, "off": 0})
    assert [limiter.acquire("exports", "alice", now=100.0) for _ in range(30)] == [0] * 30
    assert limiter.acquire("exports", "alice", now=100.0) == 2  # 30/min: one token every 2 s
    assert limiter.acquire("exports", "bob", now=100.0) == 0
    assert limiter.acquire("exports", "alice", now=101.0) == 1
    assert limiter.acquire("exports", "alice", now=102.1) == 0
    # A long pause refills to the burst size, no more.
    assert [limiter.acquire("exports", "alice", now=1000.0) for _ in range(31)][-2:] == [0, 2]
    assert all(limiter.acquire("off", "alice", now=100.0) == 0 for _ in range(100))
    assert limiter.acquire("unknown", "alice", now=100.0) == 0


def test_policy_budgets() -> None:
    assert policy.match("registry", "/sites/export", "GET").rate_limit == policy.EXPORTS  # type: ignore[union-attr]
    assert policy.match("registry", "/sites/exports", "GET").rate_limit is None  # type: ignore[union-attr]
    card = policy.match("evaluation", "/scorecards/abc/export.xlsx", "GET")
    assert card is not None and card.rate_limit == policy.EXPORTS and card.slow
    assert policy.match("evaluation", "/scorecards/abc", "GET").rate_limit is None  # type: ignore[union-attr]
    for path in ("/scorecards/abc/items/C01", "/scorecards/abc/compute", "/scorecards/abc/submit"):
        assert policy.match("evaluation", path, "PUT").rate_limit == policy.SCORE_WRITES  # type: ignore[union-attr]
    assert policy.match("activities", "/batch", "POST").rate_limit == policy.BATCHES  # type: ignore[union-attr]
    assert policy.match("activities", "/export/activities.ndjson", "GET").slow  # type: ignore[union-attr]
    assert policy.match("activities", "/batch", "GET").rate_limit is None  # type: ignore[union-attr]
