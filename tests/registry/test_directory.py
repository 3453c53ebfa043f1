"""Internal endpoints other services rely on: the registry's site directory and the gateway's user facts."""

from __future__ import annotations

import httpx

from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import operated_site, user_token


def service_token(gateway: httpx.Client, name: str = "evaluation") -> str:
    response = gateway.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": f"service:{name}",
            "client_secret": "dev-only-service-secret-change-me",
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_site_directory_lists_operators_of_active_contracts(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    made = operated_site(gateway, district_token, "PY")
    url = f"{stack.service_url('registry')}/internal/sites"
    response = httpx.get(url, params={"ids": [made["site"]["id"]]}, headers=bearer(service_token(gateway)))
    assert response.status_code == 200, response.text
    [entry] = response.json()["items"]
    assert entry["operator_organization_ids"] == [made["organization"]["id"]]
    assert entry["street_id"] == made["site"]["street_id"] and entry["status"] == "operating"
    by_street = httpx.get(
        url, params={"street_id": made["site"]["street_id"]}, headers=bearer(service_token(gateway))
    )
    assert made["site"]["id"] in [e["id"] for e in by_street.json()["items"]]
    # Users never reach it: not through the gateway, and not with a user token directly.
    assert httpx.get(url, headers=bearer(district_token)).status_code == 403
    assert gateway.get("/api/v1/registry/internal/sites", headers=bearer(district_token)).status_code == 404


def test_gateway_user_facts_for_services_only(gateway: httpx.Client, district_token: str) -> None:
    evaluator = login(gateway, "evaluator")["access_token"]
    me = gateway.get("/api/v1/auth/me", headers=bearer(evaluator)).json()
    user_id = me["sub"]
    facts = gateway.get(f"/internal/users/{user_id}", headers=bearer(service_token(gateway)))
    assert facts.status_code == 200
    assert facts.json()["role"] == "evaluator" and facts.json()["organization_id"] == me["organization_id"]
    assert gateway.get(f"/internal/users/{user_id}", headers=bearer(district_token)).status_code == 403
    assert gateway.get(f"/internal/users/{user_id}").status_code == 401
    first_street = gateway.get("/api/v1/registry/streets", headers=bearer(district_token)).json()["items"][0]
    street = user_token(gateway, district_token, "street", street_id=first_street["id"])
    assert gateway.get(f"/internal/users/{user_id}", headers=bearer(street)).status_code == 403
