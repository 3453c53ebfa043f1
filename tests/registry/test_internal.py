"""The registry's `/internal` endpoints, called directly with service tokens (never through the
gateway): the hub type (`tier`, Annex A) set by the evaluation service, and the scope lookup."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from services.common.settings import DEFAULT_SERVICE_SECRET
from tests.conftest import RunningStack, bearer
from tests.registry.factories import create_site, street

SITES = "/api/v1/registry/sites"


def service_token(gateway: httpx.Client, name: str) -> str:
    response = gateway.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": f"service:{name}",
            "client_secret": DEFAULT_SERVICE_SECRET,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture(scope="module")
def registry(stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.service_url("registry"), timeout=20.0) as client:
        yield client


@pytest.fixture(scope="module")
def evaluation_token(gateway: httpx.Client) -> str:
    return service_token(gateway, "evaluation")


def tier_path(site_id: str) -> str:
    return f"/internal/sites/{site_id}/tier"


def test_evaluation_service_sets_the_tier(
    gateway: httpx.Client,
    registry: httpx.Client,
    district_token: str,
    street_token: str,
    evaluation_token: str,
    stack: RunningStack,
) -> None:
    site = create_site(gateway, district_token, "XX")
    round_id = str(uuid.uuid4())
    response = registry.post(
        tier_path(site["id"]),
        json={"tier": "demonstration", "round_id": round_id},
        headers=bearer(evaluation_token),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tier"] == "demonstration" and body["tier_round_id"] == round_id
    assert body["tier_updated_at"] is not None and body["version"] == 2
    assert response.headers["etag"] == f'"{uuid.UUID(site["id"]).hex}.2"'
    # Visible to everyone in scope, and filterable.
    seen = gateway.get(f"{SITES}/{site['id']}", headers=bearer(street_token)).json()
    assert seen["tier"] == "demonstration" and seen["version"] == 2
    listed = gateway.get(
        SITES, params={"tier": "demonstration", "limit": 200}, headers=bearer(district_token)
    ).json()["items"]
    assert site["id"] in {s["id"] for s in listed} and all(s["tier"] == "demonstration" for s in listed)
    # The same verdict again changes nothing; a new one does; null clears it.
    again = registry.post(
        tier_path(site["id"]),
        json={"tier": "demonstration", "round_id": round_id},
        headers=bearer(evaluation_token),
    )
    assert again.status_code == 200 and again.json()["version"] == 2
    later_round = str(uuid.uuid4())
    cleared = registry.post(
        tier_path(site["id"]), json={"tier": None, "round_id": later_round}, headers=bearer(evaluation_token)
    )
    assert cleared.status_code == 200
    assert cleared.json()["tier"] is None and cleared.json()["tier_round_id"] == later_round
    audits = stack.sql(
        "SELECT actor, actor_role, before, after FROM registry.audit_log "
        "WHERE object_id = $1 AND action = 'site.tier' ORDER BY occurred_at",
        site["id"],
    )
    assert [(a["actor"], a["actor_role"]) for a in audits] == [("service:evaluation", "service")] * 2
    assert '"demonstration"' in audits[0]["after"] and '"demonstration"' in audits[1]["before"]
    row = stack.sql("SELECT tier, tier_round_id FROM registry.sites WHERE id = $1", uuid.UUID(site["id"]))
    assert row[0]["tier"] is None and str(row[0]["tier_round_id"]) == later_round


def test_only_the_evaluation_service_may_set_the_tier(
    gateway: httpx.Client, registry: httpx.Client, district_token: str
) -> None:
    site = create_site(gateway, district_token, "CH")
    body = {"tier": "basic", "round_id": str(uuid.uuid4())}
    other_service = registry.post(
        tier_path(site["id"]), json=body, headers=bearer(service_token(gateway, "activities"))
    )
    assert other_service.status_code == 403 and other_service.json()["code"] == "forbidden"
    gateway_service = registry.post(
        tier_path(site["id"]), json=body, headers=bearer(service_token(gateway, "gateway"))
    )
    assert gateway_service.status_code == 403
    as_district = registry.post(tier_path(site["id"]), json=body, headers=bearer(district_token))
    assert as_district.status_code == 403
    assert registry.post(tier_path(site["id"]), json=body).status_code == 401
    # Never reachable through the gateway, whatever the token.
    via_gateway = gateway.post(
        f"/api/v1/registry/internal/sites/{site['id']}/tier", json=body, headers=bearer(district_token)
    )
    assert via_gateway.status_code == 404
    after = gateway.get(f"{SITES}/{site['id']}", headers=bearer(district_token)).json()
    assert after["tier"] is None and after["version"] == 1


def test_tier_input_and_unknown_site(
    registry: httpx.Client, evaluation_token: str, gateway: httpx.Client, district_token: str
) -> None:
    missing = registry.post(
        tier_path(str(uuid.uuid4())),
        json={"tier": "standard", "round_id": str(uuid.uuid4())},
        headers=bearer(evaluation_token),
    )
    assert missing.status_code == 404 and missing.json()["code"] == "site_not_found"
    site = create_site(gateway, district_token, "PY")
    for body, field in (
        ({"tier": "gold", "round_id": str(uuid.uuid4())}, "tier"),
        ({"tier": "basic"}, "round_id"),
        ({"round_id": str(uuid.uuid4())}, "tier"),  # explicit null needed to clear
        ({"tier": "basic", "round_id": str(uuid.uuid4()), "score": 91}, "score"),
    ):
        response = registry.post(tier_path(site["id"]), json=body, headers=bearer(evaluation_token))
        assert response.status_code == 422, response.text
        assert {e["field"] for e in response.json()["errors"]} == {field}


def test_scopes_still_answer(
    gateway: httpx.Client, registry: httpx.Client, district_token: str, evaluation_token: str
) -> None:
    site = create_site(gateway, district_token, "CH")
    gateway_token = service_token(gateway, "gateway")
    response = registry.get(
        "/internal/scopes",
        params={"role": "street", "street_id": str(street("CH").id)},
        headers=bearer(gateway_token),
    )
    assert response.status_code == 200, response.text
    assert site["id"] in response.json()["site_ids"]
    xx = registry.get(
        "/internal/scopes",
        params={"role": "street", "street_id": str(street("XX").id)},
        headers=bearer(gateway_token),
    )
    assert site["id"] not in xx.json()["site_ids"]
    assert (
        registry.get(
            "/internal/scopes", params={"role": "street"}, headers=bearer(district_token)
        ).status_code
        == 403
    )
