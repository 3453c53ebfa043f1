"""Plain-function factories for registry tests: build real objects through the gateway.

Each takes the gateway client and a token, accepts field overrides, asserts the
create succeeded and returns the JSON of the created object.
"""

from __future__ import annotations

import itertools
import random
import uuid
from typing import Any

import httpx

from services.cli.seed import DEMO_PASSWORD
from services.registry.organizations.uscc import ALPHABET, with_check_character
from services.registry.reference.data import STREETS
from tests.clock import today
from tests.conftest import bearer, login

_counter = itertools.count(1)


def street(code: str = "XX") -> Any:
    return next(s for s in STREETS if s.code == code)


def community(street_code: str = "XX", index: int = 0) -> Any:
    return street(street_code).communities[index]


def valid_uscc() -> str:
    body = "5233" + "".join(random.choice(ALPHABET[:10]) for _ in range(13))
    return with_check_character(body)


def create_org(gateway: httpx.Client, token: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "name": f"测试社工服务中心{next(_counter)}",
        "uscc": valid_uscc(),
        "kind": "social_org",
        "registration": "registered",
        "service_areas": ["elderly", "youth"],
        **overrides,
    }
    response = gateway.post("/api/v1/registry/organizations", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.json()


def create_site(
    gateway: httpx.Client, token: str, street_code: str = "XX", **overrides: Any
) -> dict[str, Any]:
    n = next(_counter)
    comm = community(street_code, n % len(street(street_code).communities))
    body = {
        "name": f"{comm.name}美好生活共同体{n}",
        "code": f"T-{street_code}-{uuid.uuid4().hex[:8]}",
        "street_id": str(street(street_code).id),
        "community_id": str(comm.id),
        "address": "杭州市滨江区测试路1号",
        "lat": "30.2084",
        "lng": "120.2119",
        "floor_area_m2": "860.50",
        "status": "operating",
        "operating_mode": "procurement",
        "integrated_with": ["party_service_center"],
        "structure": "reinforced_concrete",
        "signage": {"door_sign": True, "standing_sign": False},
        **overrides,
    }
    response = gateway.post("/api/v1/registry/sites", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.json()


def contract_period() -> dict[str, str]:
    """The factory contract's period: this year and the next in Shanghai (like the demo contracts),
    so that it is active whenever the test runs, 31 December and 29 February included."""
    year = today().year
    return {"starts_on": f"{year}-01-01", "ends_on": f"{year + 1}-12-31"}


def create_contract(
    gateway: httpx.Client, token: str, site_id: str, organization_id: str, **overrides: Any
) -> dict[str, Any]:
    body = {
        "site_id": site_id,
        "organization_id": organization_id,
        "mode": "procurement",
        **contract_period(),
        "amount": "480000.00",
        "deliverables": "每月不少于5场主题活动;个案与小组服务",
        **overrides,
    }
    response = gateway.post("/api/v1/registry/contracts", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.json()


def create_user(gateway: httpx.Client, district_token: str, role: str, **scope: Any) -> dict[str, Any]:
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    body = {"username": username, "display_name": username, "password": DEMO_PASSWORD, "role": role, **scope}
    response = gateway.post("/api/v1/users", json=body, headers=bearer(district_token))
    assert response.status_code == 201, response.text
    return response.json()


def user_token(gateway: httpx.Client, district_token: str, role: str, **scope: Any) -> str:
    """A fresh user of ``role`` (scope: street_id / organization_id) and its access token.

    The token's ``sites`` claim is resolved at login, so create contracts first."""
    user = create_user(gateway, district_token, role, **{k: str(v) for k, v in scope.items()})
    return login(gateway, user["username"])["access_token"]


def operated_site(gateway: httpx.Client, district_token: str, street_code: str = "XX") -> dict[str, Any]:
    """A site with an operator organisation under an active contract, and that operator's token.

    Returns {"site", "organization", "contract", "operator_token"}."""
    org = create_org(gateway, district_token)
    site = create_site(gateway, district_token, street_code)
    contract = create_contract(gateway, district_token, site["id"], org["id"])
    token = user_token(gateway, district_token, "operator", organization_id=org["id"])
    return {"site": site, "organization": org, "contract": contract, "operator_token": token}


def integration_token(gateway: httpx.Client, district_token: str) -> str:
    """A fresh data-platform client (role `integration`) and its access token."""
    created = gateway.post(
        "/api/v1/clients",
        json={"client_id": f"platform-{uuid.uuid4().hex[:8]}", "name": "区数据平台"},
        headers=bearer(district_token),
    )
    assert created.status_code == 201, created.text
    client = created.json()
    token = gateway.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    )
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"])


def error_fields(response: httpx.Response) -> set[str]:
    """The field names of a 422 validation problem."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_failed"
    return {e["field"] for e in body["errors"]}
